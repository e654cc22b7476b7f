//! `dasan user add`: a person who signs in to the browser UI;
//! `dasan user sip-password`: the credentials of that person's SIP phone.

use std::io::BufRead;

use anyhow::Context;
use dasan_core::Role;

use crate::settings::{CommonArgs, DEFAULT_DB, Settings};

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Adds a user. The password is read from DASAN_PASSWORD, else from the
    /// first line of standard input (never from a flag: shells keep history).
    Add(AddArgs),
    /// Sets the SIP password an agent's phone registers with (digest realm
    /// "dasan", the SIP username is the sign-in name). Read like `add`'s.
    SipPassword(SipPasswordArgs),
}

#[derive(clap::Args, Debug)]
pub struct SipPasswordArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// An existing user's sign-in name.
    #[arg(long)]
    pub username: String,
}

fn read_password() -> anyhow::Result<String> {
    match std::env::var("DASAN_PASSWORD") {
        Ok(password) => Ok(password),
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            Ok(line.trim_end_matches(['\r', '\n']).to_owned())
        }
    }
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
            let password = read_password()?;
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
        UserCommand::SipPassword(args) => {
            use dasan_store::Store;
            let password = read_password()?;
            if password.chars().count() < 8 {
                anyhow::bail!("a SIP password needs at least 8 characters");
            }
            let settings = Settings::resolve(&args.common, None, DEFAULT_DB)?;
            let store = super::open_store(&settings).await?;
            let user = store
                .find_user(&args.username)
                .await?
                .with_context(|| format!("no user {}", args.username))?;
            if !user.role.may_record_consultations() {
                anyhow::bail!("{} ({}) does not take calls", user.username, user.role);
            }
            store
                .set_sip_account(&dasan_store::sip::SipAccount {
                    username: user.username.clone(),
                    user_id: user.id,
                    realm: dasan_web::voice::REALM.to_owned(),
                    ha1: dasan_web::voice::ha1(&user.username, &password),
                })
                .await?;
            println!("SIP password set for {}", user.username);
            Ok(())
        }
    }
}
