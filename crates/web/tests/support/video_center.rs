//! A center for the video tests and the click-to-connected benchmark, run
//! inside the test's network namespace: Dasan on the namespace's address
//! with one signing agent (`signer`, password `correct horse 1`), the
//! Chromium flags a video call needs there, and a click helper. The crate
//! that includes it also includes `netns.rs` and `webdriver.rs` as `netns`
//! and `webdriver`.
#![allow(dead_code)]

use std::time::Duration;

use dasan_core::{AgentId, Channel, NewAgent, Role, Skill, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{AppState, floor::FloorConfig, session::create_user, video::VideoConfig};
use serde_json::json;

use crate::{netns, webdriver::Driver};

pub const PASSWORD: &str = "correct horse 1";

pub struct VideoCenter {
    pub address: std::net::SocketAddr,
    pub state: AppState,
    pub store: AnyStore,
    pub signer: uuid::Uuid,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// Starts Dasan on `runtime`, bound to the namespace's address (call from
/// a thread inside the namespace).
pub fn start(runtime: &tokio::runtime::Runtime, wrap_up_millis: u64) -> VideoCenter {
    let dir = tempfile::tempdir().expect("temp dir");
    runtime.block_on(async {
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
            .await
            .expect("store");
        let signer = create_user(&store, "signer", "최수어", Role::Agent, PASSWORD)
            .await
            .expect("user");
        let agent = NewAgent::new("최수어", [Skill::SignLanguage], Channel::ALL).expect("agent");
        store
            .create_agent(&agent, AgentId(signer.id))
            .await
            .expect("agent record");
        let config = FloorConfig {
            offer_timeout_millis: 600_000,
            wrap_up_millis,
            ..FloorConfig::default()
        };
        let state = AppState::load_with(store.clone(), SEOUL, config)
            .await
            .expect("state")
            .with_video(VideoConfig {
                record_after: Duration::from_millis(500),
                ..VideoConfig::default()
            });
        let listener = tokio::net::TcpListener::bind((netns::ADDRESS, 0))
            .await
            .expect("bind in the namespace");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(dasan_web::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        VideoCenter {
            address,
            state,
            store,
            signer: signer.id,
            _stop: stop,
            _dir: dir,
        }
    })
}

/// Chromium with a fake camera and microphone, allowed to use them on the
/// namespace's plain-HTTP origin, announcing its real address (no mDNS).
pub fn video_flags(origin: &str) -> Vec<String> {
    vec![
        "--use-fake-device-for-media-stream".into(),
        "--use-fake-ui-for-media-stream".into(),
        "--disable-features=WebRtcHideLocalIpsWithMdns".into(),
        "--autoplay-policy=no-user-gesture-required".into(),
        format!("--unsafely-treat-insecure-origin-as-secure={origin}"),
    ]
}

pub fn click(driver: &Driver, css: &str) {
    let element = driver.find(css);
    driver.cmd(
        "POST",
        &format!("/element/{element}/click"),
        Some(json!({})),
    );
}
