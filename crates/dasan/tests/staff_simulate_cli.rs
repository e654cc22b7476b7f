//! `dasan staff` and `dasan simulate` through the real binary: JSON shapes,
//! the published Erlang C test vector, same-seed determinism, and clear
//! errors (never a panic) for bad flags and bad scenario files.

use std::{path::Path, process::Output};

use serde_json::Value;

fn dasan(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dasan"))
        .args(args)
        .env("DASAN_LOG", "warn")
        .output()
        .expect("the dasan binary runs")
}

fn json_of(args: &[&str]) -> Value {
    let output = dasan(args);
    assert!(
        output.status.success(),
        "dasan {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// Runs a command that must fail cleanly; returns its stderr.
fn refused(args: &[&str]) -> String {
    let output = dasan(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "dasan {args:?} should fail");
    assert!(
        !stderr.contains("panicked"),
        "dasan {args:?} panicked: {stderr}"
    );
    assert!(!stderr.trim().is_empty(), "dasan {args:?} failed silently");
    stderr
}

fn number(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number in {value}"))
}

fn close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} vs {expected}"
    );
}

#[test]
fn staff_reproduces_the_published_erlang_c_vector() {
    // 100 calls per 30 minutes = 200 per hour, AHT 180 s, 14 agents.
    let evaluated = json_of(&[
        "staff",
        "--calls-per-hour",
        "200",
        "--aht",
        "180",
        "--target-sl",
        "0.8",
        "--target-time",
        "20",
        "--agents",
        "14",
        "--json",
    ]);
    assert_eq!(evaluated["agents"], 14);
    close(
        number(&evaluated, "probability_of_wait"),
        0.17413,
        0.000_005,
    );
    close(number(&evaluated, "service_level"), 0.88835, 0.000_005);
    close(number(&evaluated, "asa_seconds"), 7.836, 0.0005);
    close(number(&evaluated, "occupancy"), 10.0 / 14.0, 1e-9);

    let needed = json_of(&[
        "staff",
        "--calls-per-hour",
        "200",
        "--aht",
        "180",
        "--target-sl",
        "0.8",
        "--target-time",
        "20",
        "--json",
    ]);
    // 13 agents give about 79%: 14 is the fewest meeting 80/20.
    assert_eq!(needed["agents"], 14);
    assert_eq!(needed["model"], "erlang_c");
    assert_eq!(needed["rostered_heads"], 20);

    let table = dasan(&["staff", "--calls-per-hour", "200", "--aht", "180"]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("0.17413") && text.contains("88.84%"),
        "{text}"
    );
}

#[test]
fn staff_with_patience_uses_erlang_a() {
    let result = json_of(&[
        "staff",
        "--calls-per-hour",
        "200",
        "--aht",
        "180",
        "--patience",
        "120",
        "--json",
    ]);
    assert_eq!(result["model"], "erlang_a");
    let agents = result["agents"].as_u64().expect("agents");
    assert!((10..=14).contains(&agents), "{result}");
    assert!(number(&result, "service_level") >= 0.8);
    assert!(number(&result, "abandon_rate") > 0.0);
}

#[test]
fn staff_plans_a_forecast_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let forecast = dir.path().join("forecast.csv");
    std::fs::write(
        &forecast,
        "interval,calls\n09:00,50\n09:30,100\n10:00,400\n10:30,0\n",
    )
    .expect("write");
    let plan = json_of(&[
        "staff",
        "--forecast",
        forecast.to_str().expect("utf-8 path"),
        "--aht",
        "180",
        "--json",
    ]);
    let intervals = plan["intervals"].as_array().expect("intervals");
    assert_eq!(intervals.len(), 4);
    assert_eq!(intervals[1]["agents"], 14);
    assert_eq!(intervals[3]["agents"], 0);
    assert_eq!(plan["agents"], intervals[2]["agents"]);
    assert!(intervals[2]["agents"].as_u64() > intervals[1]["agents"].as_u64());
    for row in &intervals[..3] {
        assert!(number(row, "service_level") >= 0.8, "{row}");
        assert!(row["probability_of_wait"].is_number() && row["occupancy"].is_number());
    }
}

#[test]
fn staff_refuses_bad_values_with_a_clear_message() {
    let cases: [(&[&str], &str); 7] = [
        (
            &["staff", "--calls-per-hour", "-5", "--aht", "180"],
            "--calls-per-hour",
        ),
        (&["staff", "--calls-per-hour", "200", "--aht", "0"], "--aht"),
        (
            &[
                "staff",
                "--calls-per-hour",
                "200",
                "--aht",
                "180",
                "--target-sl",
                "1.5",
            ],
            "service level",
        ),
        (
            &[
                "staff",
                "--calls-per-hour",
                "200",
                "--aht",
                "180",
                "--target-time",
                "-1",
            ],
            "answer time",
        ),
        (
            &[
                "staff",
                "--calls-per-hour",
                "200",
                "--aht",
                "180",
                "--patience",
                "0",
            ],
            "--patience",
        ),
        (&["staff", "--calls-per-hour", "abc", "--aht", "180"], "abc"),
        (
            &[
                "staff",
                "--forecast",
                "/nonexistent/forecast.csv",
                "--aht",
                "180",
            ],
            "cannot read",
        ),
    ];
    for (args, expected) in cases {
        let stderr = refused(args);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let forecast = dir.path().join("bad.csv");
    std::fs::write(&forecast, "09:00,50\n09:30,lots\n").expect("write");
    let stderr = refused(&[
        "staff",
        "--forecast",
        forecast.to_str().expect("path"),
        "--aht",
        "180",
    ]);
    assert!(stderr.contains("line 2"), "{stderr}");
}

const SMALL_SCENARIO: &str = r#"
name = "small"

[[queues]]
name = "voice"
channel = "voice"
daily_contacts = 2000
handle_seconds = 180
patience_seconds = 90

[[queues]]
name = "sms"
channel = "sms"
daily_contacts = 200
handle_seconds = 300
skills = [{ skill = "text", level = 1 }]

[[groups]]
name = "voice"
channels = ["voice"]
plan_for = ["voice"]
minimum_agents = 1

[[groups]]
name = "text"
channels = ["sms"]
skills = [{ skill = "text" }]
agents = 2
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn simulate_gives_the_same_figures_for_the_same_seed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write(dir.path(), "small.toml", SMALL_SCENARIO);
    let run = |seed: &str| {
        json_of(&[
            "simulate",
            "--json",
            "--seed",
            seed,
            "--scenario",
            &scenario,
        ])
    };
    let first = run("5");
    let second = run("5");
    let other = run("6");
    assert_eq!(first["day"], second["day"]);
    assert_eq!(first["intervals"], second["intervals"]);
    assert_ne!(first["day"], other["day"]);
    assert!(first["run"]["elapsed_ms"].is_number());

    let day = &first["day"];
    for key in [
        "offered",
        "answered",
        "abandoned",
        "service_level",
        "abandon_rate",
        "asa_seconds",
    ] {
        assert!(day[key].is_number(), "day.{key} in {day}");
    }
    let offered = day["offered"].as_u64().expect("offered");
    assert_eq!(
        offered,
        day["answered"].as_u64().expect("answered") + day["abandoned"].as_u64().expect("abandoned")
    );
    assert!((2_000..2_400).contains(&offered), "{day}");
    let intervals = first["intervals"].as_array().expect("intervals");
    assert_eq!(intervals.len(), 48);
    let summed: u64 = intervals
        .iter()
        .map(|i| i["offered"].as_u64().expect("offered"))
        .sum();
    assert_eq!(summed, offered);
    assert_eq!(intervals[20]["start"], "10:00");
}

#[test]
fn simulate_runs_the_model_center_day_by_default() {
    let report = json_of(&["simulate", "--json", "--seed", "1"]);
    let day = &report["day"];
    let offered = day["offered"].as_u64().expect("offered");
    assert!((31_000..35_000).contains(&offered), "{day}");
    assert!(number(day, "service_level") > 0.7, "{day}");
    let queues: Vec<&str> = report["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| q["queue"].as_str().expect("name"))
        .collect();
    assert!(
        queues.contains(&"video.sign_language")
            && queues.contains(&"care_call")
            && queues.contains(&"sms")
    );

    let table = dasan(&["simulate", "--seed", "1"]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("Day: offered") && text.contains("voice.transport"),
        "{text}"
    );
}

#[test]
fn simulate_accepts_json_scenarios() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write(
        dir.path(),
        "tiny.json",
        r#"{"queues":[{"name":"v","channel":"voice","daily_contacts":300,"handle_seconds":120}],
            "groups":[{"name":"g","channels":["voice"],"agents":3}]}"#,
    );
    let report = json_of(&["simulate", "--json", "--scenario", &scenario]);
    assert!(report["day"]["offered"].as_u64().expect("offered") > 200);
}

#[test]
fn simulate_refuses_bad_scenarios_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "typo.toml",
            SMALL_SCENARIO.replace("handle_seconds = 180", "handel_seconds = 180"),
            "handel_seconds",
        ),
        (
            "syntax.toml",
            SMALL_SCENARIO.replace("name = \"small\"", "name = "),
            "invalid scenario",
        ),
        (
            "negative.toml",
            SMALL_SCENARIO.replace("handle_seconds = 180", "handle_seconds = -3"),
            "handle_seconds",
        ),
        (
            "channel.toml",
            SMALL_SCENARIO.replace("channel = \"voice\"", "channel = \"fax\""),
            "fax",
        ),
        (
            "unknown.toml",
            SMALL_SCENARIO.replace("plan_for = [\"voice\"]", "plan_for = [\"phone\"]"),
            "phone",
        ),
        ("empty.toml", String::new(), "invalid scenario"),
    ];
    for (name, text, expected) in cases {
        let path = write(dir.path(), name, &text);
        let stderr = refused(&["simulate", "--scenario", &path]);
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
    let stderr = refused(&["simulate", "--scenario", "/nonexistent/scenario.toml"]);
    assert!(stderr.contains("cannot read"), "{stderr}");
    refused(&["simulate", "--seed", "-1"]);
}
