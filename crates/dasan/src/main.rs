//! `dasan`: one binary for the whole center. This file owns the command line
//! and start-up wiring; the work lives in the library crates.

mod commands;
mod settings;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "dasan",
    version,
    about = "Dasan: a contact center for city helplines (120 / 311)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serves the center: the HTTP API on --listen, data in --db.
    Serve(commands::serve::ServeArgs),
    /// API tokens.
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// People who sign in to the browser UI.
    #[command(subcommand)]
    User(commands::user::UserCommand),
    /// Serves a seeded demo center (creating it if empty), or generates demo history.
    Demo(commands::demo::DemoArgs),
    /// The model center's statistics from stored records.
    Stats(commands::stats::StatsArgs),
    /// Staffing per half hour with Erlang C / Erlang A.
    Staff(commands::staff::StaffArgs),
    /// Simulates a whole day through the live router.
    Simulate(commands::simulate::SimulateArgs),
    /// The knowledge base: import, export, search, evaluate.
    #[command(subcommand)]
    Kb(commands::kb::KbCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::init_logging();
    let result = match cli.command {
        Command::Serve(args) => commands::block_on(commands::serve::run(args)),
        Command::Token(command) => commands::block_on(commands::token::run(command)),
        Command::User(command) => commands::block_on(commands::user::run(command)),
        Command::Demo(args) => commands::block_on(commands::demo::run(args)),
        Command::Stats(args) => commands::block_on(commands::stats::run(args)),
        Command::Staff(args) => commands::staff::run(args),
        Command::Simulate(args) => commands::simulate::run(args),
        Command::Kb(command) => commands::block_on(commands::kb::run(command)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
