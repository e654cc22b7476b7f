//! The foundation's "done when", end to end with the real binary: a token
//! from the CLI, a server on a free port, a consultation POSTed and read
//! back, still there after SIGKILL and restart — on SQLite and PostgreSQL.

mod support;

use serde_json::Value;
use support::{Server, dasan, last_line, postgres_db, run_ok, sqlite_db};

const BODY: &str = r#"{"channel":"voice","category":"transport","citizen_phone":"010-1234-5678","summary":"N26 심야버스 안내","started_at":"2026-11-28T10:00:00+09:00","ended_at":"2026-11-28T10:03:10+09:00","outcome":"answered"}"#;

fn acknowledged_consultations_survive_sigkill(db: &str) {
    let token = last_line(&run_ok(&["token", "create", "--role", "admin", "--db", db]).stdout);
    assert!(token.starts_with("dsn_"), "{token}");

    let server = Server::start(db);
    let (status, _) = server.request("POST", "/api/v1/consultations", None, Some(BODY));
    assert_eq!(status, 401);
    let (status, created) =
        server.request("POST", "/api/v1/consultations", Some(&token), Some(BODY));
    assert_eq!(status, 201, "{created}");
    let created: Value = serde_json::from_str(&created).expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, read) = server.request(
        "GET",
        &format!("/api/v1/consultations/{id}"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&read).expect("json"), created);
    let (status, bad) = server.request(
        "POST",
        "/api/v1/consultations",
        Some(&token),
        Some("{not json"),
    );
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&bad).expect("json")["error"]["code"],
        "malformed_json"
    );
    server.kill_hard();

    let server = Server::start(db);
    let (status, read) = server.request(
        "GET",
        &format!("/api/v1/consultations/{id}"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "lost after SIGKILL: {read}");
    assert_eq!(serde_json::from_str::<Value>(&read).expect("json"), created);
}

#[test]
fn on_sqlite_acknowledged_consultations_survive_sigkill() {
    acknowledged_consultations_survive_sigkill(&sqlite_db().url);
}

#[test]
fn on_postgres_acknowledged_consultations_survive_sigkill() {
    if let Some(db) = postgres_db() {
        acknowledged_consultations_survive_sigkill(&db.url);
    }
}

#[test]
fn bad_command_lines_fail_with_a_message() {
    let db = sqlite_db();
    let cases: Vec<Vec<&str>> = vec![
        vec!["token", "create", "--role", "king", "--db", &db.url],
        vec!["token", "create", "--db", &db.url],
        vec!["serve", "--db", &db.url, "--listen", "not-an-address"],
        vec!["serve", "--db", "mysql://localhost/x"],
        vec!["stats", "--db", &db.url, "--channel", "pigeon"],
        vec!["stats", "--db", &db.url, "--from", "yesterday"],
        vec!["stats", "--db", &db.url, "--time-zone", "Mars/Olympus"],
        vec!["no-such-command"],
    ];
    for args in cases {
        let output = dasan().args(&args).output().expect("runs");
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.trim().is_empty(), "{args:?}: no message");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("dasan.toml");
    std::fs::write(
        &config,
        "db = \"sqlite://x.db\"\nlistne = \"127.0.0.1:1\"\n",
    )
    .expect("write");
    let output = dasan()
        .args(["stats", "--config", config.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("listne"));
}

#[test]
fn stats_json_on_an_empty_database_has_every_key() {
    let db = sqlite_db();
    let output = run_ok(&["stats", "--json", "--db", &db.url]);
    let stats: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(stats["total"], 0);
    for key in [
        "milestones",
        "daily_average_by_month",
        "category_share",
        "channel_share",
        "night_by_month",
        "heavy_users",
    ] {
        assert!(!stats[key].is_null(), "{key}");
    }
}

#[test]
fn user_add_takes_the_password_from_the_environment_and_refuses_bad_input() {
    let db = sqlite_db();
    let output = dasan()
        .args([
            "user",
            "add",
            "--db",
            &db.url,
            "--username",
            "kim",
            "--role",
            "supervisor",
            "--name",
            "김감독",
        ])
        .env("DASAN_PASSWORD", "correct horse 1")
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("added kim (supervisor)"));
    // The password never appears in what the command prints.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("correct horse"));
    for (args, password) in [
        (
            vec!["--username", "kim", "--role", "agent"],
            "another pass 2",
        ), // taken
        (
            vec!["--username", "park", "--role", "king"],
            "another pass 2",
        ), // no such role
        (vec!["--username", "park", "--role", "agent"], "short"), // too short
        (
            vec!["--username", "two words", "--role", "agent"],
            "another pass 2",
        ),
    ] {
        let output = dasan()
            .args(["user", "add", "--db", &db.url])
            .args(&args)
            .env("DASAN_PASSWORD", password)
            .output()
            .expect("runs");
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("error:") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}
