//! Helpers for tests that run the real `dasan` binary: a database per test
//! (SQLite in a temp folder, or a fresh PostgreSQL database when
//! `DASAN_TEST_PG_URL` is set), a server process on a free port, and a tiny
//! HTTP/1.1 client over loopback so no HTTP client crate is needed.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

pub fn dasan() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dasan"));
    command
        .env("DASAN_LOG", "warn")
        .env_remove("DASAN_DB")
        .env_remove("DASAN_LISTEN");
    command
}

pub fn run_ok(args: &[&str]) -> Output {
    let output = dasan().args(args).output().expect("dasan runs");
    assert!(
        output.status.success(),
        "dasan {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    TestDb {
        url: format!("sqlite://{}", dir.path().join("dasan.db").display()),
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database, or None (with a notice) when no server is configured.
pub fn postgres_db() -> Option<TestDb> {
    let Ok(admin) = std::env::var("DASAN_TEST_PG_URL") else {
        if std::env::var("DASAN_REQUIRE_PG").is_ok() {
            panic!("DASAN_REQUIRE_PG is set but DASAN_TEST_PG_URL is not");
        }
        eprintln!("SKIPPED: PostgreSQL part (set DASAN_TEST_PG_URL to run it)");
        return None;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = runtime
        .block_on(dasan_store::postgres::create_test_database(&admin))
        .expect("create database");
    Some(TestDb { url, _dir: None })
}

pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
}

impl Server {
    /// Starts `dasan serve` on a free port and waits until /healthz answers.
    pub fn start(db: &str) -> Server {
        Server::start_with_env(db, &[])
    }

    /// The same with extra environment variables (SMS settings...).
    pub fn start_with_env(db: &str, env: &[(&str, &str)]) -> Server {
        let mut command = dasan();
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn dasan serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("dasan serve exited before announcing its address")
                .expect("read stdout");
            if let Some(rest) = line.strip_prefix("dasan: serving http://") {
                let address = rest.split_whitespace().next().expect("address");
                break address.parse::<SocketAddr>().expect("socket address");
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let server = Server { child, address };
        for _ in 0..200 {
            if let Ok((200, _)) = server.try_request("GET", "/healthz", None, None) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server never became healthy");
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        self.try_request(method, path, token, body)
            .expect("HTTP exchange")
    }

    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        http(self.address, method, path, token, body)
    }

    /// SIGKILL: no graceful shutdown, no flush.
    pub fn kill_hard(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
