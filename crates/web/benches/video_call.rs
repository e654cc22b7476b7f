//! Click to connected video, in real browsers: the setup of
//! `tests/video_browser.rs` (two headless Chromiums with fake cameras and
//! Dasan inside a network namespace this bench makes; needs root) run
//! `DASAN_BENCH_CALLS` times (default 10). Each run: the citizen presses
//! start on `/sign`; the agent's browser accepts as soon as the offer
//! shows (the driver polls every 50 ms); both peer connections reach
//! `connected`. Reported from the browsers' own clocks
//! (`performance.now()`): the citizen's click → connected (the whole wait,
//! with the accept), and the agent's accept → connected (what Dasan's
//! signalling and ICE cost), p50/p95.

use std::time::Duration;

use dasan_store::Store;
use serde_json::json;

#[path = "../tests/support/netns.rs"]
mod netns;
#[path = "../tests/support/video_center.rs"]
mod video_center;
#[path = "../tests/support/webdriver.rs"]
mod webdriver;
use video_center::{PASSWORD, click, video_flags};
use webdriver::start_driver_with;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let calls: usize = std::env::var("DASAN_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let namespace = match netns::Namespace::create() {
        Ok(namespace) => namespace,
        Err(why) => {
            println!("video_call: skipped, no network namespace ({why})");
            return;
        }
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                namespace.enter().expect("into the namespace");
                run(calls);
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
}

fn run(calls: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let center = video_center::start(&runtime, 0);
    let store = center.store.clone();
    let base = format!("http://{}", center.address);
    let flags = video_flags(&base);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let agent_profile = tempfile::tempdir().expect("profile");
    let agent = start_driver_with(agent_profile.path(), &flags);
    agent.sign_in_at(&format!("{base}/"), "signer", PASSWORD);
    agent.wait_until(
        "the desktop",
        "document.getElementById('go-available') !== null",
    );
    let citizen_profile = tempfile::tempdir().expect("profile");
    let citizen = start_driver_with(citizen_profile.path(), &flags);

    let mut click_to_connected = Vec::new();
    let mut accept_to_connected = Vec::new();
    for run in 0..calls {
        click(&agent, "#go-available");
        agent.wait_until(
            "available",
            "document.body.dataset.live === 'connected' && document.getElementById('wrapup').hidden",
        );
        citizen.cmd("POST", "/url", Some(json!({"url": format!("{base}/sign")})));
        citizen.wait_until("the page", "document.getElementById('start') !== null");
        click(&citizen, "#start");
        // Accept as soon as the offer shows.
        for _ in 0..600 {
            if agent.eval("!document.getElementById('offer').hidden") == json!(true) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        click(&agent, "#accept");
        agent.wait_until("connected", "document.body.dataset.video === 'connected'");
        citizen.wait_until("connected", "document.body.dataset.call === 'connected'");
        let session = citizen
            .eval("document.body.dataset.session")
            .as_str()
            .expect("session")
            .to_owned();
        click(&citizen, "#end");
        agent.wait_until("closed", "document.body.dataset.video === 'closed'");
        let field = agent.find("#category");
        agent.type_into(&field, "welfare");
        let field = agent.find("#summary");
        agent.type_into(&field, "벤치마크");
        click(&agent, "#submit");
        agent.wait_until("done", "document.getElementById('contact').hidden");
        let id = uuid::Uuid::parse_str(&session).expect("uuid");
        let record = runtime.block_on(async {
            for _ in 0..100 {
                if let Some(record) = store.video_sessions(Some(id), 1).await.expect("read").pop() {
                    return record;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("run {run}: no record");
        });
        let citizen_ms = record
            .citizen_quality
            .as_ref()
            .and_then(|q| q.connect_ms)
            .expect("citizen's figure");
        let agent_ms = record
            .agent_quality
            .as_ref()
            .and_then(|q| q.connect_ms)
            .expect("agent's figure");
        click_to_connected.push(citizen_ms as f64);
        accept_to_connected.push(agent_ms as f64);
    }
    for values in [&mut click_to_connected, &mut accept_to_connected] {
        values.sort_by(f64::total_cmp);
    }
    println!(
        "video_call: {calls} calls; citizen's click -> connected p50 {:.0} ms, p95 {:.0} ms (the agent's accept included); agent's accept -> connected p50 {:.0} ms, p95 {:.0} ms",
        percentile(&click_to_connected, 0.5),
        percentile(&click_to_connected, 0.95),
        percentile(&accept_to_connected, 0.5),
        percentile(&accept_to_connected, 0.95),
    );
    drop(citizen);
    drop(agent);
}
