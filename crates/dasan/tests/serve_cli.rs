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

/// The SMS edge through the real binary, configured by the environment the
/// issue names: a signed Twilio-style webhook is stored and listed; a reply
/// reaches a gateway stand-in on loopback.
#[test]
fn texts_in_and_replies_out_through_the_real_binary() {
    use std::io::{Read, Write};
    let db = sqlite_db();
    // The gateway stand-in: answers 200 to each POST, handing its bodies over.
    let gateway = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let gateway_address = gateway.local_addr().expect("address");
    let (sent, received) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for stream in gateway.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut raw = Vec::new();
            let mut buffer = [0u8; 4096];
            let body = loop {
                let Ok(n) = stream.read(&mut buffer) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&raw).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        break Some(body.to_owned());
                    }
                }
            };
            let answer = "{\"id\":\"GW-1\"}";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            if let Some(body) = body {
                let _ = sent.send(body);
            }
        }
    });
    let agent = last_line(&run_ok(&["token", "create", "--role", "agent", "--db", &db.url]).stdout);
    let admin = last_line(&run_ok(&["token", "create", "--role", "admin", "--db", &db.url]).stdout);
    let outbound = format!("http://{gateway_address}/send");
    let server = Server::start_with_env(
        &db.url,
        &[
            ("DASAN_SMS_TWILIO_AUTH_TOKEN", "cli-test-token"),
            ("DASAN_SMS_OUTBOUND_URL", outbound.as_str()),
        ],
    );
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM-cli-1"),
        ("From", "010-2222-1200"),
        ("To", "120"),
        ("Body", "수도 요금 문의"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let path = "/webhooks/sms/twilio";
    // No DASAN_PUBLIC_URL: the signed URL is the one the request was sent to.
    let signature = dasan_web::sms::twilio_signature(
        "cli-test-token",
        &format!("http://{}{path}", server.address),
        &params,
    );
    let body = serde_urlencoded::to_string(&params).expect("form");
    let webhook = |signature: &str| {
        let mut stream = std::net::TcpStream::connect(server.address).expect("connect");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nX-Twilio-Signature: {signature}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            server.address,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("receive");
        response.lines().next().unwrap_or_default().to_owned()
    };
    assert!(webhook("forged").contains(" 403 "));
    assert!(webhook(&signature).contains(" 200 "));
    assert!(
        webhook(&signature).contains(" 200 "),
        "a retry is acknowledged too"
    );
    let (status, listed) = server.request(
        "GET",
        "/api/v1/messages?citizen_phone=010-2222-1200",
        Some(&agent),
        None,
    );
    assert_eq!(status, 200, "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let messages = listed["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "stored once: {listed}");
    assert_eq!(messages[0]["direction"], "inbound");
    let thread = messages[0]["interaction_id"].as_str().expect("threaded");
    let (status, reply) = server.request(
        "POST",
        &format!("/api/v1/interactions/{thread}/messages"),
        Some(&admin),
        Some(r#"{"body":"요금 감면 대상인지 확인해 드리겠습니다."}"#),
    );
    assert_eq!(status, 202, "{reply}");
    let delivered = received
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the gateway received the reply");
    let delivered: serde_json::Value = serde_json::from_str(&delivered).expect("json");
    assert_eq!(delivered["to"], "+821022221200");
    assert_eq!(delivered["body"], "요금 감면 대상인지 확인해 드리겠습니다.");
    assert!(
        delivered["id"].is_string(),
        "a stable id for de-duplication"
    );
}
