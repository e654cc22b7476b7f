//! How many consultations per second the API acknowledges (durably), over
//! real HTTP on loopback, at several client concurrencies; and the same
//! records written straight to the store, as the baseline the HTTP layer is
//! measured against. SQLite always; PostgreSQL when DASAN_TEST_PG_URL is set.
//!
//! Run: `cargo bench -p dasan-web --bench create_rate`
//! (`DASAN_BENCH_REQUESTS` sets the requests per run, default 4000.)

use std::{net::SocketAddr, sync::Arc, time::Instant};

use dasan_core::{
    Channel, ConsultationId, NewConsultation, Outcome, PhoneNumber, Role, Taxonomy, Timestamp,
    time::SEOUL,
};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{AppState, auth::issue_token};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const BODY: &str = r#"{"channel":"voice","category":"transport.transit","citizen_phone":"010-1234-5678","summary":"N26 심야버스 노선 안내","started_at":"2026-11-28T10:00:00+09:00","ended_at":"2026-11-28T10:03:10+09:00","outcome":"answered"}"#;

/// One keep-alive HTTP/1.1 connection posting consultations.
async fn client(address: SocketAddr, token: Arc<String>, requests: usize) -> usize {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let request = format!(
        "POST /api/v1/consultations HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut created = 0;
    let mut buffer = Vec::with_capacity(4096);
    for _ in 0..requests {
        stream.write_all(request.as_bytes()).await.expect("write");
        buffer.clear();
        // Read the head, then exactly Content-Length bytes of body.
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
        if head.starts_with("http/1.1 201") {
            created += 1;
        }
    }
    created
}

async fn bench_engine(name: &str, store: AnyStore, requests: usize) {
    let issued = issue_token(Role::Agent, "bench").expect("randomness");
    store
        .create_token(&issued.record, &issued.secret_hash)
        .await
        .expect("token");
    let token = Arc::new(issued.secret);

    // Baseline: the store alone, one writer after another.
    let taxonomy = Taxonomy::seed();
    let start = Timestamp::parse_rfc3339("2026-11-28T10:00:00+09:00").expect("valid");
    let end = Timestamp::parse_rfc3339("2026-11-28T10:03:10+09:00").expect("valid");
    let baseline_n = requests / 2;
    let began = Instant::now();
    for n in 0..baseline_n {
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&(n as u64).to_le_bytes());
        let record = NewConsultation::from_parts(
            ConsultationId::v7(
                Timestamp::from_datetime(chrono::Utc::now()).expect("now"),
                random,
            ),
            Channel::Voice,
            taxonomy.resolve("transport.transit").expect("known"),
            PhoneNumber::parse("010-1234-5678").expect("valid"),
            None,
            start,
            end,
            "N26 심야버스 노선 안내".into(),
            Outcome::Answered,
            None,
        )
        .expect("valid");
        store.record_consultation(&record).await.expect("stored");
    }
    let baseline = baseline_n as f64 / began.elapsed().as_secs_f64();
    println!("{name}: store.record_consultation, 1 writer: {baseline:.0}/s ({baseline_n} records)");

    let state = AppState::load(store, SEOUL).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(dasan_web::serve(listener, state, async {
        let _ = stopped.await;
    }));
    for concurrency in [1usize, 8, 64] {
        let per_client = requests / concurrency;
        let began = Instant::now();
        let clients: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(client(address, token.clone(), per_client)))
            .collect();
        let mut created = 0;
        for c in clients {
            created += c.await.expect("client");
        }
        let seconds = began.elapsed().as_secs_f64();
        assert_eq!(
            created,
            per_client * concurrency,
            "every request must be acknowledged"
        );
        let rate = created as f64 / seconds;
        println!(
            "{name}: POST /api/v1/consultations, {concurrency:>2} clients: {rate:.0}/s ({created} in {seconds:.2} s; {:.2}x the 1-writer store baseline)",
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
