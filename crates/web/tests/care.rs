//! The care-call programme over HTTP on a real SQLite store, with the
//! programme's clock injected: a simulated week of 300 seniors (plans, hours,
//! holidays, retries, escalations delivered to a signed webhook receiver on
//! loopback, department members' view, exits, notices, the week's figures),
//! and every refusal.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode, header},
    routing::post,
};
use chrono::{Datelike, Duration, NaiveDate, Timelike};
use dasan_core::{Role, Timestamp, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{
    AppState, app, auth,
    care::{self, CareConfig, Clock, webhook},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn send(
    app: &Router,
    who: &str,
    method: &str,
    uri: &str,
    body: Option<Body>,
    csv: bool,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", who);
    if body.is_some() {
        let kind = if csv { "text/csv" } else { "application/json" };
        request = request.header(header::CONTENT_TYPE, kind);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.unwrap_or_default()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The departments' webhook receiver: checks each signature, answers 503 to
/// the first delivery it ever sees, then 200; remembers what it accepted.
#[derive(Default)]
struct Receiver {
    accepted: Vec<(String, Value)>,
    refused: Vec<String>,
    bad_signatures: usize,
}

const SECRET: &str = "department-secret-0123456789";

async fn start_receiver() -> (SocketAddr, Arc<Mutex<Receiver>>) {
    let receiver = Arc::new(Mutex::new(Receiver::default()));
    let shared = receiver.clone();
    let app = Router::new().route(
        "/hook/{department}",
        post(
            move |axum::extract::Path(department): axum::extract::Path<String>,
                  headers: HeaderMap,
                  body: axum::body::Bytes| {
                let shared = shared.clone();
                async move {
                    let mut receiver = shared.lock().expect("receiver");
                    let signature = headers
                        .get("x-dasan-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let seconds: i64 = signature
                        .strip_prefix("t=")
                        .and_then(|s| s.split(',').next())
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    if webhook::signature(SECRET, seconds, &body) != signature {
                        receiver.bad_signatures += 1;
                        return StatusCode::UNAUTHORIZED;
                    }
                    let delivery = headers
                        .get("x-dasan-delivery")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    if receiver.accepted.is_empty() && receiver.refused.is_empty() {
                        receiver.refused.push(delivery);
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let payload: Value = serde_json::from_slice(&body).expect("JSON");
                    assert_eq!(payload["delivery_id"], json!(delivery));
                    receiver.accepted.push((department, payload));
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, receiver)
}

struct Programme {
    app: Router,
    state: AppState,
    store: AnyStore,
    clock: Clock,
    coordinator: String,
    agent: String,
    _dir: tempfile::TempDir,
}

async fn token(store: &AnyStore, role: Role) -> (String, uuid::Uuid) {
    let issued = auth::issue_token(role, "test").expect("token");
    store
        .create_token(&issued.record, &issued.secret_hash)
        .await
        .expect("stored");
    (format!("Bearer {}", issued.secret), issued.record.id)
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("time")
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

async fn programme(start: Timestamp, holidays: &[&str]) -> Programme {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
        .await
        .expect("store");
    let (coordinator, _) = token(&store, Role::Coordinator).await;
    let (agent, _) = token(&store, Role::Agent).await;
    let clock = Clock::manual(start);
    let config = CareConfig {
        holidays: holidays.iter().map(|d| date(d)).collect(),
        clock: clock.clone(),
        ..CareConfig::default()
    };
    let state = AppState::load(store.clone(), SEOUL)
        .await
        .expect("state")
        .with_care(config, false);
    Programme {
        app: app(state.clone()),
        state,
        store,
        clock,
        coordinator,
        agent,
        _dir: dir,
    }
}

impl Programme {
    async fn call(&self, who: &str, method: &str, uri: &str, body: Option<Value>) -> Reply {
        send(
            &self.app,
            who,
            method,
            uri,
            body.map(|b| Body::from(b.to_string())),
            false,
        )
        .await
    }

    async fn csv(&self, who: &str, text: &str) -> Reply {
        send(
            &self.app,
            who,
            "POST",
            "/api/v1/care/seniors/import",
            Some(Body::from(text.to_owned())),
            true,
        )
        .await
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn due(&self, day: NaiveDate) -> Vec<Value> {
        let reply = self
            .call(
                &self.agent,
                "GET",
                &format!("/api/v1/care/due?date={day}"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["calls"].as_array().expect("calls").clone()
    }
}

fn local(at: &str) -> chrono::DateTime<chrono_tz::Tz> {
    chrono::DateTime::parse_from_rfc3339(at)
        .expect("rfc3339")
        .with_timezone(&SEOUL)
}

fn minute_of(at: &str) -> u32 {
    let t = local(at);
    t.hour() * 60 + t.minute()
}

const DISTRICTS: [&str; 5] = ["종로구", "중구", "용산구", "성동구", "광진구"];
const HOURS: [(&str, u32, u32); 3] = [
    ("09:00-12:00", 540, 720),
    ("10:00-17:00", 600, 1020),
    ("14:00-18:00", 840, 1080),
];

/// What each simulated senior does when called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Never picks up: three tries, then an escalation.
    Silent,
    /// Reached, but has fallen: an escalation at once.
    Fell,
    /// Leaves the programme on Wednesday.
    Leaves,
    /// Busy on every first try, reached on the retry.
    BusyFirst,
    Fine,
}

fn kind_of(index: usize) -> Kind {
    match index % 50 {
        5 | 6 => Kind::Silent,
        13 => Kind::Fell,
        21 => Kind::Leaves,
        _ if index % 10 == 3 => Kind::BusyFirst,
        _ => Kind::Fine,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_week_of_300_seniors() {
    let (address, receiver) = start_receiver().await;
    // Sunday morning before the week; Wednesday 2 December is a holiday.
    let p = programme(ts("2026-11-29T08:00:00+09:00"), &["2026-12-02"]).await;
    let client = webhook::WebhookClient::new();

    for (n, district) in DISTRICTS.iter().enumerate() {
        for (prefix, kind) in [("do", "district_office"), ("hc", "health_center")] {
            let id = format!("{prefix}-{n}");
            let reply = p
                .call(
                    &p.coordinator,
                    "POST",
                    "/api/v1/care/departments",
                    Some(json!({
                        "id": id,
                        "name": format!("{district} {kind}"),
                        "kind": kind,
                        "district": district,
                        "webhook_url": format!("http://{address}/hook/{id}"),
                        "webhook_secret": SECRET,
                    })),
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            assert_eq!(reply.json()["webhook_secret_set"], json!(true));
        }
    }

    // The roster arrives as a CSV file (the district's office and health
    // center are found from the district).
    let mut csv = String::from(
        "name,phone,district,calls_per_week,birth_year,days,hours,consent_date,emergency_name,emergency_phone,emergency_relation\n",
    );
    for i in 0..300 {
        let (hours, _, _) = HOURS[i % 3];
        let days = if i % 4 == 0 { "mon,wed,fri" } else { "" };
        csv.push_str(&format!(
            "어르신{i},010-7{i:03}-{:04},{},{},{},\"{days}\",{hours},2026-11-20,보호자{i},010-5{i:03}-{:04},자녀\n",
            i * 7 % 10_000,
            DISTRICTS[i % 5],
            2 + i % 2,
            1935 + i % 20,
            i * 3 % 10_000,
        ));
    }
    let reply = p.csv(&p.coordinator, &csv).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.json()["imported"], json!(300));
    // Importing the same file again enrols nobody twice.
    let again = p.csv(&p.coordinator, &csv).await;
    assert_eq!(again.json()["imported"], json!(0), "{}", again.body);
    assert_eq!(again.json()["already_enrolled"], json!(300));

    let listed = p
        .call(&p.coordinator, "GET", "/api/v1/care/seniors", None)
        .await;
    let seniors: Vec<Value> = listed.json()["seniors"]
        .as_array()
        .expect("seniors")
        .clone();
    assert_eq!(seniors.len(), 300);
    let index_of = |senior: &Value| -> usize {
        senior["name"].as_str().expect("name")["어르신".len()..]
            .parse()
            .expect("index")
    };
    let by_id: BTreeMap<String, (usize, Value)> = seniors
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_owned(),
                (index_of(s), s.clone()),
            )
        })
        .collect();
    for (i, senior) in by_id.values() {
        let n = i % 5;
        assert_eq!(senior["district_office"], json!(format!("do-{n}")));
        assert_eq!(senior["health_center"], json!(format!("hc-{n}")));
        assert_eq!(senior["consent"]["date"], json!("2026-11-20"));
    }

    // A notice for two districts during the week.
    let notice = p
        .call(
            &p.coordinator,
            "POST",
            "/api/v1/care/notices",
            Some(json!({
                "title": "독감 예방접종",
                "body": "보건소에서 12월 4일까지 무료 접종",
                "districts": ["종로구", "중구"],
                "valid_from": "2026-11-30",
                "valid_to": "2026-12-04",
            })),
        )
        .await;
    assert_eq!(notice.status, StatusCode::CREATED, "{}", notice.body);
    let notice_id = notice.json()["id"].as_str().expect("id").to_owned();

    // A member of 종로구's district office (do-0), another of 중구's (do-1).
    let (office0, office0_id) = token(&p.store, Role::Department).await;
    let (office1, office1_id) = token(&p.store, Role::Department).await;
    for (department, member) in [("do-0", office0_id), ("do-1", office1_id)] {
        let reply = p
            .call(
                &p.coordinator,
                "POST",
                &format!("/api/v1/care/departments/{department}/members"),
                Some(json!({ "token_id": member })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    // The week: every ten minutes from Sunday 08:00 to the Monday after
    // (when the retries of Sunday's calls are made).
    let end = ts("2026-12-07T20:00:00+09:00");
    let mut outcomes: Vec<(String, Value, Timestamp)> = Vec::new();
    let mut left: BTreeMap<String, NaiveDate> = BTreeMap::new();
    let mut concern_opened: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut acknowledged = BTreeSet::new();
    let mut at = p.now();
    while at < end {
        p.clock.set(at);
        care::tick(&p.state).await.expect("tick");
        // Ticking again at the same moment changes nothing.
        care::tick(&p.state).await.expect("tick again");
        webhook::deliver_due(&p.state, &client)
            .await
            .expect("deliveries");
        let today = at.as_datetime().with_timezone(&SEOUL).date_naive();

        // Wednesday 09:00: the leavers exit the programme.
        if at == ts("2026-12-02T09:00:00+09:00") {
            for (id, (i, _)) in &by_id {
                if kind_of(*i) == Kind::Leaves {
                    let reply = p
                        .call(
                            &p.coordinator,
                            "POST",
                            &format!("/api/v1/care/seniors/{id}/exit"),
                            Some(json!({ "reason": "요양원 입소" })),
                        )
                        .await;
                    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                    left.insert(id.clone(), today);
                }
            }
        }

        // Calls are due only within the seniors' hours (09:00-18:00 here):
        // the agents' list is read in the daytime only.
        let hour = at.as_datetime().with_timezone(&SEOUL).hour();
        let daytime = (8..19).contains(&hour);
        let due_now = if daytime {
            p.due(today).await
        } else {
            Vec::new()
        };
        for call in due_now {
            let status = call["status"].as_str().expect("status");
            if !matches!(status, "open" | "queued")
                || ts(call["due_at"].as_str().expect("due")) > at
            {
                continue;
            }
            let senior_id = call["senior_id"].as_str().expect("senior").to_owned();
            let (i, _) = &by_id[&senior_id];
            let attempt = call["attempt"].as_u64().expect("attempt");
            let body = match kind_of(*i) {
                Kind::Silent => json!({ "outcome": "no_answer" }),
                Kind::BusyFirst if attempt == 1 => json!({ "outcome": "busy" }),
                Kind::Fell if !concern_opened.contains_key(&senior_id) => json!({
                    "outcome": "reached",
                    "check": { "health": "fell", "meals": "regular", "mood": "low", "note": "넘어져 허리 통증" },
                }),
                _ => json!({
                    "outcome": "reached",
                    "check": { "health": "good", "meals": "regular", "mood": "good", "note": "잘 지내심" },
                }),
            };
            let id = call["id"].as_str().expect("id").to_owned();
            let reply = p
                .call(
                    &p.agent,
                    "POST",
                    &format!("/api/v1/care/calls/{id}/outcome"),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let recorded = reply.json();
            if kind_of(*i) == Kind::Fell && !concern_opened.contains_key(&senior_id) {
                let escalation = &recorded["escalation"];
                assert_eq!(
                    escalation["department_id"],
                    json!(format!("hc-{}", i % 5)),
                    "a fall goes to the health center"
                );
                assert_eq!(escalation["opened_at"], json!(at.to_rfc3339()), "at once");
                concern_opened.insert(senior_id.clone(), at);
            }
            outcomes.push((id, call.clone(), at));
        }

        // Thursday noon: 종로구's office acknowledges its cases.
        if at == ts("2026-12-03T12:00:00+09:00") {
            let open = p
                .call(&office0, "GET", "/api/v1/care/escalations", None)
                .await;
            for escalation in open.json()["escalations"].as_array().expect("list") {
                let id = escalation["id"].as_str().expect("id");
                let reply = p
                    .call(
                        &office0,
                        "POST",
                        &format!("/api/v1/care/escalations/{id}/status"),
                        Some(json!({ "status": "acknowledged", "note": "방문 예정" })),
                    )
                    .await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                acknowledged.insert(id.to_owned());
            }
            assert!(!acknowledged.is_empty());
        }
        at = Timestamp::from_millis(at.millis() + 10 * 60_000).expect("time");
    }

    // Every call of the full week, read back day by day.
    let monday = date("2026-11-30");
    let mut week: Vec<Value> = Vec::new();
    for d in 0..7 {
        week.extend(p.due(monday + Duration::days(d)).await);
    }
    let planned: Vec<&Value> = week
        .iter()
        .filter(|c| c["kind"] == json!("planned"))
        .collect();
    let mut per_senior: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for call in &planned {
        per_senior
            .entry(call["senior_id"].as_str().expect("id"))
            .or_default()
            .push(call);
    }
    assert_eq!(per_senior.len(), 300, "every senior is planned");
    for (senior_id, calls) in &per_senior {
        let (i, senior) = &by_id[*senior_id];
        let n = 2 + i % 2;
        assert_eq!(calls.len(), n, "exactly {n} planned calls for senior {i}");
        let days: BTreeSet<&str> = calls
            .iter()
            .map(|c| c["day"].as_str().expect("day"))
            .collect();
        assert_eq!(days.len(), n, "on distinct days");
        assert!(!days.contains("2026-12-02"), "the holiday moved the call");
        let (_, start, end) = HOURS[i % 3];
        for call in calls {
            let minute = minute_of(call["due_at"].as_str().expect("due"));
            assert!(
                (start..end).contains(&minute),
                "within {}: {call}",
                senior["hours"]
            );
            if i % 4 == 0 && n == 3 {
                // Mon/Wed/Fri preferred; Wednesday's call moved off the holiday.
                let weekday = local(call["due_at"].as_str().expect("due"))
                    .weekday()
                    .num_days_from_monday();
                assert!(weekday != 2);
            }
            assert_eq!(call["attempt"], json!(1));
            assert_eq!(call["retry_of"], Value::Null);
        }
        if let Some(exit) = left.get(*senior_id) {
            for call in calls {
                let day = date(call["day"].as_str().expect("day"));
                if day >= *exit {
                    assert_eq!(call["status"], json!("cancelled"), "no call after the exit");
                }
            }
        }
    }
    // No call was made to anyone after they left.
    for (id, call, made_at) in &outcomes {
        if let Some(exit) = left.get(call["senior_id"].as_str().expect("senior")) {
            assert!(
                made_at.local_date(SEOUL) < *exit,
                "{id} made after the exit"
            );
        }
    }

    // Retries follow the policy: attempt + 1, naming the try they repeat,
    // two hours later within the hours or the next day's start, at most
    // three tries a day.
    let all_calls: BTreeMap<String, Value> = {
        let mut all = BTreeMap::new();
        for d in -1..9 {
            for call in p.due(monday + Duration::days(d)).await {
                all.insert(call["id"].as_str().expect("id").to_owned(), call);
            }
        }
        all
    };
    let mut retries = 0;
    for call in all_calls.values().filter(|c| c["kind"] == json!("retry")) {
        retries += 1;
        let previous = &all_calls[call["retry_of"].as_str().expect("retry of")];
        assert_eq!(
            call["attempt"],
            json!(previous["attempt"].as_u64().expect("n") + 1)
        );
        let (i, _) = &by_id[call["senior_id"].as_str().expect("senior")];
        let (_, start, end) = HOURS[i % 3];
        let tried = local(previous["done_at"].as_str().expect("done"));
        let due = local(call["due_at"].as_str().expect("due"));
        let same_day_ok = tried.hour() * 60 + tried.minute() + 120 < end;
        if due.date_naive() == tried.date_naive() {
            assert!(same_day_ok);
            assert_eq!((due - tried).num_minutes(), 120, "two hours later");
        } else {
            assert_eq!(due.date_naive(), tried.date_naive() + Duration::days(1));
            assert_eq!(
                due.hour() * 60 + due.minute(),
                start,
                "the next day's start"
            );
        }
        assert!((start..end).contains(&minute_of(call["due_at"].as_str().expect("due"))));
    }
    assert!(retries > 40, "busy seniors were retried: {retries}");
    let mut tries_per_day: BTreeMap<(String, NaiveDate), u32> = BTreeMap::new();
    for (_, call, made_at) in &outcomes {
        *tries_per_day
            .entry((
                call["senior_id"].as_str().expect("s").to_owned(),
                made_at.local_date(SEOUL),
            ))
            .or_default() += 1;
    }
    assert!(
        tries_per_day.values().all(|n| *n <= 3),
        "at most three tries a day"
    );

    // Escalations: each silent senior's third unanswered try escalated to
    // the district office; each fall to the health center.
    let escalations = p
        .call(
            &p.coordinator,
            "GET",
            "/api/v1/care/escalations?status=all",
            None,
        )
        .await;
    let escalations = escalations.json()["escalations"]
        .as_array()
        .expect("list")
        .clone();
    let opened: Vec<&str> = escalations
        .iter()
        .map(|e| e["opened_at"].as_str().expect("at"))
        .collect();
    let mut sorted = opened.clone();
    sorted.sort_by_key(|t| ts(t));
    assert_eq!(opened, sorted, "oldest first");
    let silent: BTreeSet<&String> = by_id
        .iter()
        .filter(|(_, (i, _))| kind_of(*i) == Kind::Silent)
        .map(|(id, _)| id)
        .collect();
    for escalation in &escalations {
        let senior = escalation["senior_id"].as_str().expect("senior").to_owned();
        let (i, _) = &by_id[&senior];
        match kind_of(*i) {
            Kind::Silent => {
                assert_eq!(escalation["reasons"], json!(["unanswered"]));
                assert_eq!(escalation["department_id"], json!(format!("do-{}", i % 5)));
                // The k-th escalation of a senior who never answers is at
                // the senior's (3k)-th try: three consecutive failures each.
                let call_id = escalation["call_id"].as_str().expect("call");
                let tries: Vec<&String> = outcomes
                    .iter()
                    .filter(|(_, c, _)| c["senior_id"] == json!(senior))
                    .map(|(id, _, _)| id)
                    .collect();
                let position = tries.iter().position(|id| *id == call_id).expect("a try") + 1;
                let k = escalations
                    .iter()
                    .filter(|e| e["senior_id"] == json!(senior))
                    .position(|e| e["id"] == escalation["id"])
                    .expect("listed")
                    + 1;
                assert_eq!(position, 3 * k, "after three consecutive failures");
            }
            Kind::Fell => assert_eq!(escalation["reasons"], json!(["fell"])),
            other => panic!("{other:?} escalated: {escalation}"),
        }
    }
    let silent_escalated: BTreeSet<String> = escalations
        .iter()
        .filter(|e| e["reasons"] == json!(["unanswered"]))
        .map(|e| e["senior_id"].as_str().expect("s").to_owned())
        .collect();
    assert_eq!(
        silent_escalated.len(),
        silent.len(),
        "every silent senior escalated"
    );
    assert_eq!(concern_opened.len(), 6);

    // The receiver got each escalation, signed, at its department; the
    // first attempt it refused was delivered again with the same id.
    let received = {
        let guard = receiver.lock().expect("receiver");
        Receiver {
            accepted: guard.accepted.clone(),
            refused: guard.refused.clone(),
            bad_signatures: guard.bad_signatures,
        }
    };
    assert_eq!(received.bad_signatures, 0);
    assert_eq!(received.refused.len(), 1);
    assert!(
        received
            .accepted
            .iter()
            .any(|(_, p)| p["delivery_id"] == json!(received.refused[0]))
    );
    for escalation in &escalations {
        let id = escalation["id"].as_str().expect("id");
        let deliveries: Vec<&(String, Value)> = received
            .accepted
            .iter()
            .filter(|(_, p)| p["escalation"]["id"] == json!(id))
            .collect();
        assert!(!deliveries.is_empty(), "{id} delivered");
        assert!(deliveries.iter().all(
            |(department, _)| Some(department.as_str()) == escalation["department_id"].as_str()
        ));
        let senior = &by_id[escalation["senior_id"].as_str().expect("s")].1;
        assert_eq!(
            deliveries[0].1["escalation"]["senior"]["phone"],
            senior["phone"]
        );
        // Unacknowledged ones were sent again; acknowledged ones stopped.
        if acknowledged.contains(id) {
            assert_eq!(escalation["status"], json!("acknowledged"));
        } else if ts(escalation["opened_at"].as_str().expect("t")).millis()
            < end.millis() - 6 * 3_600_000
        {
            assert!(deliveries.len() >= 2, "{id} re-sent while unacknowledged");
            assert_eq!(escalation["status"], json!("sent"));
        }
    }

    // The emergency contacts were texted (through the SMS outbox).
    for escalation in escalations.iter().take(3) {
        let (i, _) = &by_id[escalation["senior_id"].as_str().expect("s")];
        let contact = dasan_core::PhoneNumber::parse(&format!("010-5{i:03}-{:04}", i * 3 % 10_000))
            .expect("phone");
        let texts = p
            .store
            .messages_for_citizen(&contact, 10)
            .await
            .expect("messages");
        assert_eq!(texts.len(), 1, "one text per escalation");
        assert_eq!(escalation["contacts_notified"], json!(1));
        assert!(texts[0].body.contains(&format!("어르신{i}")));
    }

    // Department members see only their department's cases and seniors.
    let mine = p
        .call(&office1, "GET", "/api/v1/care/escalations?status=all", None)
        .await;
    let mine = mine.json()["escalations"].as_array().expect("list").clone();
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|e| e["department_id"] == json!("do-1")));
    let theirs = escalations
        .iter()
        .find(|e| e["department_id"] == json!("do-0"))
        .expect("a do-0 case");
    let refused = p
        .call(
            &office1,
            "POST",
            &format!(
                "/api/v1/care/escalations/{}/status",
                theirs["id"].as_str().expect("id")
            ),
            Some(json!({ "status": "resolved" })),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::NOT_FOUND,
        "another department's case"
    );
    let roster = p.call(&office1, "GET", "/api/v1/care/seniors", None).await;
    let roster = roster.json()["seniors"]
        .as_array()
        .expect("seniors")
        .clone();
    assert!(!roster.is_empty());
    assert!(roster.iter().all(|s| s["district"] == json!("중구")));
    let other_senior = by_id
        .iter()
        .find(|(_, (i, _))| i % 5 == 0)
        .expect("종로구")
        .0;
    let hidden = p
        .call(
            &office1,
            "GET",
            &format!("/api/v1/care/seniors/{other_senior}"),
            None,
        )
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    // The notice reached exactly the 종로구 and 중구 seniors reached in its days.
    let notices = p
        .call(&p.coordinator, "GET", "/api/v1/care/notices", None)
        .await;
    let reached: BTreeSet<String> = notices.json()["notices"][0]["reached_seniors"]
        .as_array()
        .expect("reached")
        .iter()
        .map(|s| s.as_str().expect("id").to_owned())
        .collect();
    assert!(!reached.is_empty());
    for id in &reached {
        let district = by_id[id].1["district"]
            .as_str()
            .expect("district")
            .to_owned();
        assert!(district == "종로구" || district == "중구", "{district}");
    }
    assert_eq!(notices.json()["notices"][0]["id"], json!(notice_id));

    // The week's figures agree with the calls.
    let report = p
        .call(
            &p.coordinator,
            "GET",
            "/api/v1/care/report?week=2026-12-02",
            None,
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let report = report.json();
    let expected_uncovered = by_id
        .values()
        .filter(|(i, _)| kind_of(*i) == Kind::Silent)
        .count() as u64;
    assert_eq!(report["seniors_scheduled"], json!(300));
    assert_eq!(report["seniors_covered"], json!(300 - expected_uncovered));
    let made_in_week: Vec<&(String, Value, Timestamp)> = outcomes
        .iter()
        .filter(|(_, _, t)| (monday..monday + Duration::days(7)).contains(&t.local_date(SEOUL)))
        .collect();
    assert_eq!(report["tries"], json!(made_in_week.len()));
    let per_day: u64 = report["calls_per_day"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| d["tries"].as_u64().expect("n"))
        .sum();
    assert_eq!(per_day, made_in_week.len() as u64);
    assert!(report["answer_rate"].as_f64().expect("rate") < 1.0);
    assert!(report["escalations_opened"].as_u64().expect("n") >= silent.len() as u64);

    // Reading the roster left audit lines.
    let audit = p.store.audit_entries(10_000).await.expect("audit");
    assert!(audit.iter().any(|e| e.action == "care.senior.list"));
    assert!(audit.iter().any(|e| e.action == "care.due"));
    assert!(audit.iter().any(|e| e.action == "care.escalation.list"));
}

#[tokio::test]
async fn the_minimal_senior_and_every_refusal() {
    let p = programme(ts("2026-12-01T09:00:00+09:00"), &[]).await;
    let (supervisor, _) = token(&p.store, Role::Supervisor).await;
    let (department, _) = token(&p.store, Role::Department).await;

    // The least a coordinator gives: name, phone, district, calls a week.
    let reply = p
        .call(
            &p.coordinator,
            "POST",
            "/api/v1/care/seniors",
            Some(json!({"name":"김복순","phone":"010-2222-3333","district":"마포구","calls_per_week":3})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let senior = reply.json();
    let id = senior["id"].as_str().expect("id").to_owned();
    assert_eq!(senior["hours"], json!("10:00-17:00"));
    assert_eq!(
        senior["district_office"],
        Value::Null,
        "no department for 마포구 yet"
    );
    let again = p
        .call(
            &p.coordinator,
            "POST",
            "/api/v1/care/seniors",
            Some(json!({"name":"김복순","phone":"01022223333","district":"마포구","calls_per_week":2})),
        )
        .await;
    assert_eq!(
        (again.status, again.code().as_str()),
        (StatusCode::CONFLICT, "already_enrolled")
    );

    // Planned for the next 14 days; a later day's call can be recorded early.
    let mut later = Vec::new();
    for d in 7..14 {
        later.extend(p.due(date("2026-12-01") + Duration::days(d)).await);
    }
    assert_eq!(
        later.len(),
        3,
        "three in the full week after next: {later:?}"
    );
    let early = later[0]["id"].as_str().expect("id").to_owned();
    let reply = p
        .call(
            &p.agent,
            "POST",
            &format!("/api/v1/care/calls/{early}/outcome"),
            Some(json!({"outcome":"reached","check":{"health":"good","note":"미리 통화"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["escalation"], Value::Null);
    let twice = p
        .call(
            &p.agent,
            "POST",
            &format!("/api/v1/care/calls/{early}/outcome"),
            Some(json!({"outcome":"reached"})),
        )
        .await;
    assert_eq!(
        (twice.status, twice.code().as_str()),
        (StatusCode::CONFLICT, "call_closed")
    );
    let script = p
        .call(
            &p.agent,
            "GET",
            &format!("/api/v1/care/calls/{early}"),
            None,
        )
        .await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(script.json()["senior"]["name"], json!("김복순"));
    assert_eq!(script.json()["last_calls"][0]["note"], json!(""));
    assert_eq!(
        script.json()["last_calls"][0]["check"]["note"],
        json!("미리 통화")
    );

    // A request for medical counselling becomes a call for an agent with
    // the medical skill, put on the floor at the next tick.
    let third = later[2]["id"].as_str().expect("id").to_owned();
    let reply = p
        .call(
            &p.agent,
            "POST",
            &format!("/api/v1/care/calls/{third}/outcome"),
            Some(json!({"outcome":"reached","check":{"needs":["medical_counselling"],"note":"혈압약 문의"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let follow_up = reply.json()["follow_up"].clone();
    assert_eq!(follow_up["kind"], json!("medical"));
    // Not before the senior's hours (10:00-17:00).
    care::tick(&p.state).await.expect("tick");
    let waiting = p
        .call(
            &p.agent,
            "GET",
            &format!(
                "/api/v1/care/calls/{}",
                follow_up["id"].as_str().expect("id")
            ),
            None,
        )
        .await;
    assert_eq!(waiting.json()["call"]["status"], json!("open"));
    p.clock.set(ts("2026-12-01T10:30:00+09:00"));
    care::tick(&p.state).await.expect("tick");
    let medical = p
        .call(
            &p.agent,
            "GET",
            &format!(
                "/api/v1/care/calls/{}",
                follow_up["id"].as_str().expect("id")
            ),
            None,
        )
        .await;
    let call = medical.json()["call"].clone();
    assert_eq!(call["status"], json!("queued"), "{call}");
    let interaction: uuid::Uuid = call["interaction_id"]
        .as_str()
        .expect("on the floor")
        .parse()
        .expect("uuid");
    let on_floor = p.state.floor.interaction(interaction).expect("queued");
    assert_eq!(on_floor.required_skills, ["medical"]);
    assert_eq!(on_floor.channel, dasan_core::Channel::CareCall);
    let script = p
        .call(
            &p.agent,
            "GET",
            &format!("/api/v1/care/interactions/{interaction}"),
            None,
        )
        .await;
    assert_eq!(script.json()["call"]["id"], follow_up["id"]);

    // Bad input: a clear 4xx each, nothing stored.
    let open_id = later[1]["id"].as_str().expect("id").to_owned();
    let outcome_uri = format!("/api/v1/care/calls/{open_id}/outcome");
    let exit_uri = format!("/api/v1/care/seniors/{id}/exit");
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<Value>,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/seniors",
            Some(json!({"name":"","phone":"010-1111-2222","district":"중구","calls_per_week":2})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/seniors",
            Some(json!({"name":"가","phone":"12","district":"중구","calls_per_week":2})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
        ),
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/seniors",
            Some(json!({"name":"가","phone":"010-1111-2222","district":"중구","calls_per_week":0})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/seniors",
            Some(
                json!({"name":"가","phone":"010-1111-2222","district":"중구","calls_per_week":2,"hours":"18:00-09:00"}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/seniors",
            Some(
                json!({"name":"가","phone":"010-1111-2222","district":"중구","calls_per_week":2,"district_office":"nowhere"}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_department",
        ),
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/seniors",
            Some(
                json!({"name":"가","phone":"010-1111-2222","district":"중구","calls_per_week":2,"shoe_size":270}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/departments",
            Some(json!({"name":"x","kind":"castle"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/departments",
            Some(json!({"name":"x","kind":"other","webhook_url":"ftp://x"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            &p.agent,
            "POST",
            "/api/v1/care/seniors",
            Some(json!({"name":"가","phone":"010-1111-2222","district":"중구","calls_per_week":2})),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &supervisor,
            "GET",
            "/api/v1/care/seniors",
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &department,
            "GET",
            "/api/v1/care/seniors",
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &department,
            "GET",
            "/api/v1/care/escalations",
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &p.agent,
            "GET",
            "/api/v1/care/due?date=2027-01-30",
            None,
            StatusCode::BAD_REQUEST,
            "out_of_range",
        ),
        (
            &p.agent,
            "GET",
            "/api/v1/care/due?date=tomorrow",
            None,
            StatusCode::BAD_REQUEST,
            "invalid_date",
        ),
        (
            &p.agent,
            "POST",
            &outcome_uri,
            Some(json!({"outcome":"gone"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            &p.agent,
            "POST",
            &outcome_uri,
            Some(json!({"outcome":"no_answer","check":{"health":"fell"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            &p.agent,
            "POST",
            &outcome_uri,
            Some(json!({"outcome":"reached","check":{"needs":["lottery"]}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            &p.agent,
            "POST",
            "/api/v1/care/calls/nope/outcome",
            Some(json!({"outcome":"reached"})),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/escalations/nope/status",
            Some(json!({"status":"resolved"})),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &p.coordinator,
            "POST",
            "/api/v1/care/notices",
            Some(json!({"title":"t","body":"b","valid_from":"2026-12-05","valid_to":"2026-12-01"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            &p.coordinator,
            "POST",
            &exit_uri,
            Some(json!({"reason":""})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
    ];
    for (who, method, uri, body, status, code) in cases {
        let reply = p.call(who, method, uri, body.clone()).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code.to_owned()),
            "{method} {uri} {body:?}: {}",
            reply.body
        );
    }
    let still_open = p
        .call(
            &p.agent,
            "GET",
            &format!("/api/v1/care/calls/{open_id}"),
            None,
        )
        .await;
    assert_eq!(still_open.json()["call"]["status"], json!("open"));

    // A CSV with a bad line stores nothing and names the line.
    let csv =
        "name,phone,district,calls_per_week\n이순자,010-3333-4444,중구,2\n박영수,010-5555,중구,2\n";
    let reply = p.csv(&p.coordinator, csv).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .expect("message")
            .contains("line 3"),
        "{}",
        reply.body
    );
    for bad in [
        "",
        "name,phone\n",
        "name,phone,district,calls_per_week,eyes\n",
        "name,phone,district,calls_per_week\n\"unclosed,1,2,3\n",
        "name,phone,district,calls_per_week\n가,010-1111-2222,중구\n",
    ] {
        let reply = p.csv(&p.coordinator, bad).await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (StatusCode::BAD_REQUEST, "invalid_csv"),
            "{bad:?}"
        );
    }
    let roster = p
        .call(&p.coordinator, "GET", "/api/v1/care/seniors", None)
        .await;
    assert_eq!(roster.json()["seniors"].as_array().expect("list").len(), 1);

    // Exit: the remaining calls are cancelled and no more are planned.
    let reply = p
        .call(
            &p.coordinator,
            "POST",
            &format!("/api/v1/care/seniors/{id}/exit"),
            Some(json!({"reason":"이사"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        p.state.floor.interaction(interaction).expect("kept").state
            == dasan_web::floor::InteractionState::Abandoned,
        "the queued call left the floor"
    );
    p.clock.set(ts("2026-12-02T09:00:00+09:00"));
    care::tick(&p.state).await.expect("tick");
    for d in 0..14 {
        for call in p.due(date("2026-12-01") + Duration::days(d)).await {
            assert!(
                call["status"] == json!("cancelled") || call["status"] == json!("done"),
                "{call}"
            );
        }
    }
    let again = p
        .call(
            &p.coordinator,
            "POST",
            &format!("/api/v1/care/seniors/{id}/exit"),
            Some(json!({"reason":"이사"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

/// GETs a page with a session cookie.
async fn page(app: &Router, cookie: Option<&str>, uri: &str) -> Reply {
    let mut request = Request::builder().uri(uri);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

#[tokio::test]
async fn the_care_page_shows_each_role_its_sections() {
    use dasan_store::SessionRecord;
    let p = programme(ts("2026-12-01T09:00:00+09:00"), &[]).await;
    let mut cookies = BTreeMap::new();
    for (name, role) in [
        ("coord", Role::Coordinator),
        ("agent", Role::Agent),
        ("super", Role::Supervisor),
        ("office", Role::Department),
    ] {
        let user = dasan_web::session::create_user(&p.store, name, name, role, "a long password")
            .await
            .expect("user");
        p.store
            .create_session(&SessionRecord {
                id_hash: auth::hash_secret(name),
                user_id: user.id,
                csrf_token: "csrf".into(),
                expires_at: ts("2099-01-01T00:00:00Z"),
            })
            .await
            .expect("session");
        cookies.insert(name, format!("dasan_session={name}"));
    }
    let sections = |body: &str| -> Vec<&str> {
        [
            "id=\"calls\"",
            "id=\"escalations\"",
            "id=\"roster\"",
            "id=\"enrol-form\"",
            "id=\"week\"",
        ]
        .into_iter()
        .filter(|s| body.contains(s))
        .collect()
    };
    let coordinator = page(&p.app, Some(&cookies["coord"]), "/care").await;
    assert_eq!(coordinator.status, StatusCode::OK);
    assert!(coordinator.body.contains(r#"<html lang="ko">"#));
    assert!(coordinator.body.contains("안부 전화"));
    assert!(
        coordinator
            .body
            .contains(r#"href="/care" aria-current="page""#)
    );
    assert_eq!(sections(&coordinator.body).len(), 5);
    let agent = page(&p.app, Some(&cookies["agent"]), "/care?lang=en").await;
    assert!(agent.body.contains("Calls of the day"));
    assert_eq!(sections(&agent.body), ["id=\"calls\""]);
    let supervisor = page(&p.app, Some(&cookies["super"]), "/care").await;
    assert_eq!(sections(&supervisor.body), ["id=\"week\""]);
    let office = page(&p.app, Some(&cookies["office"]), "/care").await;
    assert_eq!(
        sections(&office.body),
        ["id=\"escalations\"", "id=\"roster\""]
    );
    let anonymous = page(&p.app, None, "/care").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let script = page(&p.app, None, "/assets/care.js").await;
    assert!(script.body.contains("/api/v1/care/escalations"));
}
