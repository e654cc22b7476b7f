//! Concurrent bridged calls with RTP relay, against SIPp on loopback.
//!
//! N agents join the floor and go available; their phones are one SIPp in
//! server mode (all N registered with digest from its port, echoing the RTP
//! it receives). A second SIPp places N calls at R per second: each caller
//! chooses the water queue by SIP INFO, waits, then streams T seconds of
//! G.711 audio (50 packets a second; SIPp's `rtp_stream`) and hangs up.
//! Dasan rings an agent's phone for each call, bridges the legs and relays
//! every packet both ways.
//!
//! Reports: calls answered, the peak number of calls bridged at once, the
//! packets Dasan relayed each way and those missing from each stream's
//! sequence numbers when they reached Dasan (the callers' stream, and the
//! echo, which carries the callers' numbers back: its losses are those of
//! the whole round trip), and the CPU time Dasan used.
//!
//! SIPp echoes every call's audio through one socket: with Linux's default
//! 208 KiB receive buffers that socket overflows at ~50,000 packets a second
//! and the echo shows SIPp's losses, not Dasan's. For the full figure give
//! sockets larger buffers for the run (`sysctl -w
//! net.core.rmem_default=4194304`, then back to 212992).
//!
//! With `DASAN_BENCH_TALK_SECONDS=0` no audio is streamed and the run
//! measures the call-setup rate through IVR, queue and bridge (each caller
//! still waits 2 s after its digit, then hangs up).
//!
//! Run: `cargo bench -p dasan-web --bench bridge` (`DASAN_BENCH_CALLS`,
//! default 1000; `DASAN_BENCH_RATE` calls per second, default 100;
//! `DASAN_BENCH_TALK_SECONDS`, default 20; `DASAN_BENCH_WORKERS`, the
//! runtime's worker threads, default 2).

#[path = "../tests/support/sipp.rs"]
mod sipp_support;

use std::time::{Duration, Instant};

use dasan_core::{Channel, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store, sip::SipAccount};
use dasan_web::{
    AppState,
    floor::FloorConfig,
    voice::{self, VoiceOptions},
};
use sipp_support::{free_port, scenario, spawn};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds this process has used (user + system), and those of its
/// children waited for (the SIPps).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        (ticks(11) + ticks(12)) / 100.0,
        (ticks(13) + ticks(14)) / 100.0,
    )
}

/// Registers `agent0`..`agentN-1` from `port` (where the phones' SIPp will
/// listen) with digest authentication; answers how many got their 200.
fn register_all(sip: std::net::SocketAddr, port: u16, count: u64) -> u64 {
    let socket = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buffer = [0u8; 4096];
    let mut registered = 0;
    for n in 0..count {
        let name = format!("agent{n}");
        let uri = format!("sip:{sip}");
        let request = |cseq: u32, authorization: &str| {
            format!(
                "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-r{n}-{cseq};rport\r\nFrom: <sip:{name}@127.0.0.1>;tag=r{n}\r\nTo: <sip:{name}@127.0.0.1>\r\nCall-ID: reg-{n}@bench\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{name}@127.0.0.1:{port}>\r\nExpires: 3600\r\n{authorization}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let mut exchange = |text: String| -> String {
            socket.send_to(text.as_bytes(), sip).expect("send");
            let (got, _) = socket.recv_from(&mut buffer).expect("an answer");
            String::from_utf8_lossy(&buffer[..got]).into_owned()
        };
        let challenge = exchange(request(1, ""));
        let Some(nonce) = challenge
            .split("nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
        else {
            continue;
        };
        let ha1 = voice::ha1(&name, "bench-secret");
        let response = voice::digest_response(&ha1, &nonce, "REGISTER", &uri);
        let authorization = format!(
            "Authorization: Digest username=\"{name}\", realm=\"{}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5\r\n",
            voice::REALM
        );
        if exchange(request(2, &authorization)).starts_with("SIP/2.0 200") {
            registered += 1;
        }
    }
    registered
}

fn main() {
    if std::process::Command::new("sipp")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: SIPp missing (scripts/install-test-deps installs it)");
        return;
    }
    let calls = env_number("DASAN_BENCH_CALLS", 1000);
    let rate = env_number("DASAN_BENCH_RATE", 100);
    let talk_seconds = env_number("DASAN_BENCH_TALK_SECONDS", 20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_number("DASAN_BENCH_WORKERS", 2) as usize)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(calls, rate, talk_seconds));
}

async fn run(calls: u64, rate: u64, talk_seconds: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
        .await
        .expect("store");
    let config = FloorConfig {
        offer_timeout_millis: 60_000,
        ..FloorConfig::default()
    };
    let state = AppState::load_with(store.clone(), SEOUL, config)
        .await
        .expect("state");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sip = socket.local_addr().expect("address");
    let server = voice::start(
        socket,
        state.clone(),
        VoiceOptions::default(),
        std::future::pending(),
    );

    // The agents: on the floor, available, each with a SIP account.
    for n in 0..calls {
        let user = uuid::Uuid::now_v7();
        let username = format!("agent{n}");
        store
            .set_sip_account(&SipAccount {
                username: username.clone(),
                user_id: user,
                realm: voice::REALM.to_owned(),
                ha1: voice::ha1(&username, "bench-secret"),
            })
            .await
            .expect("account");
        state
            .floor
            .join(user, &username, &[Channel::Voice], &[])
            .expect("joins");
        state
            .floor
            .set_presence(user, "available")
            .expect("available");
    }
    let phone_port = free_port();
    let registered = tokio::task::spawn_blocking(move || register_all(sip, phone_port, calls))
        .await
        .expect("registers");
    assert_eq!(registered, calls, "every phone registers");

    // The phones, then the callers.
    let phones = spawn(
        sip,
        &[
            "-sf",
            &scenario("agent_answers.xml"),
            "-m",
            &calls.to_string(),
            "-p",
            &phone_port.to_string(),
            "-s",
            "agent",
            "-mp",
            &free_port().to_string(),
            "-rtp_echo",
        ],
    );
    // A second of a tone as raw µ-law, streamed in a loop while talking.
    let audio = dir.path().join("talk.ulaw");
    let tone: Vec<u8> = (0..8_000)
        .map(|n| {
            let sample = (f64::from(n) * 2.0 * std::f64::consts::PI * 440.0 / 8_000.0).sin();
            // µ-law of a moderate tone (the encoder is Dasan's own).
            voice::media::ulaw_of((sample * 6_000.0) as i16)
        })
        .collect();
    std::fs::write(&audio, tone).expect("written");
    let mut callers = String::from("SEQUENTIAL\n");
    for n in 0..calls {
        callers.push_str(&format!("0102{n:07}\n"));
    }
    let callers_file = dir.path().join("callers.csv");
    std::fs::write(&callers_file, callers).expect("written");
    let text = std::fs::read_to_string(scenario("caller_streams.xml"))
        .expect("scenario")
        .replace("@AUDIO@", &audio.to_string_lossy())
        .replace("@WAIT@", "2000")
        .replace("@TALK@", &(talk_seconds * 1000).to_string());
    let caller_scenario = dir.path().join("caller.xml");
    std::fs::write(&caller_scenario, text).expect("written");
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let callers = spawn(
        sip,
        &[
            "-sf",
            &caller_scenario.to_string_lossy(),
            "-inf",
            &callers_file.to_string_lossy(),
            "-m",
            &calls.to_string(),
            "-r",
            &rate.to_string(),
            "-l",
            &calls.to_string(),
            "-mp",
            &free_port().to_string(),
        ],
    );
    let waiting = tokio::task::spawn_blocking(move || (callers.wait(), phones.wait()));
    tokio::pin!(waiting);
    let mut peak = 0;
    let (callers, phones) = loop {
        tokio::select! {
            done = &mut waiting => break done.expect("sipp"),
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                let counts = server.counts();
                peak = peak.max(counts.agent_answers.saturating_sub(counts.bridged));
            }
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = cpu_seconds();
    let (cpu, sipp_cpu) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    // The records are written as the callers' legs end.
    let mut records = Vec::new();
    for _ in 0..100 {
        records = store.calls(None, calls as u32).await.expect("calls");
        if records.len() as u64 >= calls {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answered = records.iter().filter(|r| r.outcome == "answered").count();
    let sum = |f: fn(&dasan_store::sip::CallRecord) -> u64| -> u64 { records.iter().map(f).sum() };
    let (from_caller, from_agent) = (
        sum(|r| r.packets_from_caller),
        sum(|r| r.packets_from_agent),
    );
    let (lost_caller, lost_agent) = (sum(|r| r.lost_from_caller), sum(|r| r.lost_from_agent));
    let share = |lost: u64, got: u64| 100.0 * lost as f64 / (lost + got).max(1) as f64;
    println!(
        "bridge: {calls} calls at {rate}/s, {talk_seconds} s of audio each: callers {callers:?}, phones {phones:?} (ok, successful, failed)"
    );
    println!("bridge: {answered} answered, peak {peak} calls bridged at once, {elapsed:.1} s");
    // Each record's way through: outcomes, and for the answered, the time
    // from the caller's INVITE to the agent's answer (IVR, digit, queue,
    // the phone rung and answered).
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    let mut ended_by = std::collections::BTreeMap::<&str, usize>::new();
    for record in &records {
        *outcomes.entry(record.outcome.as_str()).or_default() += 1;
        *ended_by.entry(record.ended_by.as_str()).or_default() += 1;
    }
    let mut setup: Vec<i64> = records
        .iter()
        .filter_map(|r| r.answered_at.map(|at| at - r.started_at))
        .collect();
    setup.sort_unstable();
    let at = |p: f64| {
        setup
            .get(((setup.len() as f64 * p).ceil() as usize).clamp(1, setup.len().max(1)) - 1)
            .copied()
            .unwrap_or(0)
    };
    let first = records.iter().map(|r| r.started_at).min().unwrap_or(0);
    let last_answer = records
        .iter()
        .filter_map(|r| r.answered_at)
        .max()
        .unwrap_or(0);
    println!(
        "bridge: outcomes {outcomes:?}, ended by {ended_by:?}; INVITE -> agent's answer p50 {} ms, p99 {} ms, max {} ms; {:.0} calls set up per second (first INVITE to last answer)",
        at(0.50),
        at(0.99),
        setup.last().copied().unwrap_or(0),
        answered as f64 * 1000.0 / (last_answer - first).max(1) as f64
    );
    let counts = server.counts();
    println!(
        "bridge: SIP INVITEs {}, queued {}, abandoned {}",
        counts.invites, counts.queued, counts.abandoned
    );
    println!(
        "bridge: phones rung {}, answered {}, missed {}; SIP messages dropped unsent {}; slowest datagram handled in {:.1} ms ({}), {} over 50 ms",
        counts.agent_rings,
        counts.agent_answers,
        counts.agent_misses,
        counts.send_dropped,
        counts.slowest_handle_micros as f64 / 1000.0,
        String::from_utf8_lossy(&counts.slowest_handle_kind).trim(),
        counts.slow_handles
    );
    println!(
        "bridge: caller -> agent {from_caller} packets relayed, {lost_caller} lost on the way to Dasan ({:.3}%); agent -> caller (SIPp's echo) {from_agent} relayed, {lost_agent} lost ({:.3}%)",
        share(lost_caller, from_caller),
        share(lost_agent, from_agent)
    );
    println!(
        "bridge: Dasan used {cpu:.1} CPU seconds ({:.0}% of one core) for {} relayed packets ({:.1} µs each)",
        100.0 * cpu / elapsed,
        from_caller + from_agent,
        1e6 * cpu / (from_caller + from_agent).max(1) as f64
    );
    println!(
        "bridge: the two SIPps used {sipp_cpu:.1} CPU seconds; Dasan {:.0} µs of CPU per call",
        1e6 * cpu / calls.max(1) as f64
    );
}
