//! The reports in a real headless Chromium, driven over WebDriver
//! (chromedriver): a supervisor signs in through the form, lands on the
//! reports, sees the charts and numbers; screenshots are kept in
//! `CARGO_TARGET_TMPDIR`; an axe-core scan of the sign-in and reports pages
//! finds no serious or critical violation.
//!
//! Needs `chromium`, `chromium-driver` and axe-core (`scripts/install-test-deps`
//! installs them). Without them the test says so and passes, unless
//! `DASAN_REQUIRE_BROWSER=1` (set by `scripts/test`) makes that a failure.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use dasan_core::{Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{AppState, session::create_user};
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn axe_source() -> Option<String> {
    let path = std::env::var("DASAN_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/dasan/npm/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(path).ok()
}

fn missing(what: &str) {
    if std::env::var("DASAN_REQUIRE_BROWSER").is_ok() {
        panic!("DASAN_REQUIRE_BROWSER is set but {what} is missing");
    }
    eprintln!("SKIPPED: browser test ({what} missing; scripts/install-test-deps installs it)");
}

/// One WebDriver command over HTTP/1.1 on loopback.
fn webdriver(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("chromedriver");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    // Read the head, then exactly Content-Length bytes (chromedriver keeps
    // the connection open).
    let mut response = Vec::new();
    let mut buffer = [0u8; 65536];
    let (head_end, length) = loop {
        let n = stream.read(&mut buffer).expect("receive");
        assert!(n > 0, "{method} {path}: connection closed early");
        response.extend_from_slice(&buffer[..n]);
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while response.len() < head_end + length {
        let n = stream.read(&mut buffer).expect("receive");
        assert!(n > 0, "{method} {path}: body cut short");
        response.extend_from_slice(&buffer[..n]);
    }
    let status = String::from_utf8_lossy(&response[..head_end])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let value: Value =
        serde_json::from_slice(&response[head_end..head_end + length]).unwrap_or(Value::Null);
    assert!(
        status.contains(" 200 "),
        "{method} {path}: {status} {value}"
    );
    value["value"].clone()
}

struct Driver {
    child: Child,
    port: u16,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            webdriver(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            )
        });
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        webdriver(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    fn find(&self, css: &str) -> String {
        let found = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("element {css}: {found}"))
            .to_owned()
    }

    fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.cmd("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("png");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, bytes).expect("screenshot written");
        eprintln!("screenshot: {}", path.display());
    }

    /// axe-core's violations of impact serious or critical on this page.
    fn serious_violations(&self, axe: &str) -> Vec<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": format!("{axe};return true;"), "args": []})),
        );
        let result = self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": "const done = arguments[arguments.length - 1]; axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length})))).catch(e => done([{id: 'axe-error', impact: 'critical', error: String(e)}]));", "args": []})),
        );
        result
            .as_array()
            .expect("violations")
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .cloned()
            .collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_driver(profile: &std::path::Path) -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // Bounded wait for it to listen.
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let capabilities = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,1800",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    }}});
    let session = webdriver(port, "POST", "/session", Some(&capabilities));
    let mut driver = Driver {
        child,
        port,
        session: session["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned(),
    };
    driver.cmd(
        "POST",
        "/timeouts",
        Some(json!({"script": 60_000, "pageLoad": 60_000})),
    );
    driver.port = port;
    driver
}

#[test]
fn a_supervisor_signs_in_and_reads_the_reports_in_chromium() {
    let have = |program: &str| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("chromedriver") || !std::path::Path::new("/usr/bin/chromium").exists() {
        return missing("chromium or chromedriver");
    }
    let Some(axe) = axe_source() else {
        return missing("axe-core");
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (address, _shutdown) = runtime.block_on(async {
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
            .await
            .expect("store");
        create_user(&store, "kim", "김감독", Role::Supervisor, "correct horse 1")
            .await
            .expect("user");
        // A little history so every chart has bars.
        let taxonomy = dasan_core::Taxonomy::seed();
        let base = dasan_core::Timestamp::parse_rfc3339("2026-10-01T09:00:00+09:00")
            .expect("time")
            .millis();
        let records: Vec<_> = (0..500u64)
            .map(|n| {
                let start =
                    dasan_core::Timestamp::from_millis(base + n as i64 * 7_200_000).expect("time");
                let mut random = [0u8; 10];
                random[2..].copy_from_slice(&n.to_be_bytes());
                dasan_core::NewConsultation::from_parts(
                    dasan_core::ConsultationId::v7(start, random),
                    [dasan_core::Channel::Voice, dasan_core::Channel::Sms][n as usize % 2],
                    taxonomy
                        .resolve(["transport.taxi", "water.bill", "welfare"][n as usize % 3])
                        .expect("code"),
                    dasan_core::PhoneNumber::parse(&format!("010-4{:03}-{:04}", n % 7, n))
                        .expect("phone"),
                    None,
                    start,
                    dasan_core::Timestamp::from_millis(start.millis() + 180_000).expect("time"),
                    "상담".into(),
                    dasan_core::Outcome::Answered,
                    None,
                )
                .expect("valid")
            })
            .collect();
        store
            .record_consultations_bulk(records)
            .await
            .expect("bulk");
        let state = AppState::load(store, SEOUL).await.expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(dasan_web::serve(listener, state, async {
            let _ = stopped.await;
        }));
        (address, stop)
    });
    let base = format!("http://{address}");

    let profile = tempfile::tempdir().expect("profile dir");
    let driver = start_driver(profile.path());
    driver.cmd("POST", "/url", Some(json!({"url": format!("{base}/")})));
    let source = driver.cmd("GET", "/source", None);
    assert!(
        source.as_str().expect("html").contains("lang=\"ko\""),
        "the sign-in page is Korean by default"
    );
    let violations = driver.serious_violations(&axe);
    assert!(violations.is_empty(), "sign-in page: {violations:?}");
    driver.screenshot("signin.png");

    let username = driver.find("#username");
    driver.cmd(
        "POST",
        &format!("/element/{username}/value"),
        Some(json!({"text": "kim"})),
    );
    let password = driver.find("#password");
    driver.cmd(
        "POST",
        &format!("/element/{password}/value"),
        Some(json!({"text": "correct horse 1"})),
    );
    let submit = driver.find("button[type=submit]");
    driver.cmd("POST", &format!("/element/{submit}/click"), Some(json!({})));

    let url = driver.cmd("GET", "/url", None);
    assert!(
        url.as_str().expect("url").ends_with("/reports?lang=ko"),
        "landed on {url}"
    );
    let page = driver.cmd("GET", "/source", None);
    assert!(
        page.as_str().unwrap_or_default().contains("id=\"total\""),
        "reports page: {page}"
    );
    let total = driver.find("#total");
    let text = driver.cmd("GET", &format!("/element/{total}/text"), None);
    assert_eq!(text, json!("500"));
    let charts = driver.cmd(
        "POST",
        "/elements",
        Some(json!({"using": "css selector", "value": "figure svg"})),
    );
    assert_eq!(
        charts.as_array().map(Vec::len),
        Some(7),
        "seven charts drawn"
    );
    // The bars really have size in the rendered page.
    let height = driver.cmd(
        "POST",
        "/execute/sync",
        Some(json!({"script": "return document.querySelector('#monthly').parentElement.querySelector('svg').getBoundingClientRect().height;", "args": []})),
    );
    assert!(
        height.as_f64().unwrap_or(0.0) > 50.0,
        "chart height {height}"
    );
    let violations = driver.serious_violations(&axe);
    assert!(violations.is_empty(), "reports page: {violations:?}");
    driver.screenshot("reports.png");

    // The English page through the switch link.
    let switch = driver.find("header a[lang=en]");
    driver.cmd("POST", &format!("/element/{switch}/click"), Some(json!({})));
    let source = driver.cmd("GET", "/source", None);
    assert!(
        source
            .as_str()
            .expect("html")
            .contains("Consultation reports")
    );
    drop(driver);
    drop(runtime);
}
