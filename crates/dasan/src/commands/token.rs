use anyhow::Context;
use dasan_core::Role;
use dasan_store::{AnyStore, Store};

use crate::settings::{CommonArgs, DEFAULT_DB, Settings};

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Creates an API token and prints it as the last line of stdout.
    Create(CreateArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// admin, supervisor, agent, coordinator or department.
    #[arg(long)]
    pub role: String,
    /// A note on what the token is for.
    #[arg(long, default_value = "")]
    pub label: String,
}

pub async fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => {
            let role: Role = args.role.parse().map_err(|e| {
                anyhow::anyhow!("{e}; roles are admin, supervisor, agent, coordinator, department")
            })?;
            if args.label.chars().count() > 200 {
                anyhow::bail!("--label is longer than 200 characters");
            }
            let settings = Settings::resolve(&args.common, None, DEFAULT_DB)?;
            let store = super::open_store(&settings).await?;
            let secret = create(&store, role, &args.label).await?;
            eprintln!("created a {role} token; it is shown once:");
            println!("{secret}");
            Ok(())
        }
    }
}

/// Issues and stores a token; returns the secret.
pub async fn create(store: &AnyStore, role: Role, label: &str) -> anyhow::Result<String> {
    let issued = dasan_web::auth::issue_token(role, label)
        .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    store
        .create_token(&issued.record, &issued.secret_hash)
        .await
        .context("cannot store the token")?;
    Ok(issued.secret)
}
