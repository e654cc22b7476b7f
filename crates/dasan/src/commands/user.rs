//! `dasan user add`: a person who signs in to the browser UI.

use std::io::BufRead;

use anyhow::Context;
use dasan_core::Role;

use crate::settings::{CommonArgs, DEFAULT_DB, Settings};

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Adds a user. The password is read from DASAN_PASSWORD, else from the
    /// first line of standard input (never from a flag: shells keep history).
    Add(AddArgs),
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The sign-in name (no spaces).
    #[arg(long)]
    pub username: String,
    /// admin, supervisor, agent, coordinator or department.
    #[arg(long)]
    pub role: String,
    /// The name shown on screens; the username when absent.
    #[arg(long)]
    pub name: Option<String>,
}

pub async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => {
            let role: Role = args.role.parse().map_err(|e| {
                anyhow::anyhow!("{e}; roles are admin, supervisor, agent, coordinator, department")
            })?;
            let password = match std::env::var("DASAN_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .context("cannot read the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let settings = Settings::resolve(&args.common, None, DEFAULT_DB)?;
            let store = super::open_store(&settings).await?;
            let name = args.name.as_deref().unwrap_or(&args.username);
            let user =
                dasan_web::session::create_user(&store, &args.username, name, role, &password)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?;
            println!("added {} ({role}), id {}", user.username, user.id);
            Ok(())
        }
    }
}
