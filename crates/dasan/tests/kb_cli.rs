//! `dasan kb` with the real binary: import (unknown categories filed under
//! `other`, re-import updates, bad files refused whole), export, search as text
//! and as JSON, and the evaluation beside its baselines.

mod support;

use std::io::Write;

use serde_json::Value;
use support::{dasan, run_ok, sqlite_db};

fn file(lines: &[&str]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    for line in lines {
        writeln!(f, "{line}").expect("write");
    }
    f
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn import_export_and_search_round_trip() {
    let db = sqlite_db();
    let articles = file(&[
        r#"{"id":"kb-1","title":"수도요금 조회 방법","body":"수도요금은 고객번호로 조회합니다.","category":"water.bill","tags":["요금"]}"#,
        r#"{"id":"kb-2","title":"공영주차장 요금","body":"공영주차장 요금은 구마다 다릅니다.","category":"parking"}"#,
        "",
        r#"{"id":"kb-3","title":"여권 발급","body":"구청 민원실에서 발급합니다.","category":"documents","status":"draft"}"#,
    ]);
    let path = articles.path().to_str().expect("utf-8");
    let out = text(&run_ok(&["kb", "import", path, "--db", &db.url]).stdout);
    assert!(
        out.contains("imported 3 articles: 3 new, 0 updated, 0 unchanged"),
        "{out}"
    );
    assert!(
        out.contains("1 lines had a category that is not a known code"),
        "{out}"
    );

    // The same file again changes nothing; an edited line updates its article.
    let out = text(&run_ok(&["kb", "import", path, "--db", &db.url]).stdout);
    assert!(out.contains("0 new, 0 updated, 3 unchanged"), "{out}");
    let edit = file(&[
        r#"{"id":"kb-1","title":"아리수 수도요금 조회","body":"고객번호로 조회합니다.","category":"water.bill"}"#,
    ]);
    let out = text(
        &run_ok(&[
            "kb",
            "import",
            edit.path().to_str().expect("utf-8"),
            "--db",
            &db.url,
        ])
        .stdout,
    );
    assert!(out.contains("0 new, 1 updated, 0 unchanged"), "{out}");

    let exported = text(&run_ok(&["kb", "export", "--db", &db.url]).stdout);
    let lines: Vec<Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["title"], "아리수 수도요금 조회");
    assert_eq!(lines[0]["version"], 2);
    assert_eq!(lines[1]["category"], "other");
    assert_eq!(lines[1]["tags"], serde_json::json!(["parking"]));
    assert_eq!(lines[2]["status"], "draft");

    // Search: particles and a colloquial word; drafts are not found.
    let json = run_ok(&["kb", "search", "수도세를 내려면", "--json", "--db", &db.url]).stdout;
    let hits: Value = serde_json::from_slice(&json).expect("json");
    assert_eq!(hits["hits"][0]["id"], "kb-1");
    let json = run_ok(&["kb", "search", "주차요금", "--json", "--db", &db.url]).stdout;
    let hits: Value = serde_json::from_slice(&json).expect("json");
    assert_eq!(
        hits["hits"][0]["snippet"],
        "공영<mark>주차</mark>장 <mark>요금</mark>은 구마다 다릅니다."
    );
    let json = run_ok(&["kb", "search", "여권", "--json", "--db", &db.url]).stdout;
    assert_eq!(
        serde_json::from_slice::<Value>(&json).expect("json")["hits"],
        serde_json::json!([])
    );
    let out = text(&run_ok(&["kb", "search", "주차 요금", "--db", &db.url]).stdout);
    assert!(out.starts_with(" 1. 공영주차장 요금  [kb-2]"), "{out}");
}

#[test]
fn a_bad_import_file_or_query_fails_with_a_message_and_stores_nothing() {
    let db = sqlite_db();
    let bad = file(&[
        r#"{"id":"ok","title":"좋은 줄","body":"","category":"water"}"#,
        r#"{"id":" bad","title":"t","body":"","category":"water"}"#,
        "not json",
        r#"{"id":"x","title":"","body":"","category":"water"}"#,
    ]);
    let output = dasan()
        .args([
            "kb",
            "import",
            bad.path().to_str().expect("utf-8"),
            "--db",
            &db.url,
        ])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let err = text(&output.stderr);
    for expected in [
        "line 2:",
        "line 3:",
        "line 4:",
        "3 invalid lines; nothing was imported",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert_eq!(text(&run_ok(&["kb", "export", "--db", &db.url]).stdout), "");

    let missing = dasan()
        .args(["kb", "import", "/nonexistent.jsonl", "--db", &db.url])
        .output()
        .expect("runs");
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("cannot read /nonexistent.jsonl"));
    for args in [
        vec!["kb", "search", ""],
        vec!["kb", "search", "수도", "--limit", "0"],
        vec!["kb", "search", "수도", "--category", "nope"],
    ] {
        let mut full = args.clone();
        full.extend(["--db", &db.url]);
        let output = dasan().args(&full).output().expect("runs");
        assert!(!output.status.success(), "{args:?}");
        assert!(
            text(&output.stderr).starts_with("error: "),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let long = "수".repeat(1_001);
    let output = dasan()
        .args(["kb", "search", &long, "--db", &db.url])
        .output()
        .expect("runs");
    assert!(text(&output.stderr).contains("longer than 1000 characters"));
}

#[test]
fn eval_reports_dasan_beside_its_baselines() {
    // Read at run time (see crates/kb/tests/eval.rs).
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let dir = format!("{root}/../kb/eval");
    let output = run_ok(&[
        "kb",
        "eval",
        "--articles",
        &format!("{dir}/articles.jsonl"),
        "--queries",
        &format!("{dir}/queries.jsonl"),
        "--json",
    ]);
    let figures: Value = serde_json::from_slice(&output.stdout).expect("json");
    for system in ["dasan", "plain_bigrams", "sqlite_fts5"] {
        let r1 = figures[system]["recall_at_1"].as_f64().expect("figure");
        assert!((0.0..=1.0).contains(&r1), "{system}");
    }
    assert!(
        figures["dasan"]["recall_at_1"].as_f64() > figures["sqlite_fts5"]["recall_at_1"].as_f64()
    );
    let bad = file(&["{\"q\": 1}"]);
    let output = dasan()
        .args([
            "kb",
            "eval",
            "--articles",
            &format!("{dir}/articles.jsonl"),
            "--queries",
            bad.path().to_str().expect("utf-8"),
        ])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("line 1"));
}
