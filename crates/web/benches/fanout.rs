//! Fan-out of live events to many connected screens: N wallboard screens
//! hold a Server-Sent Events stream each (real HTTP connections on
//! loopback); the floor changes (a contact is queued) every 250 ms; each
//! screen notes when it received the document of each change. Reports the
//! fan-out latency (change made → document received) p50/p99/max per N,
//! and the largest N reached. The baseline is the same run at 100 screens.
//!
//! The screens run in child processes of this benchmark (5,000 each), so
//! that neither side runs out of file descriptors; both sides read the same
//! system clock.
//!
//! Run: `cargo bench -p dasan-web --bench fanout`
//! (`DASAN_BENCH_SCREENS=100,1000,10000` sets the sizes, `DASAN_BENCH_EVENTS`
//! the changes per size (default 40), `DASAN_BENCH_AGENTS` the agents on
//! the floor, whose names the wallboard lists (default 30).)

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use dasan_core::{Channel, PhoneNumber, Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{AppState, auth::issue_token, floor::NewInteraction};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
};

/// The version numbers in a chunk of the event stream.
fn versions(events: &str) -> impl Iterator<Item = u64> + '_ {
    events
        .match_indices("\"version\":")
        .filter_map(|(at, key)| {
            let digits: String = events[at + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
}

/// This process's open-file limit (each screen costs a socket on each side;
/// the screens run in child processes so neither side runs out).
fn file_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// CPU time (user + system) this process has used, in seconds, from
/// `/proc/self/stat` (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which ends with ')').
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some((user + system) / 100.0)
        })
        .unwrap_or(0.0)
}

fn nanos_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// One screen: connects, then records each wallboard version as it arrives
/// (system-clock nanoseconds).
async fn screen(
    address: SocketAddr,
    token: Arc<String>,
    connected: tokio::sync::mpsc::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) -> Vec<(u64, u128)> {
    let mut seen = Vec::new();
    let Ok(mut stream) = TcpStream::connect(address).await else {
        let _ = connected.send(false).await;
        return seen;
    };
    let _ = stream.set_nodelay(true);
    let request = format!(
        "GET /api/v1/wallboard/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        let _ = connected.send(false).await;
        return seen;
    }
    let mut buffer = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let n = tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = stop.changed() => break,
        };
        let now = nanos_now();
        pending.extend_from_slice(&buffer[..n]);
        // Whole events end with a blank line; keep a partial one for later.
        // The wallboard's keys are sorted, so "version" is near each
        // event's end: only the tail is searched (the client should cost
        // little next to the server it measures).
        let mut start = 0;
        while let Some(end) = pending[start..].windows(2).position(|w| w == b"\n\n") {
            let event = &pending[start..start + end];
            let tail = &event[event.len().saturating_sub(48)..];
            if let Some(version) = versions(&String::from_utf8_lossy(tail)).next() {
                seen.push((version, now));
            }
            start += end + 2;
        }
        pending.drain(..start);
        if first && !seen.is_empty() {
            first = false;
            let _ = connected.send(true).await;
        }
    }
    if first {
        let _ = connected.send(false).await;
    }
    seen
}

/// The child: `DASAN_FANOUT_CHILD=address,screens` and the token on stdin.
/// Prints `ready <connected>` once every screen has its first document,
/// then, when stdin says `stop`, one `screen version nanos` line per
/// receipt.
fn child(spec: &str) {
    let (address, screens) = spec.split_once(',').expect("address,screens");
    let address: SocketAddr = address.parse().expect("address");
    let screens: usize = screens.parse().expect("screens");
    let mut token = String::new();
    std::io::stdin().read_line(&mut token).expect("token");
    let token = Arc::new(token.trim().to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (stop_tx, stop) = watch::channel(false);
        let (connected_tx, mut connected_rx) = tokio::sync::mpsc::channel(screens.max(1));
        let mut tasks = Vec::with_capacity(screens);
        let mut connected = 0;
        // Connect in batches so the listener's backlog is never overrun.
        for batch in (0..screens).collect::<Vec<_>>().chunks(500) {
            for _ in batch {
                tasks.push(tokio::spawn(screen(
                    address,
                    token.clone(),
                    connected_tx.clone(),
                    stop.clone(),
                )));
            }
            for _ in batch {
                if connected_rx.recv().await == Some(true) {
                    connected += 1;
                }
            }
        }
        println!("ready {connected}");
        let cpu_at_ready = cpu_seconds();
        // Wait for the parent's "stop" without blocking the screens.
        let waiter = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        });
        let _ = waiter.await;
        let cpu = cpu_seconds() - cpu_at_ready;
        stop_tx.send_replace(true);
        let mut out = format!("cpu {cpu}\n");
        for (index, task) in tasks.into_iter().enumerate() {
            for (version, at) in task.await.unwrap_or_default() {
                out.push_str(&format!("{index} {version} {at}\n"));
            }
        }
        print!("{out}");
    });
}

struct Figures {
    screens: usize,
    connected: usize,
    samples: usize,
    missed: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    payload: usize,
    /// CPU microseconds per screen update: the server's, the screens'.
    server_cpu_us: f64,
    client_cpu_us: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

const PER_CHILD: usize = 5_000;

fn queue_one(state: &AppState, n: usize) {
    state
        .floor
        .add_interaction(NewInteraction {
            id: None,
            channel: Channel::Voice,
            citizen_phone: PhoneNumber::parse(&format!("010-5{:03}-{:04}", n % 1000, n % 10_000))
                .expect("phone"),
            category: None,
            required_skills: Vec::new(),
            priority: 0,
        })
        .expect("queued");
}

async fn run(
    state: &AppState,
    address: SocketAddr,
    token: &str,
    screens: usize,
    events: usize,
) -> Figures {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let mut children = Vec::new();
    let mut left = screens;
    while left > 0 {
        let share = left.min(PER_CHILD);
        left -= share;
        let mut child = Command::new(std::env::current_exe().expect("this benchmark"))
            .env("DASAN_FANOUT_CHILD", format!("{address},{share}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("child starts");
        writeln!(child.stdin.as_mut().expect("stdin"), "{token}").expect("token sent");
        children.push(child);
    }
    // Each child answers "ready N" once its screens are connected.
    let mut connected = 0;
    let mut readers = Vec::new();
    for child in &mut children {
        let stdout = child.stdout.take().expect("stdout");
        let reader = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line).expect("ready line");
            (reader, line)
        });
        let (reader, line) = reader.await.expect("reader");
        connected += line
            .trim()
            .strip_prefix("ready ")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        readers.push(reader);
    }
    // A warm-up change, not measured.
    queue_one(state, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server_cpu_before = cpu_seconds();
    let payload = state.floor.wallboard().borrow().json.len();
    let mut sent: HashMap<u64, u128> = HashMap::new();
    for n in 1..=events {
        let before = nanos_now();
        queue_one(state, n);
        let version: u64 = versions(&state.floor.wallboard_now().json)
            .next()
            .expect("version");
        sent.insert(version, before);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let server_cpu = cpu_seconds() - server_cpu_before;
    let mut client_cpu = 0.0;
    let mut latencies = Vec::new();
    let mut missed = 0;
    for (mut child, reader) in children.into_iter().zip(readers) {
        writeln!(child.stdin.as_mut().expect("stdin"), "stop").expect("stop sent");
        let receipts = tokio::task::spawn_blocking(move || {
            let mut per_screen: HashMap<usize, HashMap<u64, u128>> = HashMap::new();
            let mut cpu = 0.0;
            for line in reader.lines().map_while(Result::ok) {
                if let Some(seconds) = line.strip_prefix("cpu ") {
                    cpu = seconds.parse().unwrap_or(0.0);
                    continue;
                }
                let mut parts = line.split(' ').filter_map(|p| p.parse::<u128>().ok());
                if let (Some(screen), Some(version), Some(at)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    per_screen
                        .entry(screen as usize)
                        .or_default()
                        .insert(version as u64, at);
                }
            }
            (per_screen, cpu)
        })
        .await
        .expect("receipts");
        let (receipts, cpu) = receipts;
        client_cpu += cpu;
        let _ = child.wait();
        for got in receipts.values() {
            for (version, at) in &sent {
                match got.get(version) {
                    Some(received) => latencies.push(Duration::from_nanos(
                        received.saturating_sub(*at).min(u128::from(u64::MAX)) as u64,
                    )),
                    None => missed += 1,
                }
            }
        }
    }
    latencies.sort();
    let updates = (screens * events).max(1) as f64;
    Figures {
        server_cpu_us: server_cpu / updates * 1e6,
        client_cpu_us: client_cpu / updates * 1e6,
        screens,
        connected,
        samples: latencies.len(),
        missed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        payload,
    }
}

fn main() {
    if let Ok(spec) = std::env::var("DASAN_FANOUT_CHILD") {
        return child(&spec);
    }
    let limit = file_limit();
    let sizes: Vec<usize> = std::env::var("DASAN_BENCH_SCREENS")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let events: usize = std::env::var("DASAN_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let agents: usize = std::env::var("DASAN_BENCH_AGENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
            .await
            .expect("store");
        let issued = issue_token(Role::Supervisor, "wallboards").expect("token");
        store.create_token(&issued.record, &issued.secret_hash).await.expect("token");
        let state = AppState::load(store, SEOUL).await.expect("state");
        for n in 0..agents {
            state
                .floor
                .join(uuid::Uuid::now_v7(), &format!("상담원 {n:03}"), &Channel::ALL, &[])
                .expect("agent");
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(dasan_web::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        let token = issued.secret;
        println!("fan-out of wallboard events over SSE on loopback ({} cores, open-file limit {limit}, {agents} agents listed, {events} changes 250 ms apart per size)", std::thread::available_parallelism().map_or(1, |n| n.get()));
        println!(
            "{:>8} {:>10} {:>9} {:>7} {:>10} {:>10} {:>10} {:>9} {:>11} {:>11}",
            "screens", "connected", "samples", "missed", "p50", "p99", "max", "doc bytes", "server cpu", "screen cpu"
        );
        let mut baseline: Option<Figures> = None;
        let mut largest = 0;
        for &screens in &sizes {
            let figures = run(&state, address, &token, screens, events).await;
            println!(
                "{:>8} {:>10} {:>9} {:>7} {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>9} {:>7.1}µs/u {:>7.1}µs/u",
                figures.screens,
                figures.connected,
                figures.samples,
                figures.missed,
                figures.p50.as_secs_f64() * 1e3,
                figures.p99.as_secs_f64() * 1e3,
                figures.max.as_secs_f64() * 1e3,
                figures.payload,
                figures.server_cpu_us,
                figures.client_cpu_us
            );
            if figures.connected == figures.screens {
                largest = largest.max(figures.screens);
            }
            if let Some(base) = &baseline {
                println!(
                    "{:>8} p99 is {:.1}x the {}-screen baseline",
                    "",
                    figures.p99.as_secs_f64() / base.p99.as_secs_f64().max(1e-9),
                    base.screens
                );
            } else {
                baseline = Some(figures);
            }
        }
        println!("largest N with every screen connected: {largest}");
        println!("(cpu columns: CPU time per screen update during the changes, server process and screen processes; they share the cores)");
        let _ = stop.send(());
        state.floor.close();
        let _ = server.await;
    });
}
