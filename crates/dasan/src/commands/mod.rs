pub mod demo;
pub mod demo_generate;
pub mod kb;
pub mod serve;
pub mod simulate;
pub mod staff;
pub mod stats;
pub mod token;
pub mod user;

use std::future::Future;

use anyhow::Context;
use dasan_store::{AnyStore, Store};

use crate::settings::Settings;

/// Runs an async command on a multi-threaded runtime.
pub fn block_on<F: Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// Logs go to stderr; `DASAN_LOG` (or `RUST_LOG`) sets the filter. The
/// default is `info`, with sqlx's PostgreSQL notices ("already exists,
/// skipping" at every start) kept at `warn`.
pub fn init_logging() {
    let filter = std::env::var("DASAN_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Opens (and migrates) the configured database.
pub async fn open_store(settings: &Settings) -> anyhow::Result<AnyStore> {
    AnyStore::open(&settings.db)
        .await
        .with_context(|| format!("cannot open the database {:?}", settings.db))
}

/// Opens the database for a command that serves or fills the center: the
/// statistics rollups are kept in the center's time zone, so a database whose
/// rollups are bucketed in another zone is re-bucketed first (once; on an
/// empty database it is instant).
pub async fn open_center_store(settings: &Settings) -> anyhow::Result<AnyStore> {
    let store = open_store(settings).await?;
    let current = store
        .rollup_zone()
        .await
        .context("cannot read the rollup time zone")?;
    if current != settings.time_zone {
        tracing::info!(
            from = current.name(),
            to = settings.time_zone.name(),
            "re-bucketing the statistics rollups into the configured time zone"
        );
        store
            .rebuild_rollups(settings.time_zone)
            .await
            .context("cannot rebuild the statistics rollups")?;
    }
    Ok(store)
}
