//! Placeholder until the router issue lands its command.

#[derive(clap::Args, Debug)]
pub struct StaffArgs {}

pub fn run(_args: StaffArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
