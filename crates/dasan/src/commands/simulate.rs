//! `dasan simulate`: runs a whole day through the live routing engine and
//! prints per-interval and day figures. Without `--scenario`, the model
//! center's day (~33,000 contacts) staffed by Erlang.

use std::{fmt::Write as _, path::PathBuf, time::Instant};

use anyhow::Context;
use dasan_router::{
    scenario::Scenario,
    simulate::{self, SimulationReport},
};

/// The seed when neither the flag nor the scenario gives one.
pub const DEFAULT_SEED: u64 = 120;

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Print JSON: the day's totals under `day`, intervals under `intervals`.
    #[arg(long)]
    pub json: bool,
    /// Seed of the simulated citizens: the same seed gives the same figures.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenario file, TOML (or JSON when it ends in .json). Without it, the
    /// model center's day.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
}

fn load_scenario(path: &PathBuf) -> anyhow::Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the scenario {}", path.display()))?;
    let is_json = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
    if is_json {
        serde_json::from_str(&text).with_context(|| format!("invalid scenario {}", path.display()))
    } else {
        toml::from_str(&text).with_context(|| format!("invalid scenario {}", path.display()))
    }
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = match &args.scenario {
        Some(path) => load_scenario(path)?,
        None => Scenario::model_center(),
    };
    let plan = scenario.resolve().with_context(|| match &args.scenario {
        Some(path) => format!("invalid scenario {}", path.display()),
        None => "invalid built-in scenario".to_owned(),
    })?;
    let seed = args.seed.or(plan.seed).unwrap_or(DEFAULT_SEED);
    let started = Instant::now();
    let report = simulate::run(&plan, seed).context("the simulation failed")?;
    let elapsed = started.elapsed();
    if args.json {
        let mut document = serde_json::to_value(&report)?;
        // The run's own timing varies between runs; it stays out of `day`
        // and `intervals`, which depend only on the scenario and seed.
        if let Some(object) = document.as_object_mut() {
            object.insert(
                "run".to_owned(),
                serde_json::json!({ "elapsed_ms": elapsed.as_secs_f64() * 1000.0 }),
            );
        }
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        print!("{}", render(&report));
        println!(
            "\nsimulated in {:.0} ms ({} engine events)",
            elapsed.as_secs_f64() * 1000.0,
            report.engine_events
        );
    }
    Ok(())
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

fn render(report: &SimulationReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — seed {}, {} day(s), {}-minute intervals",
        report.scenario, report.seed, report.days, report.interval_minutes
    );
    let _ = writeln!(out, "\nStaffing (agents on duty, min-max over the day)");
    for group in &report.staffing {
        let low = group.agents.iter().min().copied().unwrap_or(0);
        let high = group.agents.iter().max().copied().unwrap_or(0);
        let heads = group.rostered_heads.iter().max().copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {:<16} {:>4}-{:<4} ({}; peak rostered heads {heads})",
            group.name,
            low,
            high,
            group.source.as_str()
        );
    }
    let _ = writeln!(
        out,
        "\n{:>8} {:>7} {:>7} {:>6} {:>7} {:>7} {:>7} {:>8}",
        "start", "offered", "answer", "aband", "SL", "ASA s", "occup", "agents"
    );
    for interval in &report.intervals {
        let f = &interval.figures;
        let _ = writeln!(
            out,
            "{:>8} {:>7} {:>7} {:>6} {:>7} {:>7} {:>7} {:>8.1}",
            interval.start,
            f.offered,
            f.answered,
            f.abandoned,
            percent(f.service_level),
            number(f.asa_seconds),
            percent(f.occupancy),
            interval.staffed_agents
        );
    }
    let day = &report.day;
    let _ = writeln!(
        out,
        "\nDay: offered {}, answered {}, abandoned {} ({}), service level {}, ASA {} s, AHT {} s, occupancy {}",
        day.offered,
        day.answered,
        day.abandoned,
        percent(day.abandon_rate),
        percent(day.service_level),
        number(day.asa_seconds),
        number(day.aht_seconds),
        percent(day.occupancy)
    );
    let _ = writeln!(
        out,
        "\n{:<22} {:>7} {:>7} {:>6} {:>7} {:>7} {:>7}",
        "queue", "offered", "answer", "aband", "SL", "ASA s", "AHT s"
    );
    for queue in &report.queues {
        let f = &queue.figures;
        let _ = writeln!(
            out,
            "{:<22} {:>7} {:>7} {:>6} {:>7} {:>7} {:>7}",
            queue.queue,
            f.offered,
            f.answered,
            f.abandoned,
            percent(f.service_level),
            number(f.asa_seconds),
            number(f.aht_seconds)
        );
    }
    if report.unserved_at_end > 0 {
        let _ = writeln!(
            out,
            "\n{} contacts were still waiting when no qualified agent was left (counted as abandoned)",
            report.unserved_at_end
        );
    }
    out
}
