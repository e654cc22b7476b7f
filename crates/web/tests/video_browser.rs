//! A sign-language video call between two real headless Chromiums with fake
//! cameras, inside a network namespace this test makes (WebRTC ignores
//! loopback; see `support/netns.rs`), with Dasan serving both pages and
//! relaying the signalling from the same namespace. No ICE servers: the
//! peers connect on the namespace's own address.
//!
//! The citizen opens `/sign` (Korean, axe-clean), starts; the signing agent
//! (signed in through the form, available) is offered the call — an
//! available agent without the skill never is — and accepts;
//! both peer connections reach `connected` and both decode frames; chat
//! crosses both ways; the citizen ends; the agent records the consultation;
//! the session's record keeps both browsers' figures.
//!
//! Needs root (`ip netns`), Chromium, chromedriver and axe-core; without
//! them the test says so and passes, unless `DASAN_REQUIRE_BROWSER=1`.

use std::time::Duration;

use dasan_core::Channel;
use dasan_store::Store;
use serde_json::json;

#[path = "support/netns.rs"]
mod netns;
#[path = "support/video_center.rs"]
mod video_center;
#[path = "support/webdriver.rs"]
mod webdriver;
use video_center::{PASSWORD, click, video_flags};
use webdriver::{Driver, axe_source, missing, start_driver_with};

/// The call's `getStats` summary in the page.
fn frames_decoded(driver: &Driver) -> u64 {
    let stats = driver.cmd(
        "POST",
        "/execute/async",
        Some(json!({"script": "const done = arguments[arguments.length - 1]; window.dasanRtc.current.stats().then(done).catch(e => done({error: String(e)}));", "args": []})),
    );
    stats["frames_decoded"].as_u64().unwrap_or(0)
}

#[test]
fn a_citizen_and_a_signing_agent_talk_on_video_in_chromium() {
    let have = |program: &str| {
        std::process::Command::new(program)
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
    let namespace = match netns::Namespace::create() {
        Ok(namespace) => namespace,
        Err(why) => return missing(&format!("a network namespace ({why})")),
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                namespace.enter().expect("into the namespace");
                call_in_namespace(&axe);
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
    drop(namespace);
}

fn call_in_namespace(axe: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let center = video_center::start(&runtime, 60_000);
    // An agent without the skill is on the floor and available first: it
    // must never be offered the video call.
    let mut notices = center.state.floor.offer_notices();
    let plain = uuid::Uuid::now_v7();
    center
        .state
        .floor
        .join(plain, "plain", &Channel::ALL, &[])
        .expect("on the floor");
    center
        .state
        .floor
        .set_presence(plain, "available")
        .expect("available");
    let (address, store, signer_id) = (center.address, center.store.clone(), center.signer);
    let base = format!("http://{address}");
    let flags = video_flags(&base);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();

    // The agent signs in and goes available.
    let agent_profile = tempfile::tempdir().expect("profile");
    let agent = start_driver_with(agent_profile.path(), &flags);
    agent.sign_in_at(&format!("{base}/"), "signer", PASSWORD);
    agent.wait_until(
        "the desktop",
        "document.getElementById('go-available') !== null",
    );
    click(&agent, "#go-available");
    agent.wait_until(
        "available",
        "document.getElementById('presence').textContent.length > 1 && document.body.dataset.live === 'connected'",
    );

    // The citizen's page: Korean, accessible; start.
    let citizen_profile = tempfile::tempdir().expect("profile");
    let citizen = start_driver_with(citizen_profile.path(), &flags);
    citizen.cmd("POST", "/url", Some(json!({"url": format!("{base}/sign")})));
    assert_eq!(citizen.eval("document.documentElement.lang"), json!("ko"));
    let violations = citizen.serious_violations(axe);
    assert!(violations.is_empty(), "/sign: {violations:?}");
    citizen.screenshot("sign-start.png");
    click(&citizen, "#start");
    citizen.wait_until("the session", "!!document.body.dataset.session");
    citizen.wait_until(
        "the place in the queue as text",
        "document.getElementById('position').textContent === '1'",
    );
    let violations = citizen.serious_violations(axe);
    assert!(violations.is_empty(), "/sign waiting: {violations:?}");
    let session = citizen
        .eval("document.body.dataset.session")
        .as_str()
        .expect("session id")
        .to_owned();

    // The signing agent is offered the call and accepts.
    agent.wait_until("the offer", "!document.getElementById('offer').hidden");
    click(&agent, "#accept");
    agent.wait_until(
        "the agent's video connected",
        "document.body.dataset.video === 'connected'",
    );
    citizen.wait_until(
        "the citizen's video connected",
        "document.body.dataset.call === 'connected'",
    );
    // Both sides decode the other's (fake) camera.
    for (who, driver) in [("citizen", &citizen), ("agent", &agent)] {
        let mut frames = 0;
        for _ in 0..100 {
            frames = frames_decoded(driver);
            if frames > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(frames > 0, "{who} decoded no frame");
    }
    citizen.screenshot("sign-call.png");
    agent.screenshot("desktop-video.png");

    // Chat both ways.
    let field = citizen.find("#chat-text");
    citizen.type_into(&field, "제 번호는 010-2345-6789 입니다");
    click(&citizen, "#chat-form button[type=submit]");
    agent.wait_until(
        "the citizen's chat",
        "document.getElementById('video-chat').textContent.includes('010-2345-6789')",
    );
    let field = agent.find("#video-chat-text");
    agent.type_into(&field, "확인했습니다");
    click(&agent, "#video-chat-form button[type=submit]");
    citizen.wait_until(
        "the agent's chat",
        "document.getElementById('chat-log').textContent.includes('확인했습니다')",
    );

    // The citizen ends the call; the agent records the consultation.
    click(&citizen, "#end");
    citizen.wait_until(
        "the end screen",
        "!document.getElementById('ended-view').hidden",
    );
    agent.wait_until(
        "the call closed",
        "document.body.dataset.video === 'closed'",
    );
    let field = agent.find("#category");
    agent.type_into(&field, "welfare");
    let field = agent.find("#summary");
    agent.type_into(&field, "수어 통역 지원 안내");
    click(&agent, "#submit");
    agent.wait_until("wrap-up", "!document.getElementById('wrapup').hidden");

    let id = uuid::Uuid::parse_str(&session).expect("uuid");
    let (consultation, record) = runtime.block_on(async {
        let consultation = store
            .get_consultation(dasan_core::ConsultationId(id))
            .await
            .expect("read")
            .expect("the consultation is stored");
        let mut record = None;
        for _ in 0..100 {
            record = store.video_sessions(Some(id), 1).await.expect("read").pop();
            if record.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (consultation, record.expect("the session's record"))
    });
    assert_eq!(consultation.record.channel, Channel::Video);
    assert_eq!(consultation.record.summary, "수어 통역 지원 안내");
    assert_eq!(record.outcome, "completed");
    assert_eq!(record.ended_by, "citizen");
    assert_eq!((record.chat_from_citizen, record.chat_from_agent), (1, 1));
    for (who, quality) in [
        ("citizen", &record.citizen_quality),
        ("agent", &record.agent_quality),
    ] {
        let quality = quality
            .as_ref()
            .unwrap_or_else(|| panic!("{who}: no figures"));
        assert!(quality.frames_decoded > 0, "{who}: {quality:?}");
        assert!(quality.packets_received > 0, "{who}: {quality:?}");
        assert!(quality.connect_ms.is_some(), "{who}: {quality:?}");
    }
    let mut offered = Vec::new();
    while let Ok(notice) = notices.try_recv() {
        if let dasan_web::floor::OfferNotice::Offered { agent, .. } = notice {
            offered.push(agent);
        }
    }
    assert_eq!(
        offered,
        vec![signer_id],
        "offered to the signing agent only"
    );
    assert!(!offered.contains(&plain));
    let setup = record.setup_ms().expect("setup time");
    eprintln!("video: click to connected {setup} ms (bounded by the test's own waits)");
    drop(citizen);
    drop(agent);
    drop(center);
    drop(runtime);
}
