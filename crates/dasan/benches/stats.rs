//! Statistics over the whole history: from the rollups against plain
//! `GROUP BY` over the consultations, in the same run, on each engine.
//!
//! `cargo bench -p dasan --bench stats` prints, per filter, the time of the
//! figures (`Store::statistics` + `compute_statistics`, as `GET /api/v1/stats`
//! does) from the rollups (median and slowest of `DASAN_BENCH_RUNS`, default
//! 15) and by `GROUP BY` (median of 3), their ratio, and checks that both
//! give the same aggregates. Goal on ten million: under 100 ms and at least
//! 50 times faster.
//!
//! Knobs: `DASAN_BENCH_SQLITE` (a SQLite file to use; when empty it is
//! filled with the demo history; default: a temporary file),
//! `DASAN_BENCH_CONSULTATIONS` (default 10,000,000 = the full history),
//! `DASAN_TEST_PG_URL` (a PostgreSQL server: a fresh database is created and
//! filled too; `scripts/with-postgres` sets it), `DASAN_BENCH_PG_DB` (an
//! already filled PostgreSQL database URL instead), `DASAN_BENCH_ENGINES`
//! (`sqlite,postgres` by default).

#[path = "../src/commands/demo_generate.rs"]
#[allow(dead_code)]
mod demo_generate;

use std::time::{Duration, Instant};

use anyhow::Context;
use dasan_core::{Channel, Timestamp, time::SEOUL};
use dasan_demo::DemoConfig;
use dasan_store::{
    AnyStore, ConsultationFilter, DatabaseUrl, StatsSource, Store, compute_statistics,
};

fn env_u64(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name} must be a whole number")),
        Err(_) => Ok(default),
    }
}

fn bound(text: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse_bound(text, SEOUL).with_context(|| format!("bad bound {text}"))
}

fn cases() -> anyhow::Result<Vec<(&'static str, ConsultationFilter)>> {
    let taxonomy = dasan_core::Taxonomy::seed();
    Ok(vec![
        ("whole history", ConsultationFilter::default()),
        (
            "year 2009",
            ConsultationFilter {
                from: Some(bound("2009-01-01")?),
                to: Some(bound("2010-01-01")?),
                ..Default::default()
            },
        ),
        (
            "category transport",
            ConsultationFilter {
                category: Some(taxonomy.resolve("transport")?),
                ..Default::default()
            },
        ),
        (
            "channel sms",
            ConsultationFilter {
                channel: Some(Channel::Sms),
                ..Default::default()
            },
        ),
        (
            "odd range + water.bill",
            ConsultationFilter {
                from: Some(bound("2008-03-15T10:17:00+09:00")?),
                to: Some(bound("2009-06-02T16:42:30+09:00")?),
                category: Some(taxonomy.resolve("water.bill")?),
                ..Default::default()
            },
        ),
    ])
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn fill_if_empty(store: &AnyStore, consultations: Option<u64>) -> anyhow::Result<()> {
    if store.count_consultations().await? == 0 {
        let started = Instant::now();
        let summary = demo_generate::generate(
            store,
            DemoConfig {
                seed: 120,
                consultations,
            },
            false,
        )
        .await?;
        println!(
            "  filled in {:.1} s: {summary}",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Peak resident set of this process so far, KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn bench_export(store: &AnyStore) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    use tower::ServiceExt;
    let issued = dasan_web::auth::issue_token(dasan_core::Role::Supervisor, "bench")?;
    store
        .create_token(&issued.record, &issued.secret_hash)
        .await?;
    let state = dasan_web::AppState::load(store.clone(), SEOUL).await?;
    let request = axum::http::Request::builder()
        .uri("/api/v1/consultations/export?format=csv")
        .header("authorization", format!("Bearer {}", issued.secret))
        .body(axum::body::Body::empty())?;
    let before = peak_rss_kib().unwrap_or(0);
    let started = Instant::now();
    let response = dasan_web::app(state).oneshot(request).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "export: {}",
        response.status()
    );
    let mut stream = response.into_body().into_data_stream();
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        lines += chunk.windows(2).filter(|w| w == b"\r\n").count() as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = peak_rss_kib().unwrap_or(0);
    let rows = lines.saturating_sub(1);
    println!(
        "  CSV export of everything: {rows} rows, {:.2} GiB in {elapsed:.1} s ({:.0} rows/s); peak RSS {:.0} MiB before, {:.0} MiB after",
        bytes as f64 / (1u64 << 30) as f64,
        rows as f64 / elapsed,
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    anyhow::ensure!(
        rows == store.count_consultations().await?,
        "the export lost or repeated rows"
    );
    Ok(())
}

async fn bench(store: &AnyStore, runs: usize) -> anyhow::Result<()> {
    let taxonomy = store.taxonomy().await?;
    let total = store.count_consultations().await?;
    println!(
        "{} with {total} consultations: rollups (median / slowest of {runs}) vs GROUP BY (median of 3)",
        store.engine()
    );
    for (name, filter) in cases()? {
        let mut rolled_times = Vec::new();
        let mut rolled = None;
        for _ in 0..runs {
            let started = Instant::now();
            let (aggregates, source) = store.statistics(&filter, SEOUL).await?;
            let stats = compute_statistics(&aggregates, &taxonomy, SEOUL);
            rolled_times.push(started.elapsed());
            anyhow::ensure!(source == StatsSource::Rollups, "not answered from rollups");
            std::hint::black_box(stats);
            rolled = Some(aggregates);
        }
        let mut exact_times = Vec::new();
        let mut exact = None;
        for _ in 0..3 {
            let started = Instant::now();
            let aggregates = store.statistics_exact(&filter, SEOUL).await?;
            let stats = compute_statistics(&aggregates, &taxonomy, SEOUL);
            exact_times.push(started.elapsed());
            std::hint::black_box(stats);
            exact = Some(aggregates);
        }
        anyhow::ensure!(rolled == exact, "{name}: rollups differ from GROUP BY");
        let slowest = rolled_times.iter().max().copied().unwrap_or_default();
        let (rolled, exact) = (median(rolled_times), median(exact_times));
        println!(
            "  {name:<24} rollups {:>8.1} ms (slowest {:>7.1})   GROUP BY {:>9.1} ms   {:>6.0}x   same figures",
            ms(rolled),
            ms(slowest),
            ms(exact),
            exact.as_secs_f64() / rolled.as_secs_f64()
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let requested = env_u64("DASAN_BENCH_CONSULTATIONS", 10_000_000)?;
    let consultations = (requested != 10_000_000).then_some(requested);
    let runs = env_u64("DASAN_BENCH_RUNS", 15)?.max(1) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let directory = tempfile::tempdir().context("cannot make a temporary directory")?;
    let engines = std::env::var("DASAN_BENCH_ENGINES").unwrap_or_else(|_| "sqlite,postgres".into());
    let parts = std::env::var("DASAN_BENCH_PARTS").unwrap_or_else(|_| "stats,export".into());
    runtime.block_on(async {
        if engines.contains("sqlite") {
            let path = match std::env::var("DASAN_BENCH_SQLITE") {
                Ok(path) => path.into(),
                Err(_) => directory.path().join("stats.db"),
            };
            let sqlite = AnyStore::open(&DatabaseUrl::Sqlite(path)).await?;
            fill_if_empty(&sqlite, consultations).await?;
            if parts.contains("stats") {
                bench(&sqlite, runs).await?;
            }
            if parts.contains("export") {
                bench_export(&sqlite).await?;
            }
        }
        if !engines.contains("postgres") {
            return anyhow::Ok(());
        }

        let pg_url = match (
            std::env::var("DASAN_BENCH_PG_DB"),
            std::env::var("DASAN_TEST_PG_URL"),
        ) {
            (Ok(url), _) => Some(url),
            (Err(_), Ok(admin)) => Some(dasan_store::postgres::create_test_database(&admin).await?),
            _ => None,
        };
        match pg_url {
            Some(url) => {
                let pg = AnyStore::open(&DatabaseUrl::Postgres(url)).await?;
                fill_if_empty(&pg, consultations).await?;
                if parts.contains("stats") {
                    bench(&pg, runs).await?;
                }
                if parts.contains("export") {
                    bench_export(&pg).await?;
                }
            }
            None => println!("postgres: skipped (set DASAN_TEST_PG_URL or DASAN_BENCH_PG_DB)"),
        }
        anyhow::Ok(())
    })
}
