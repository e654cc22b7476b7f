//! Fan-out of live events to many connected screens: N wallboard screens
//! hold a Server-Sent Events stream each (real HTTP connections on
//! loopback); the floor changes (a contact is queued) every 250 ms; each
//! screen notes when the document of each change arrived at its socket (the
//! kernel's receive timestamp) and when its process read it. Reports the
//! fan-out latency (change made → document arrived, and → read)
//! p50/p99/max per N, and the largest N reached. The baseline is the same
//! run at 100 screens.
//!
//! The screens run in child processes of this benchmark (5,000 each, one
//! epoll loop per process), so that neither side runs out of file
//! descriptors; both sides read the same system clock. They stand in for
//! browsers on other machines but share this machine's cores with the
//! server: `DASAN_BENCH_SCREEN_NICE=19` runs them below the server's
//! priority, so that they read what arrived once the server has sent it
//! rather than competing with it while it sends.
//!
//! Run: `cargo bench -p dasan-web --bench fanout`
//! (`DASAN_BENCH_SCREENS=100,1000,10000` sets the sizes, `DASAN_BENCH_EVENTS`
//! the changes per size (default 40), `DASAN_BENCH_AGENTS` the agents on
//! the floor, whose names the wallboard lists (default 30).)

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use dasan_core::{Channel, PhoneNumber, Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{AppState, auth::issue_token, floor::NewInteraction};

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

/// One screen's connection and what it has received.
struct Screen {
    stream: Option<mio::net::TcpStream>,
    /// A partial event carried over to the next read.
    pending: Vec<u8>,
    /// Per wallboard document: its version, when its bytes arrived at this
    /// screen's socket (the kernel's receive timestamp) and when this
    /// process read them (system-clock nanoseconds both).
    seen: Vec<(u64, u128, u128)>,
}

/// The kernel's receive timestamp of a `recvmsg`, in system-clock
/// nanoseconds.
fn arrival(message: &nix::sys::socket::RecvMsg<'_, '_, ()>) -> Option<u128> {
    use nix::sys::socket::ControlMessageOwned;
    message.cmsgs().ok()?.find_map(|cmsg| match cmsg {
        ControlMessageOwned::ScmTimestampns(at) => {
            Some(at.tv_sec() as u128 * 1_000_000_000 + at.tv_nsec() as u128)
        }
        _ => None,
    })
}

impl Screen {
    /// Reads what the socket has; records each whole event's version with
    /// its arrival and `now`. Returns false once the connection is gone.
    fn read(&mut self, buffer: &mut [u8], control: &mut [u8], now: u128) -> bool {
        use nix::{errno::Errno, sys::socket};
        use std::os::fd::AsRawFd;
        let Some(stream) = self.stream.as_ref() else {
            return false;
        };
        let fd = stream.as_raw_fd();
        loop {
            let mut iov = [std::io::IoSliceMut::new(buffer)];
            let got = socket::recvmsg::<()>(fd, &mut iov, Some(control), socket::MsgFlags::empty())
                .map(|message| (message.bytes, arrival(&message)));
            match got {
                Ok((0, _)) => {
                    self.stream = None;
                    return false;
                }
                Ok((n, arrived)) => {
                    let arrived = arrived.unwrap_or(now);
                    let scan_from = self.pending.len().saturating_sub(1);
                    self.pending.extend_from_slice(&buffer[..n]);
                    // Whole events end with a blank line; keep a partial one
                    // for later. The wallboard's keys are sorted, so
                    // "version" is near each event's end: only the tail is
                    // searched.
                    let mut start = 0;
                    let mut from = scan_from;
                    while let Some(at) = memchr::memmem::find(&self.pending[from..], b"\n\n") {
                        let end = from + at;
                        let event = &self.pending[start..end];
                        let tail = &event[event.len().saturating_sub(48)..];
                        if let Some(version) = versions(&String::from_utf8_lossy(tail)).next() {
                            self.seen.push((version, arrived, now));
                        }
                        start = end + 2;
                        from = start;
                    }
                    self.pending.drain(..start);
                    // A short read emptied the socket's queue: what comes
                    // later raises a new edge, so the read that would
                    // answer EAGAIN is skipped (half of a screen's system
                    // calls, on the cores the server is measured on).
                    if n < buffer.len() {
                        return true;
                    }
                }
                Err(Errno::EAGAIN) => return true,
                Err(Errno::EINTR) => {}
                Err(_) => {
                    self.stream = None;
                    return false;
                }
            }
        }
    }
}

/// Opens one screen: connects (blocking, on loopback), asks for the
/// wallboard's event stream and registers the socket for reading.
fn open_screen(
    poll: &mio::Poll,
    address: SocketAddr,
    request: &[u8],
    index: usize,
) -> Option<mio::net::TcpStream> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_nodelay(true).ok()?;
    stream.write_all(request).ok()?;
    stream.set_nonblocking(true).ok()?;
    nix::sys::socket::setsockopt(
        &stream,
        nix::sys::socket::sockopt::ReceiveTimestampns,
        &true,
    )
    .ok()?;
    let mut stream = mio::net::TcpStream::from_std(stream);
    poll.registry()
        .register(&mut stream, mio::Token(index), mio::Interest::READABLE)
        .ok()?;
    Some(stream)
}

/// The child: `DASAN_FANOUT_CHILD=address,screens` and the token on stdin.
/// Prints `ready <connected>` once every screen has its first document,
/// then, when stdin says `stop`, one `screen version nanos` line per
/// receipt.
///
/// The screens are one epoll loop (mio) on one thread, with no async
/// runtime: what a screen costs here is the measuring side's, and it
/// shares the cores with the server it measures.
fn child(spec: &str) {
    use std::io::BufRead;
    let (address, screens) = spec.split_once(',').expect("address,screens");
    let address: SocketAddr = address.parse().expect("address");
    let count: usize = screens.parse().expect("screens");
    let stdin = std::io::stdin();
    let mut token = String::new();
    stdin.lock().read_line(&mut token).expect("token");
    let request = format!(
        "GET /api/v1/wallboard/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        token.trim()
    );
    let mut poll = mio::Poll::new().expect("epoll");
    let mut events = mio::Events::with_capacity(1024);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut screens: Vec<Screen> = Vec::with_capacity(count);
    let mut connected = 0;
    // Connect in batches so the listener's backlog is never overrun; each
    // batch waits for its first documents.
    let indices: Vec<usize> = (0..count).collect();
    for batch in indices.chunks(500) {
        for &index in batch {
            screens.push(Screen {
                stream: open_screen(&poll, address, request.as_bytes(), index),
                pending: Vec::new(),
                seen: Vec::new(),
            });
        }
        let waiting = |screens: &[Screen]| {
            batch
                .iter()
                .any(|&i| screens[i].stream.is_some() && screens[i].seen.is_empty())
        };
        while waiting(&screens) {
            if poll
                .poll(&mut events, Some(Duration::from_secs(10)))
                .is_err()
            {
                continue;
            }
            if events.is_empty() {
                break;
            }
            let now = nanos_now();
            for event in &events {
                if let Some(screen) = screens.get_mut(event.token().0) {
                    screen.read(&mut buffer, &mut control, now);
                }
            }
        }
        connected += batch
            .iter()
            .filter(|&&i| screens[i].stream.is_some() && !screens[i].seen.is_empty())
            .count();
    }
    println!("ready {connected}");
    let cpu_at_ready = cpu_seconds();
    // The parent's "stop" arrives on stdin, watched by the same loop.
    const STDIN: mio::Token = mio::Token(usize::MAX);
    poll.registry()
        .register(&mut mio::unix::SourceFd(&0), STDIN, mio::Interest::READABLE)
        .expect("stdin");
    'run: loop {
        if poll.poll(&mut events, None).is_err() {
            continue;
        }
        let now = nanos_now();
        for event in &events {
            if event.token() == STDIN {
                break 'run;
            }
            if let Some(screen) = screens.get_mut(event.token().0) {
                screen.read(&mut buffer, &mut control, now);
            }
        }
    }
    let cpu = cpu_seconds() - cpu_at_ready;
    let mut out = format!("cpu {cpu}\n");
    for (index, screen) in screens.iter().enumerate() {
        for (version, arrived, read) in &screen.seen {
            out.push_str(&format!("{index} {version} {arrived} {read}\n"));
        }
    }
    print!("{out}");
}

struct Figures {
    screens: usize,
    connected: usize,
    samples: usize,
    missed: usize,
    /// Change made → bytes at the screen's socket (kernel timestamp).
    arrived: Latency,
    /// Change made → read by the screen's process.
    read: Latency,
    payload: usize,
    /// CPU microseconds per screen update: the server's, the screens'.
    server_cpu_us: f64,
    client_cpu_us: f64,
}

struct Latency {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Latency {
            p50: percentile(&samples, 0.50),
            p99: percentile(&samples, 0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

const PER_CHILD: usize = 5_000;

fn caller(n: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("010-5{:03}-{:04}", n % 1000, n % 10_000)).expect("phone")
}

fn queue_one(state: &AppState, citizen_phone: PhoneNumber) {
    state
        .floor
        .add_interaction(NewInteraction {
            id: None,
            channel: Channel::Voice,
            citizen_phone,
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
        let niceness = std::env::var("DASAN_BENCH_SCREEN_NICE").unwrap_or_else(|_| "0".into());
        let mut child = Command::new("nice")
            .arg("-n")
            .arg(&niceness)
            .arg(std::env::current_exe().expect("this benchmark"))
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
    queue_one(state, caller(0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server_cpu_before = cpu_seconds();
    let payload = state.floor.wallboard().borrow().json.len();
    let mut sent: HashMap<u64, u128> = HashMap::new();
    for n in 1..=events {
        let phone = caller(n);
        let before = nanos_now();
        // The change is made and published on one of the runtime's
        // workers, as a request handler or the wallboard task does: its
        // wake-ups then go to that worker's own run queue, with the other
        // worker stealing, rather than each one through the shared queue
        // from outside (this function runs on the main thread).
        let changer = state.clone();
        let version: u64 = tokio::spawn(async move {
            queue_one(&changer, phone);
            versions(&changer.floor.wallboard_now().json).next()
        })
        .await
        .expect("change")
        .expect("version");
        sent.insert(version, before);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let server_cpu = cpu_seconds() - server_cpu_before;
    let mut client_cpu = 0.0;
    let mut arrived = Vec::new();
    let mut read = Vec::new();
    let mut missed = 0;
    for (mut child, reader) in children.into_iter().zip(readers) {
        writeln!(child.stdin.as_mut().expect("stdin"), "stop").expect("stop sent");
        let receipts = tokio::task::spawn_blocking(move || {
            let mut per_screen: HashMap<usize, HashMap<u64, (u128, u128)>> = HashMap::new();
            let mut cpu = 0.0;
            for line in reader.lines().map_while(Result::ok) {
                if let Some(seconds) = line.strip_prefix("cpu ") {
                    cpu = seconds.parse().unwrap_or(0.0);
                    continue;
                }
                let mut parts = line.split(' ').filter_map(|p| p.parse::<u128>().ok());
                if let (Some(screen), Some(version), Some(arrived), Some(read)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                {
                    per_screen
                        .entry(screen as usize)
                        .or_default()
                        .insert(version as u64, (arrived, read));
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
                let since = |then: u128| {
                    Duration::from_nanos(then.saturating_sub(*at).min(u128::from(u64::MAX)) as u64)
                };
                match got.get(version) {
                    Some((at_socket, at_process)) => {
                        arrived.push(since(*at_socket));
                        read.push(since(*at_process));
                    }
                    None => missed += 1,
                }
            }
        }
    }
    let updates = (screens * events).max(1) as f64;
    Figures {
        server_cpu_us: server_cpu / updates * 1e6,
        client_cpu_us: client_cpu / updates * 1e6,
        screens,
        connected,
        samples: read.len(),
        missed,
        arrived: Latency::of(arrived),
        read: Latency::of(read),
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
        let niceness = std::env::var("DASAN_BENCH_SCREEN_NICE").unwrap_or_else(|_| "0".into());
        println!("fan-out of wallboard events over SSE on loopback ({} cores, open-file limit {limit}, {agents} agents listed, {events} changes 250 ms apart per size, screens at nice {niceness})", std::thread::available_parallelism().map_or(1, |n| n.get()));
        println!(
            "{:>8} {:>10} {:>9} {:>7} {:>32} {:>32} {:>9} {:>11} {:>11}",
            "", "", "", "", "arrived at the screen's socket", "read by the screen's process", "", "", ""
        );
        println!(
            "{:>8} {:>10} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>11} {:>11}",
            "screens", "connected", "samples", "missed", "p50", "p99", "max", "p50", "p99", "max", "doc bytes", "server cpu", "screen cpu"
        );
        let mut baseline: Option<Figures> = None;
        let mut largest = 0;
        for &screens in &sizes {
            let figures = run(&state, address, &token, screens, events).await;
            println!(
                "{:>8} {:>10} {:>9} {:>7} {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>9} {:>7.1}µs/u {:>7.1}µs/u",
                figures.screens,
                figures.connected,
                figures.samples,
                figures.missed,
                millis(figures.arrived.p50),
                millis(figures.arrived.p99),
                millis(figures.arrived.max),
                millis(figures.read.p50),
                millis(figures.read.p99),
                millis(figures.read.max),
                figures.payload,
                figures.server_cpu_us,
                figures.client_cpu_us
            );
            if figures.connected == figures.screens {
                largest = largest.max(figures.screens);
            }
            if let Some(base) = &baseline {
                println!(
                    "{:>8} p99 (arrived) is {:.1}x the {}-screen baseline",
                    "",
                    figures.arrived.p99.as_secs_f64() / base.arrived.p99.as_secs_f64().max(1e-9),
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
