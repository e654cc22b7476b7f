//! A WebDriver client for the browser tests: one chromedriver and its
//! headless Chromium per [`Driver`], commands over HTTP/1.1 on loopback,
//! axe-core scans, screenshots into `CARGO_TARGET_TMPDIR`.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub fn axe_source() -> Option<String> {
    let path = std::env::var("DASAN_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/dasan/npm/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(path).ok()
}

pub fn missing(what: &str) {
    if std::env::var("DASAN_REQUIRE_BROWSER").is_ok() {
        panic!("DASAN_REQUIRE_BROWSER is set but {what} is missing");
    }
    eprintln!("SKIPPED: browser test ({what} missing; scripts/install-test-deps installs it)");
}

/// One WebDriver command over HTTP/1.1 on loopback.
pub fn webdriver(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
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

pub struct Driver {
    child: Child,
    pub port: u16,
    pub session: String,
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
    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        webdriver(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    pub fn find(&self, css: &str) -> String {
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

    pub fn screenshot(&self, name: &str) {
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
    pub fn serious_violations(&self, axe: &str) -> Vec<Value> {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn start_driver(profile: &std::path::Path) -> Driver {
    start_driver_with(profile, &[])
}

/// A chromedriver and its browser with extra Chromium flags.
pub fn start_driver_with(profile: &std::path::Path, extra: &[&str]) -> Driver {
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
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1800",
    ]
    .iter()
    .chain(extra)
    .map(|a| (*a).to_owned())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let capabilities = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": args,
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

impl Driver {
    /// Evaluates `expression` in the page.
    pub fn eval(&self, expression: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": format!("return ({expression});"), "args": []})),
        )
    }

    /// Polls until `expression` is true in the page; fails after a generous
    /// bound with what the page showed. (A bound on waiting for an event,
    /// not an assertion about speed: the fan-out benchmark measures that.)
    pub fn wait_until(&self, what: &str, expression: &str) {
        for _ in 0..300 {
            if self.eval(expression) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = self.eval("document.querySelector('main').innerText");
        panic!("waited 30 s for {what} ({expression}); the page shows: {text}");
    }

    pub fn type_into(&self, element: &str, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Presses keys on the focused element, as a keyboard user would.
    pub fn press(&self, keys: &str) {
        let active = self.cmd("GET", "/element/active", None);
        let active = active[ELEMENT]
            .as_str()
            .expect("a focused element")
            .to_owned();
        self.type_into(&active, keys);
    }

    pub fn focused_id(&self) -> Value {
        self.eval("document.activeElement && document.activeElement.id")
    }

    pub fn sign_in_at(&self, url: &str, username: &str, password: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
        let field = self.find("#username");
        self.type_into(&field, username);
        let field = self.find("#password");
        self.type_into(&field, password);
        let submit = self.find("button[type=submit]");
        self.cmd("POST", &format!("/element/{submit}/click"), Some(json!({})));
    }
}
