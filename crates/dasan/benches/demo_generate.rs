//! Full-history generation benchmark: how long `dasan demo generate` takes.
//!
//! `cargo bench -p dasan --bench demo_generate` prints the figures. Knobs:
//! `DASAN_BENCH_CONSULTATIONS` (default 10,000,000, i.e. the full history's
//! size; the full history itself is used when it is exactly that default),
//! `DASAN_BENCH_DB` (a database URL; by default a SQLite file in a temporary
//! directory), `DASAN_BENCH_SEED` (default 120).

#[path = "../src/commands/demo_generate.rs"]
#[allow(dead_code)]
mod demo_generate;

use std::time::Instant;

use anyhow::Context;
use dasan_demo::{DemoConfig, DemoGenerator};
use dasan_store::{AnyStore, DatabaseUrl};

fn env_u64(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name} must be a whole number")),
        Err(_) => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; a plain main ignores its arguments.
    let requested = env_u64("DASAN_BENCH_CONSULTATIONS", 10_000_000)?;
    let seed = env_u64("DASAN_BENCH_SEED", 120)?;
    // Ten million means "the full history" (10,018,819 records for seed 120).
    let consultations = (requested != 10_000_000).then_some(requested);
    let config = DemoConfig {
        seed,
        consultations,
    };

    // 1. The generator alone.
    let started = Instant::now();
    let mut generator = DemoGenerator::new(config);
    let planned = started.elapsed();
    let total = generator.total();
    let mut count = 0u64;
    while let Some(batch) = generator.next_batch(demo_generate::BATCH_SIZE) {
        count += batch.len() as u64;
    }
    let generation = started.elapsed();
    println!(
        "generator: {count} records in {:.2} s ({:.0} records/s; plan {:.0} ms)",
        generation.as_secs_f64(),
        count as f64 / generation.as_secs_f64(),
        planned.as_secs_f64() * 1000.0
    );
    assert_eq!(count, total);

    // 2. Into the database, as `dasan demo generate` does it.
    let directory = tempfile::tempdir().context("cannot make a temporary directory")?;
    let url = match std::env::var("DASAN_BENCH_DB") {
        Ok(url) => DatabaseUrl::parse(&url).context("DASAN_BENCH_DB")?,
        Err(_) => DatabaseUrl::Sqlite(directory.path().join("bench.db")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = AnyStore::open(&url).await?;
        let summary = demo_generate::generate(&store, config, false).await?;
        println!("{} into {}: {summary}", count, store.engine());
        if let DatabaseUrl::Sqlite(path) = &url {
            let bytes: u64 = ["", "-wal", "-shm"]
                .iter()
                .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
                .map(|m| m.len())
                .sum();
            println!(
                "sqlite files: {:.2} GiB",
                bytes as f64 / (1u64 << 30) as f64
            );
        }
        anyhow::Ok(())
    })?;
    Ok(())
}
