//! `dasan demo generate` then `dasan stats --json`, on both engines, and
//! `dasan demo` serving a seeded center whose printed token works.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
    time::Duration,
};

use serde_json::Value;
use support::{dasan, http, postgres_db, run_ok, sqlite_db};

const N: &str = "30000";

fn generate_then_stats(db: &str) -> Value {
    let output = run_ok(&["demo", "generate", "--consultations", N, "--db", db]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("generated 30000 consultations"));
    let stats: Value =
        serde_json::from_slice(&run_ok(&["stats", "--json", "--db", db]).stdout).expect("json");
    assert_eq!(stats["total"], 30000);
    let share = |code: &str| {
        stats["category_share"]
            .as_array()
            .expect("list")
            .iter()
            .find(|s| s["code"] == code)
            .and_then(|s| s["share"].as_f64())
            .expect("share")
    };
    assert!(
        (share("transport") - 0.457).abs() < 0.001,
        "{}",
        share("transport")
    );
    assert!((share("water") - 0.084).abs() < 0.001, "{}", share("water"));
    assert_eq!(stats["first_date"], "2007-01-01");
    assert_eq!(stats["last_date"], "2009-11-10");
    // A second run refuses to pile a second history on the first.
    let again = dasan()
        .args(["demo", "generate", "--consultations", N, "--db", db])
        .output()
        .expect("runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds"));
    stats
}

#[test]
fn demo_history_and_statistics_agree_on_both_engines() {
    let sqlite = sqlite_db();
    let on_sqlite = generate_then_stats(&sqlite.url);
    if let Some(pg) = postgres_db() {
        let on_postgres = generate_then_stats(&pg.url);
        // Same seed, same data, same figures, whatever the engine.
        assert_eq!(on_sqlite, on_postgres);
    }
}

#[test]
fn the_demo_serves_a_seeded_center_with_a_working_token() {
    let db = sqlite_db();
    let mut child = dasan()
        .args([
            "demo",
            "--consultations",
            "5000",
            "--traffic-seconds",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--db",
            &db.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut address = None;
    let mut token = None;
    let mut supervisor_password = None;
    let mut supervisor_lines = 0;
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(rest) = line.strip_prefix("dasan: serving http://") {
            address = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.trim().strip_prefix("admin ")
            && token.is_none()
        {
            token = Some(rest.trim().to_owned());
        }
        // The second "supervisor" line is the browser account (the first
        // is the API token).
        if let Some(rest) = line.trim().strip_prefix("supervisor ") {
            supervisor_lines += 1;
            if supervisor_lines == 2 {
                supervisor_password = Some(rest.trim().to_owned());
            }
        }
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let address = address
        .expect("address printed")
        .parse()
        .expect("socket address");
    let token = token.expect("admin token printed");
    let mut stats = None;
    for _ in 0..100 {
        if let Ok((200, body)) = http(address, "GET", "/api/v1/stats", Some(&token), None) {
            stats = Some(body);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The printed browser account is a supervisor whose password is the one
    // stored (as an argon2 hash).
    let password = supervisor_password.expect("supervisor account printed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let user = runtime.block_on(async {
        use dasan_store::Store;
        let url = dasan_store::DatabaseUrl::parse(&db.url).expect("url");
        let store = dasan_store::AnyStore::open(&url).await.expect("store");
        store.find_user("supervisor").await.expect("find")
    });
    let user = user.expect("demo supervisor exists");
    assert_eq!(user.role, dasan_core::Role::Supervisor);
    assert!(dasan_web::session::verify_password(
        &user.password_hash,
        &password
    ));
    assert!(!dasan_web::session::verify_password(
        &user.password_hash,
        "wrong"
    ));
    // Demo citizens contact the floor, so the wallboard has something to show.
    let mut offered = 0;
    for _ in 0..300 {
        if let Ok((200, body)) = http(address, "GET", "/api/v1/wallboard", Some(&token), None) {
            let board: Value = serde_json::from_str(&body).expect("json");
            offered = board["total"]["offered"].as_u64().unwrap_or(0);
            if offered > 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The demo's knowledge base answers a colloquial query (수도세) with the
    // water-bill article.
    let search = http(
        address,
        "GET",
        "/api/v1/kb/search?q=%EC%88%98%EB%8F%84%EC%84%B8%20%EC%A1%B0%ED%9A%8C&limit=3",
        Some(&token),
        None,
    );
    // The demo's care programme: sixty seniors with today's calls planned.
    let mut seniors = 0;
    for _ in 0..100 {
        if let Ok((200, body)) = http(address, "GET", "/api/v1/care/seniors", Some(&token), None) {
            let roster: Value = serde_json::from_str(&body).expect("json");
            seniors = roster["seniors"].as_array().map_or(0, Vec::len);
            if seniors == 60 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let due = http(address, "GET", "/api/v1/care/due", Some(&token), None);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seniors, 60, "the demo roster");
    let (status, body) = due.expect("due answered");
    assert_eq!(status, 200, "{body}");
    assert!(offered > 0, "no demo contact reached the floor in 30 s");
    let (status, body) = search.expect("search answered");
    assert_eq!(status, 200, "{body}");
    let hits: Value = serde_json::from_str(&body).expect("json");
    let first = hits["hits"][0]["title"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(first.contains("수도요금"), "{body}");
    let stats: Value = serde_json::from_str(&stats.expect("stats answered")).expect("json");
    assert_eq!(stats["total"], 5000);
}

#[test]
fn demo_generate_refuses_bad_counts() {
    let db = sqlite_db();
    for bad in ["0", "-5", "lots"] {
        let output = dasan()
            .args(["demo", "generate", "--consultations", bad, "--db", &db.url])
            .output()
            .expect("runs");
        assert!(!output.status.success(), "{bad}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    }
}
