//! Concurrent bridged calls with RTP relay, against SIPp on loopback.
//!
//! N agents join the floor and go available; their phones are one SIPp in
//! server mode (all N registered with digest from its port, echoing the RTP
//! it receives). A second SIPp places N calls at R per second: each caller
//! chooses the water queue by RFC 4733 (a pcap the bench writes), waits,
//! then plays T seconds of G.711 audio (50 packets a second) and hangs up.
//! Dasan rings an agent's phone for each call, bridges the legs and relays
//! every packet both ways.
//!
//! Reports: calls answered, the peak number of calls bridged at once, the
//! packets Dasan relayed caller → agent against those the callers sent
//! while bridged (loss through Dasan) and agent → caller against caller →
//! agent (loss of the echo's round trip, SIPp's echo included), and the
//! CPU time Dasan used.
//!
//! Run: `cargo bench -p dasan-web --bench bridge` (`DASAN_BENCH_CALLS`,
//! default 1000; `DASAN_BENCH_RATE` calls per second, default 100;
//! `DASAN_BENCH_TALK_SECONDS`, default 20).

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
use sipp_support::{audio_then_digit, free_port, rtp, scenario, spawn, write_pcap};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds this process has used (user + system).
fn cpu_seconds() -> f64 {
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
    (ticks(11) + ticks(12)) / 100.0
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
        .worker_threads(2)
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
    let mut accounts = String::from("SEQUENTIAL\n");
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
        accounts.push_str(&format!("{username};bench-secret\n"));
    }
    let accounts_file = dir.path().join("accounts.csv");
    std::fs::write(&accounts_file, accounts).expect("written");
    let phone_port = free_port();
    let registered = {
        let (file, port) = (
            accounts_file.to_string_lossy().into_owned(),
            phone_port.to_string(),
        );
        let count = calls.to_string();
        tokio::task::spawn_blocking(move || {
            sipp_support::sipp(
                sip,
                &[
                    "-sf",
                    &scenario("register_many.xml"),
                    "-inf",
                    &file,
                    "-m",
                    &count,
                    "-r",
                    "500",
                    "-p",
                    &port,
                ],
            )
        })
        .await
        .expect("sipp")
    };
    assert_eq!(registered.1, calls, "every phone registers: {registered:?}");

    // The phones, then the callers.
    let talk_packets = (talk_seconds * 50) as u16;
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
    let choice = dir.path().join("choice.pcap");
    write_pcap(&choice, &audio_then_digit(50, 2));
    let talk = dir.path().join("talk.pcap");
    let audio: Vec<Vec<u8>> = (0..talk_packets)
        .map(|i| rtp(0, 1000 + i, u32::from(i) * 160, &[0x7F; 160]))
        .collect();
    write_pcap(&talk, &audio);
    let mut callers = String::from("SEQUENTIAL\n");
    for n in 0..calls {
        callers.push_str(&format!("0102{n:07}\n"));
    }
    let callers_file = dir.path().join("callers.csv");
    std::fs::write(&callers_file, callers).expect("written");
    let text = std::fs::read_to_string(scenario("caller_talks.xml"))
        .expect("scenario")
        .replace("@CHOICE@", &choice.to_string_lossy())
        .replace("@TALK@", &talk.to_string_lossy())
        .replace("@WAIT@", "2500")
        .replace("01022221200", "[field0]");
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
    let cpu = cpu_seconds() - cpu_before;
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
    let from_caller: u64 = records.iter().map(|r| r.packets_from_caller).sum();
    let from_agent: u64 = records.iter().map(|r| r.packets_from_agent).sum();
    let sent = calls * u64::from(talk_packets);
    let loss = |got: u64, of: u64| {
        if of == 0 {
            100.0
        } else {
            100.0 * (of.saturating_sub(got)) as f64 / of as f64
        }
    };
    println!(
        "bridge: {calls} calls at {rate}/s, {talk_seconds} s of audio each: callers {callers:?}, phones {phones:?} (ok, successful, failed)"
    );
    println!("bridge: {answered} answered, peak {peak} calls bridged at once, {elapsed:.1} s");
    println!(
        "bridge: caller -> agent {from_caller} of {sent} packets relayed ({:.3}% lost); agent -> caller {from_agent} ({:.3}% of the echo lost)",
        loss(from_caller, sent),
        loss(from_agent, from_caller)
    );
    println!(
        "bridge: Dasan used {cpu:.1} CPU seconds ({:.0}% of one core) for {} relayed packets ({:.1} µs each)",
        100.0 * cpu / elapsed,
        from_caller + from_agent,
        1e6 * cpu / (from_caller + from_agent).max(1) as f64
    );
}
