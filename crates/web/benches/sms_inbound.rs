//! Inbound texts accepted durably per second: signed Twilio-style webhooks
//! over real HTTP on loopback, each answered 200 only after its message is
//! stored (and threaded on the floor), at 1, 8 and 64 concurrent gateway
//! connections; against the store's own `insert_message` by one writer in
//! the same run. SQLite always; PostgreSQL when DASAN_TEST_PG_URL is set.
//!
//! Run: `cargo bench -p dasan-web --bench sms_inbound`
//! (`DASAN_BENCH_REQUESTS` sets the webhooks per run, default 4000.)

use std::{net::SocketAddr, time::Instant};

use dasan_core::{PhoneNumber, Timestamp, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Direction, MessageRecord, Store};
use dasan_web::{
    AppState,
    sms::{SmsConfig, twilio_signature},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const TOKEN: &str = "bench-token";

/// One keep-alive connection posting `count` webhooks, message ids
/// `first..first + count`, each from its own citizen (a new thread each).
async fn gateway(address: SocketAddr, first: usize, count: usize) -> usize {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let url = format!("http://{address}/webhooks/sms/twilio");
    let mut accepted = 0;
    let mut buffer = Vec::with_capacity(4096);
    for n in first..first + count {
        let params: Vec<(String, String)> = vec![
            ("MessageSid".into(), format!("SMbench{n:08}")),
            (
                "From".into(),
                format!("010-{:04}-{:04}", 2000 + n / 10_000, n % 10_000),
            ),
            ("To".into(), "120".into()),
            ("Body".into(), "버스 정류장 위치가 바뀌었나요?".into()),
            ("NumMedia".into(), "0".into()),
        ];
        let signature = twilio_signature(TOKEN, &url, &params);
        let body = serde_urlencoded::to_string(&params).expect("form");
        let request = format!(
            "POST /webhooks/sms/twilio HTTP/1.1\r\nHost: {address}\r\nX-Twilio-Signature: {signature}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        buffer.clear();
        let head_end = loop {
            let mut chunk = [0u8; 2048];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "server closed the connection");
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("content-length");
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 2048];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "server closed the connection");
            buffer.extend_from_slice(&chunk[..n]);
        }
        if head.starts_with("http/1.1 200") {
            accepted += 1;
        }
    }
    accepted
}

async fn bench_engine(name: &str, store: AnyStore, requests: usize) {
    // Baseline: the store alone, one writer after another.
    let baseline_n = requests / 2;
    let now = Timestamp::from_datetime(chrono::Utc::now()).expect("now");
    let began = Instant::now();
    for n in 0..baseline_n {
        let record = MessageRecord {
            id: uuid::Uuid::now_v7(),
            gateway: "baseline".into(),
            gateway_message_id: Some(format!("B{n}")),
            direction: Direction::Inbound,
            citizen_phone: PhoneNumber::parse("010-1234-5678").expect("phone"),
            center_number: "120".into(),
            body: "버스 정류장 위치가 바뀌었나요?".into(),
            media_json: "[]".into(),
            interaction_id: None,
            status: "received".into(),
            kind: "sms".into(),
            cost_won: 0,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        assert!(store.insert_message(&record).await.expect("stored"));
    }
    let baseline = baseline_n as f64 / began.elapsed().as_secs_f64();
    println!("{name}: store.insert_message, 1 writer: {baseline:.0}/s ({baseline_n} messages)");

    let mut sms = SmsConfig::new();
    sms.twilio_auth_token = Some(TOKEN.into());
    let state = AppState::load(store, SEOUL)
        .await
        .expect("state")
        .with_sms(sms);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(dasan_web::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let mut next = 0;
    for concurrency in [1usize, 8, 64] {
        let per_client = requests / concurrency;
        let began = Instant::now();
        let clients: Vec<_> = (0..concurrency)
            .map(|c| tokio::spawn(gateway(address, next + c * per_client, per_client)))
            .collect();
        next += concurrency * per_client;
        let mut accepted = 0;
        for c in clients {
            accepted += c.await.expect("client");
        }
        let seconds = began.elapsed().as_secs_f64();
        assert_eq!(
            accepted,
            per_client * concurrency,
            "every webhook must be accepted"
        );
        let rate = accepted as f64 / seconds;
        println!(
            "{name}: POST /webhooks/sms/twilio, {concurrency:>2} connections: {rate:.0}/s ({accepted} in {seconds:.2} s; {:.2}x the 1-writer store baseline)",
            rate / baseline
        );
    }
    let _ = stop.send(());
    let _ = server.await;
}

fn main() {
    let requests: usize = std::env::var("DASAN_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("bench.db")))
            .await
            .expect("sqlite");
        bench_engine("sqlite", store, requests).await;
        match std::env::var("DASAN_TEST_PG_URL") {
            Ok(admin) => {
                let url = dasan_store::postgres::create_test_database(&admin)
                    .await
                    .expect("database");
                let store = AnyStore::open(&DatabaseUrl::Postgres(url))
                    .await
                    .expect("postgres");
                bench_engine("postgres", store, requests).await;
            }
            Err(_) => println!(
                "postgres: skipped (set DASAN_TEST_PG_URL, e.g. via scripts/with-postgres)"
            ),
        }
    });
}
