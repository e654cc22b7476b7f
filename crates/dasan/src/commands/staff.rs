//! `dasan staff`: agents needed per half hour with Erlang C (or Erlang A
//! when a patience is given), for one arrival rate or a forecast file.

use std::{fmt::Write as _, path::PathBuf};

use anyhow::{Context, bail};
use dasan_router::erlang::{self, Prediction, ServiceTarget, Workload};
use serde::Serialize;

#[derive(clap::Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct StaffArgs {
    /// Arrivals per hour (alternative to --forecast).
    #[arg(
        long,
        required_unless_present = "forecast",
        conflicts_with = "forecast"
    )]
    pub calls_per_hour: Option<f64>,
    /// Forecast CSV: one row per interval, the last column the arrivals in
    /// that interval (e.g. `09:00,1200`); an optional header row and
    /// `#` comments are skipped.
    #[arg(long, value_name = "FILE")]
    pub forecast: Option<PathBuf>,
    /// Interval length of the forecast rows, in minutes.
    #[arg(long, default_value_t = 30)]
    pub interval_minutes: u32,
    /// Average handle time (talk plus wrap-up), seconds.
    #[arg(long)]
    pub aht: f64,
    /// Target share answered within --target-time.
    #[arg(long, default_value_t = 0.8)]
    pub target_sl: f64,
    /// Target answer time, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub target_time: f64,
    /// Mean caller patience in seconds: switches to Erlang A (abandonment).
    #[arg(long)]
    pub patience: Option<f64>,
    /// Evaluate this head count instead of searching for the fewest.
    #[arg(long)]
    pub agents: Option<u32>,
    /// Share of paid time not on the phones (breaks, training, absence),
    /// for rostered heads.
    #[arg(long, default_value_t = 0.3)]
    pub shrinkage: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Staffing {
    model: &'static str,
    arrivals_per_hour: f64,
    aht_seconds: f64,
    patience_seconds: Option<f64>,
    target_service_level: f64,
    target_seconds: f64,
    traffic_erlangs: f64,
    /// The head count the figures below are for: the fewest meeting the
    /// target, or the one given with --agents.
    agents: u32,
    /// The fewest meeting the target.
    agents_needed: u32,
    meets_target: bool,
    service_level: f64,
    asa_seconds: Option<f64>,
    occupancy: f64,
    probability_of_wait: f64,
    abandon_rate: f64,
    shrinkage: f64,
    rostered_heads: u32,
}

#[derive(Debug, Serialize)]
struct ForecastPlan {
    model: &'static str,
    aht_seconds: f64,
    patience_seconds: Option<f64>,
    target_service_level: f64,
    target_seconds: f64,
    interval_minutes: u32,
    shrinkage: f64,
    /// The busiest interval's head count.
    agents: u32,
    agent_hours: f64,
    rostered_heads_peak: u32,
    intervals: Vec<ForecastRow>,
}

#[derive(Debug, Serialize)]
struct ForecastRow {
    interval: usize,
    label: String,
    arrivals: f64,
    #[serde(flatten)]
    staffing: Staffing,
}

fn model(patience: Option<f64>) -> &'static str {
    if patience.is_some() {
        "erlang_a"
    } else {
        "erlang_c"
    }
}

fn staffing(
    args: &StaffArgs,
    arrivals_per_hour: f64,
    target: &ServiceTarget,
) -> anyhow::Result<Staffing> {
    let workload = Workload::new(arrivals_per_hour / 3600.0, args.aht, args.patience)?;
    let needed = erlang::agents_needed(&workload, target, 0)?;
    let chosen: Prediction = match args.agents {
        Some(agents) => erlang::predict(&workload, agents, target.answer_within_seconds),
        None => needed,
    };
    Ok(Staffing {
        model: model(args.patience),
        arrivals_per_hour,
        aht_seconds: args.aht,
        patience_seconds: args.patience,
        target_service_level: target.service_level,
        target_seconds: target.answer_within_seconds,
        traffic_erlangs: workload.traffic(),
        agents: chosen.agents,
        agents_needed: needed.agents,
        meets_target: chosen.service_level >= target.service_level,
        service_level: chosen.service_level,
        asa_seconds: chosen.asa_seconds.is_finite().then_some(chosen.asa_seconds),
        occupancy: chosen.occupancy,
        probability_of_wait: chosen.probability_of_wait,
        abandon_rate: chosen.abandon_rate,
        shrinkage: args.shrinkage,
        rostered_heads: erlang::rostered_heads(chosen.agents, args.shrinkage)?,
    })
}

/// Parses forecast rows: `label,arrivals` or `arrivals`; a header and
/// `#` comments are skipped.
fn parse_forecast(text: &str) -> anyhow::Result<Vec<(String, f64)>> {
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let last = fields.last().copied().unwrap_or_default();
        let value = match last.parse::<f64>() {
            Ok(value) => value,
            Err(_) if rows.is_empty() && number == first_data_line(text) => continue, // header
            Err(_) => bail!("line {}: {last:?} is not a number of arrivals", number + 1),
        };
        if !value.is_finite() || value < 0.0 {
            bail!(
                "line {}: arrivals must be zero or positive, not {last}",
                number + 1
            );
        }
        let label = if fields.len() > 1 {
            fields[0].to_owned()
        } else {
            String::new()
        };
        rows.push((label, value));
    }
    if rows.is_empty() {
        bail!("the forecast has no rows");
    }
    Ok(rows)
}

fn first_data_line(text: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        })
        .unwrap_or(0)
}

pub fn run(args: StaffArgs) -> anyhow::Result<()> {
    let target = ServiceTarget::new(args.target_sl, args.target_time)
        .context("--target-sl / --target-time")?;
    if !(args.aht.is_finite() && args.aht > 0.0) {
        bail!(
            "--aht must be a positive number of seconds, not {}",
            args.aht
        );
    }
    if let Some(patience) = args.patience
        && !(patience.is_finite() && patience > 0.0)
    {
        bail!("--patience must be a positive number of seconds, not {patience}");
    }
    if !(0.0..1.0).contains(&args.shrinkage) {
        bail!(
            "--shrinkage must be at least 0 and below 1, not {}",
            args.shrinkage
        );
    }
    if let Some(path) = &args.forecast {
        if args.interval_minutes == 0 || args.interval_minutes > 1440 {
            bail!("--interval-minutes must be between 1 and 1440");
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the forecast {}", path.display()))?;
        let rows = parse_forecast(&text).with_context(|| format!("forecast {}", path.display()))?;
        let per_hour = 60.0 / f64::from(args.interval_minutes);
        let mut intervals = Vec::with_capacity(rows.len());
        for (index, (label, arrivals)) in rows.into_iter().enumerate() {
            let staffing = staffing(&args, arrivals * per_hour, &target)
                .with_context(|| format!("forecast row {}", index + 1))?;
            intervals.push(ForecastRow {
                interval: index,
                label,
                arrivals,
                staffing,
            });
        }
        let plan = ForecastPlan {
            model: model(args.patience),
            aht_seconds: args.aht,
            patience_seconds: args.patience,
            target_service_level: args.target_sl,
            target_seconds: args.target_time,
            interval_minutes: args.interval_minutes,
            shrinkage: args.shrinkage,
            agents: intervals
                .iter()
                .map(|row| row.staffing.agents)
                .max()
                .unwrap_or(0),
            agent_hours: intervals
                .iter()
                .map(|row| f64::from(row.staffing.agents))
                .sum::<f64>()
                / per_hour,
            rostered_heads_peak: intervals
                .iter()
                .map(|row| row.staffing.rostered_heads)
                .max()
                .unwrap_or(0),
            intervals,
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print!("{}", render_forecast(&plan));
        }
        return Ok(());
    }
    let Some(calls_per_hour) = args.calls_per_hour else {
        bail!("give --calls-per-hour or --forecast");
    };
    if !(calls_per_hour.is_finite() && calls_per_hour >= 0.0) {
        bail!("--calls-per-hour must be zero or positive, not {calls_per_hour}");
    }
    let result = staffing(&args, calls_per_hour, &target)
        .context("--calls-per-hour / --aht / --patience")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", render_single(&result));
    }
    Ok(())
}

fn percent(value: f64) -> String {
    format!("{:.2}%", value * 100.0)
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "unbounded".to_owned(), |v| format!("{v:.2} s"))
}

fn render_single(result: &Staffing) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} for {:.1} arrivals/hour, AHT {:.0} s{}: {:.2} Erlangs",
        if result.model == "erlang_a" {
            "Erlang A"
        } else {
            "Erlang C"
        },
        result.arrivals_per_hour,
        result.aht_seconds,
        result
            .patience_seconds
            .map(|p| format!(", mean patience {p:.0} s"))
            .unwrap_or_default(),
        result.traffic_erlangs
    );
    let _ = writeln!(
        out,
        "target {} answered within {:.0} s: fewest agents {}",
        percent(result.target_service_level),
        result.target_seconds,
        result.agents_needed
    );
    let _ = writeln!(
        out,
        "\nwith {} agents{}",
        result.agents,
        if result.meets_target {
            ""
        } else {
            " (below target)"
        }
    );
    let _ = writeln!(
        out,
        "  service level        {}",
        percent(result.service_level)
    );
    let _ = writeln!(
        out,
        "  probability of wait  {:.5}",
        result.probability_of_wait
    );
    let _ = writeln!(
        out,
        "  ASA                  {}",
        seconds(result.asa_seconds)
    );
    let _ = writeln!(out, "  occupancy            {}", percent(result.occupancy));
    if result.model == "erlang_a" {
        let _ = writeln!(
            out,
            "  abandoned            {}",
            percent(result.abandon_rate)
        );
    }
    let _ = writeln!(
        out,
        "  rostered heads       {} (shrinkage {})",
        result.rostered_heads,
        percent(result.shrinkage)
    );
    out
}

fn render_forecast(plan: &ForecastPlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} staffing, AHT {:.0} s, target {} in {:.0} s, {}-minute intervals",
        if plan.model == "erlang_a" {
            "Erlang A"
        } else {
            "Erlang C"
        },
        plan.aht_seconds,
        percent(plan.target_service_level),
        plan.target_seconds,
        plan.interval_minutes
    );
    let _ = writeln!(
        out,
        "\n{:>4} {:>8} {:>9} {:>7} {:>8} {:>9} {:>9} {:>6}",
        "#", "label", "arrivals", "agents", "SL", "ASA s", "occupancy", "heads"
    );
    for row in &plan.intervals {
        let s = &row.staffing;
        let _ = writeln!(
            out,
            "{:>4} {:>8} {:>9.1} {:>7} {:>8} {:>9} {:>9} {:>6}",
            row.interval + 1,
            row.label,
            row.arrivals,
            s.agents,
            percent(s.service_level),
            s.asa_seconds
                .map_or_else(|| "-".into(), |v| format!("{v:.1}")),
            percent(s.occupancy),
            s.rostered_heads
        );
    }
    let _ = writeln!(
        out,
        "\npeak agents {}, agent-hours {:.1}, peak rostered heads {} (shrinkage {})",
        plan.agents,
        plan.agent_hours,
        plan.rostered_heads_peak,
        percent(plan.shrinkage)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecast_rows_parse_with_or_without_labels_and_header() {
        let rows =
            parse_forecast("# a day\ninterval,calls\n00:00,10\n00:30, 12.5\n").expect("valid");
        assert_eq!(rows, vec![("00:00".into(), 10.0), ("00:30".into(), 12.5)]);
        assert_eq!(parse_forecast("3\n4\n").expect("valid").len(), 2);
        assert!(parse_forecast("00:00,10\n00:30,many\n").is_err());
        assert!(parse_forecast("00:00,-1\n").is_err());
        assert!(parse_forecast("# nothing\n").is_err());
    }
}
