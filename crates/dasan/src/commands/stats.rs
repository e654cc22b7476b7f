use anyhow::Context;
use dasan_core::{PhoneNumber, Timestamp};
use dasan_store::{ConsultationFilter, Statistics, StatsSource, Store, compute_statistics};

use crate::settings::{CommonArgs, DEFAULT_DB, Settings};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct StatsArgs {
    #[command(subcommand)]
    pub action: Option<StatsAction>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Compute by plain GROUP BY over every consultation instead of from the
    /// rollups (slow over millions; the reference the rollups must equal).
    #[arg(long)]
    pub exact: bool,
    /// Print JSON (the same document as GET /api/v1/stats).
    #[arg(long)]
    pub json: bool,
    /// From this instant or local date (YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this instant or local date, exclusive.
    #[arg(long)]
    pub to: Option<String>,
    /// Only this category code (with its sub-categories).
    #[arg(long)]
    pub category: Option<String>,
    /// Only this channel.
    #[arg(long)]
    pub channel: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum StatsAction {
    /// Recomputes the statistics rollups from the consultations, bucketed in
    /// --time-zone (which they then keep).
    Rebuild(RebuildArgs),
}

#[derive(clap::Args, Debug)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    if let Some(StatsAction::Rebuild(rebuild)) = args.action {
        return run_rebuild(rebuild).await;
    }
    let settings = Settings::resolve(&args.common, None, DEFAULT_DB)?;
    let store = super::open_store(&settings).await?;
    let taxonomy = store.taxonomy().await.context("cannot read the taxonomy")?;
    let zone = settings.time_zone;
    let filter = ConsultationFilter {
        from: args
            .from
            .as_deref()
            .map(|t| Timestamp::parse_bound(t, zone))
            .transpose()
            .context("--from")?,
        to: args
            .to
            .as_deref()
            .map(|t| Timestamp::parse_bound(t, zone))
            .transpose()
            .context("--to")?,
        category: args
            .category
            .as_deref()
            .map(|c| taxonomy.resolve(c))
            .transpose()
            .context("--category")?,
        channel: args
            .channel
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("--channel")?,
        citizen_phone: None::<PhoneNumber>,
    };
    let started = std::time::Instant::now();
    let (aggregates, source) = if args.exact {
        let aggregates = store.statistics_exact(&filter, zone).await;
        (aggregates, StatsSource::Exact)
    } else {
        match store.statistics(&filter, zone).await {
            Ok((aggregates, source)) => (Ok(aggregates), source),
            Err(error) => (Err(error), StatsSource::Exact),
        }
    };
    let aggregates = aggregates.context("cannot compute statistics")?;
    tracing::info!(
        ?source,
        millis = started.elapsed().as_secs_f64() * 1000.0,
        "statistics computed"
    );
    let stats = compute_statistics(&aggregates, &taxonomy, zone);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{}", render_table(&stats));
    }
    Ok(())
}

async fn run_rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args.common, None, DEFAULT_DB)?;
    let store = super::open_store(&settings).await?;
    let started = std::time::Instant::now();
    let read = store
        .rebuild_rollups(settings.time_zone)
        .await
        .context("cannot rebuild the statistics rollups")?;
    println!(
        "rebuilt the statistics rollups from {read} consultations in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        settings.time_zone.name()
    );
    Ok(())
}

fn render_table(stats: &Statistics) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Consultations: {} ({} to {}, {})",
        stats.total,
        stats.first_date.as_deref().unwrap_or("-"),
        stats.last_date.as_deref().unwrap_or("-"),
        stats.time_zone
    );
    let _ = writeln!(out, "\nMilestones");
    for m in &stats.milestones {
        let _ = writeln!(out, "  {:>12}  {}", m.count, m.date);
    }
    let _ = writeln!(out, "\nDaily average by month        night (00-06)");
    for m in &stats.daily_average_by_month {
        let night = stats
            .night_by_month
            .iter()
            .find(|n| n.month == m.month)
            .map(|n| n.count)
            .unwrap_or(0);
        let _ = writeln!(out, "  {}  {:>10.1}  {:>10}", m.month, m.average, night);
    }
    let _ = writeln!(out, "\nCategory share");
    for s in &stats.category_share {
        let _ = writeln!(
            out,
            "  {:<12} {:>6.1}%  {:>10}",
            s.code,
            s.share * 100.0,
            s.count
        );
    }
    let _ = writeln!(out, "\nChannel share");
    for s in &stats.channel_share {
        let _ = writeln!(
            out,
            "  {:<12} {:>6.1}%  {:>10}",
            s.code,
            s.share * 100.0,
            s.count
        );
    }
    let h = &stats.heavy_users;
    let _ = writeln!(
        out,
        "\nHeavy users: max {}; >=1000: {}; >=500: {}; >=300: {}; >=100: {}",
        h.max, h.at_least_1000, h.at_least_500, h.at_least_300, h.at_least_100
    );
    let _ = writeln!(
        out,
        "\nAverage handle time: {:.0} s",
        stats.handle_time.average_seconds
    );
    for h in &stats.handle_time.by_category {
        let _ = writeln!(
            out,
            "  {:<12} {:>8.0} s  {:>10}",
            h.key, h.average_seconds, h.consultations
        );
    }
    out
}
