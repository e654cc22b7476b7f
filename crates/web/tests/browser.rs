//! The pages in a real headless Chromium, driven over WebDriver
//! (chromedriver): a supervisor signs in through the form, lands on the
//! reports, sees the charts and numbers; screenshots are kept in
//! `CARGO_TARGET_TMPDIR`; an axe-core scan of the sign-in and reports pages
//! finds no serious or critical violation.
//!
//! Needs `chromium`, `chromium-driver` and axe-core (`scripts/install-test-deps`
//! installs them). Without them the test says so and passes, unless
//! `DASAN_REQUIRE_BROWSER=1` (set by `scripts/test`) makes that a failure.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Command,
    time::Duration,
};

use dasan_core::{Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{AppState, session::create_user};
use serde_json::{Value, json};

#[path = "support/webdriver.rs"]
mod webdriver;
use webdriver::{axe_source, missing, start_driver};

#[test]
fn a_supervisor_signs_in_and_reads_the_reports_in_chromium() {
    let have = |program: &str| {
        Command::new(program)
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

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (address, _shutdown) = runtime.block_on(async {
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
            .await
            .expect("store");
        create_user(&store, "kim", "김감독", Role::Supervisor, "correct horse 1")
            .await
            .expect("user");
        // A little history so every chart has bars.
        let taxonomy = dasan_core::Taxonomy::seed();
        let base = dasan_core::Timestamp::parse_rfc3339("2026-10-01T09:00:00+09:00")
            .expect("time")
            .millis();
        let records: Vec<_> = (0..500u64)
            .map(|n| {
                let start =
                    dasan_core::Timestamp::from_millis(base + n as i64 * 7_200_000).expect("time");
                let mut random = [0u8; 10];
                random[2..].copy_from_slice(&n.to_be_bytes());
                dasan_core::NewConsultation::from_parts(
                    dasan_core::ConsultationId::v7(start, random),
                    [dasan_core::Channel::Voice, dasan_core::Channel::Sms][n as usize % 2],
                    taxonomy
                        .resolve(["transport.taxi", "water.bill", "welfare"][n as usize % 3])
                        .expect("code"),
                    dasan_core::PhoneNumber::parse(&format!("010-4{:03}-{:04}", n % 7, n))
                        .expect("phone"),
                    None,
                    start,
                    dasan_core::Timestamp::from_millis(start.millis() + 180_000).expect("time"),
                    "상담".into(),
                    dasan_core::Outcome::Answered,
                    None,
                )
                .expect("valid")
            })
            .collect();
        store
            .record_consultations_bulk(records)
            .await
            .expect("bulk");
        let state = AppState::load(store, SEOUL).await.expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(dasan_web::serve(listener, state, async {
            let _ = stopped.await;
        }));
        (address, stop)
    });
    let base = format!("http://{address}");

    let profile = tempfile::tempdir().expect("profile dir");
    let driver = start_driver(profile.path());
    driver.cmd("POST", "/url", Some(json!({"url": format!("{base}/")})));
    let source = driver.cmd("GET", "/source", None);
    assert!(
        source.as_str().expect("html").contains("lang=\"ko\""),
        "the sign-in page is Korean by default"
    );
    let violations = driver.serious_violations(&axe);
    assert!(violations.is_empty(), "sign-in page: {violations:?}");
    driver.screenshot("signin.png");

    let username = driver.find("#username");
    driver.cmd(
        "POST",
        &format!("/element/{username}/value"),
        Some(json!({"text": "kim"})),
    );
    let password = driver.find("#password");
    driver.cmd(
        "POST",
        &format!("/element/{password}/value"),
        Some(json!({"text": "correct horse 1"})),
    );
    let submit = driver.find("button[type=submit]");
    driver.cmd("POST", &format!("/element/{submit}/click"), Some(json!({})));

    let url = driver.cmd("GET", "/url", None);
    assert!(
        url.as_str().expect("url").ends_with("/wallboard?lang=ko"),
        "a supervisor lands on the wallboard: {url}"
    );
    driver.cmd(
        "POST",
        "/url",
        Some(json!({"url": format!("{base}/reports")})),
    );
    // The navigation may still be settling when several browsers share the
    // machine: wait for the page rather than read it at once.
    driver.wait_until(
        "the reports page",
        "document.getElementById('total') !== null",
    );
    let page = driver.cmd("GET", "/source", None);
    assert!(
        page.as_str().unwrap_or_default().contains("id=\"total\""),
        "reports page: {page}"
    );
    let total = driver.find("#total");
    let text = driver.cmd("GET", &format!("/element/{total}/text"), None);
    assert_eq!(text, json!("500"));
    let charts = driver.cmd(
        "POST",
        "/elements",
        Some(json!({"using": "css selector", "value": "figure svg"})),
    );
    assert_eq!(
        charts.as_array().map(Vec::len),
        Some(dasan_web::REPORTS.len()),
        "a chart per report"
    );
    // The bars really have size in the rendered page.
    let height = driver.cmd(
        "POST",
        "/execute/sync",
        Some(json!({"script": "return document.querySelector('#monthly').parentElement.querySelector('svg').getBoundingClientRect().height;", "args": []})),
    );
    assert!(
        height.as_f64().unwrap_or(0.0) > 50.0,
        "chart height {height}"
    );
    let violations = driver.serious_violations(&axe);
    assert!(violations.is_empty(), "reports page: {violations:?}");
    driver.screenshot("reports.png");

    // The English page through the switch link.
    let switch = driver.find("header a[lang=en]");
    driver.cmd("POST", &format!("/element/{switch}/click"), Some(json!({})));
    // The click returns once the navigation starts; wait for the new page.
    driver.wait_until(
        "the English reports",
        "document.documentElement.lang === 'en' && document.body.innerText.includes('Consultation reports')",
    );
    drop(driver);
    drop(runtime);
}

/// `POST` JSON with a bearer token over plain HTTP/1.1; answers the status
/// line and the body.
fn post_json(
    address: std::net::SocketAddr,
    path: &str,
    token: &str,
    body: &Value,
) -> (String, Value) {
    let payload = body.to_string();
    let mut stream = TcpStream::connect(address).expect("server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A Twilio-style inbound webhook, signed over the URL it is sent to.
fn post_twilio(address: std::net::SocketAddr, token: &str, params: &[(&str, &str)]) -> String {
    let path = "/webhooks/sms/twilio";
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signature =
        dasan_web::sms::twilio_signature(token, &format!("http://{address}{path}"), &owned);
    let body = serde_urlencoded::to_string(params).expect("form");
    let mut stream = TcpStream::connect(address).expect("server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nX-Twilio-Signature: {signature}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    response.lines().next().unwrap_or_default().to_owned()
}

const ENTER: &str = "\u{E007}";
const F2: &str = "\u{E032}";

#[test]
fn an_agent_takes_a_contact_while_a_supervisor_watches_live_in_chromium() {
    let have = |program: &str| {
        Command::new(program)
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (address, token, store, _stop) = runtime.block_on(async {
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
            .await
            .expect("store");
        create_user(&store, "kim", "김감독", Role::Supervisor, "correct horse 1")
            .await
            .expect("supervisor");
        create_user(&store, "lee", "이상담", Role::Agent, "battery staple 2")
            .await
            .expect("agent");
        let issued = dasan_web::auth::issue_token(Role::Admin, "ivr").expect("token");
        store
            .create_token(&issued.record, &issued.secret_hash)
            .await
            .expect("token stored");
        // The caller phoned before: the desktop shows that history.
        let taxonomy = dasan_core::Taxonomy::seed();
        let start =
            dasan_core::Timestamp::parse_rfc3339("2026-10-01T09:00:00+09:00").expect("time");
        let earlier = dasan_core::NewConsultation::from_parts(
            dasan_core::ConsultationId::v7(start, [7; 10]),
            dasan_core::Channel::Voice,
            taxonomy
                .resolve("water.outage")
                .or_else(|_| taxonomy.resolve("water"))
                .expect("code"),
            dasan_core::PhoneNumber::parse("010-2222-1200").expect("phone"),
            None,
            start,
            dasan_core::Timestamp::from_millis(start.millis() + 120_000).expect("time"),
            "단수 예정 안내".into(),
            dasan_core::Outcome::Answered,
            None,
        )
        .expect("valid");
        store.record_consultation(&earlier).await.expect("history");
        // An article in the contact's category: the desktop suggests it.
        let article = dasan_store::kb::ArticleInput {
            id: "kb-outage".into(),
            title: "단수 안내와 대처".into(),
            body: "공사로 물이 안 나올 때는 관할 수도사업소에 문의합니다.".into(),
            category: "water".into(),
            tags: vec![],
            status: dasan_store::kb::ArticleStatus::Published,
        };
        store
            .save_article(&article, "import", start, None)
            .await
            .expect("article");
        let mut sms = dasan_web::sms::SmsConfig::new();
        sms.twilio_auth_token = Some("browser-test-token".into());
        let state = AppState::load(store.clone(), SEOUL)
            .await
            .expect("state")
            .with_sms(sms);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(dasan_web::serve(listener, state, async {
            let _ = stopped.await;
        }));
        (address, issued.secret, store, stop)
    });
    let base = format!("http://{address}");

    // Two browsers, two profiles: the supervisor's and the agent's.
    let supervisor_profile = tempfile::tempdir().expect("profile");
    let supervisor = start_driver(supervisor_profile.path());
    supervisor.sign_in_at(&format!("{base}/wallboard"), "kim", "correct horse 1");
    let url = supervisor.cmd("GET", "/url", None);
    assert!(url.as_str().expect("url").contains("/wallboard"), "{url}");
    supervisor.wait_until(
        "the wallboard's first event",
        "document.body.dataset.live === 'connected'",
    );
    // Marks this page load: if the page reloaded, the mark would be gone.
    supervisor.eval("(window.__sameLoad = true)");

    let agent_profile = tempfile::tempdir().expect("profile");
    let agent = start_driver(agent_profile.path());
    agent.sign_in_at(&format!("{base}/desktop"), "lee", "battery staple 2");
    agent.wait_until(
        "the desktop's first event",
        "document.body.dataset.live === 'connected'",
    );
    assert_eq!(agent.eval("document.documentElement.lang"), json!("ko"));
    assert_eq!(
        agent.eval("document.getElementById('presence').textContent"),
        json!("업무 종료")
    );
    supervisor.wait_until(
        "the agent on the wallboard",
        "document.querySelector('#agents tbody td[data-presence]')?.dataset.presence === 'offline'",
    );
    let violations = agent.serious_violations(&axe);
    assert!(violations.is_empty(), "desktop: {violations:?}");

    // Keyboard only: F2 makes the agent available.
    agent.press(F2);
    agent.wait_until(
        "available",
        "document.getElementById('presence').textContent === '상담 대기'",
    );
    supervisor.wait_until(
        "available on the wallboard",
        "document.querySelector('#agent-states [data-state=available]').textContent.endsWith(': 1')",
    );

    // A call arrives through the API (as the IVR would queue it).
    let (status, interaction) = post_json(
        address,
        "/api/v1/interactions",
        &token,
        &json!({"channel":"voice","citizen_phone":"010-2222-1200","category":"water","priority":0}),
    );
    assert!(status.contains(" 201 "), "{status} {interaction}");
    agent.wait_until("the offer", "!document.getElementById('offer').hidden");
    assert_eq!(
        agent.focused_id(),
        json!("accept"),
        "the offer takes the focus"
    );
    let left: u64 = agent
        .eval("document.getElementById('offer-countdown').textContent")
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a countdown");
    assert!((1..=20).contains(&left), "countdown {left}");
    supervisor.wait_until(
        "the offered agent and the ringing contact on the wallboard",
        "document.querySelector('#agent-states [data-state=reserved]').textContent.endsWith(': 1') && document.querySelector('#queues tbody [data-field=waiting]')?.textContent === '1'",
    );
    agent.screenshot("desktop-offer.png");
    supervisor.screenshot("wallboard-ringing.png");

    // Enter accepts; the history and the form appear, the form focused.
    agent.press(ENTER);
    agent.wait_until("the contact", "!document.getElementById('contact').hidden");
    agent.wait_until(
        "the citizen's history",
        "document.getElementById('history').innerText.includes('단수 예정 안내')",
    );
    // In the center's time (09:00 in Seoul), whatever the browser's zone.
    let history = agent.eval("document.getElementById('history').innerText");
    assert!(
        history.as_str().unwrap_or_default().contains("오전 9:00"),
        "{history}"
    );
    assert_eq!(agent.focused_id(), json!("category"));
    assert_eq!(
        agent.eval("document.getElementById('category').value"),
        json!("water"),
        "the IVR's choice is prefilled"
    );
    agent.wait_until(
        "an article suggested for the contact's category",
        "document.getElementById('kb-list-h').textContent === '이 상담에 맞는 글' && document.querySelector('#kb-results li button')?.textContent === '단수 안내와 대처'",
    );
    supervisor.wait_until(
        "busy and answered on the wallboard",
        "document.querySelector('#agent-states [data-state=busy]').textContent.endsWith(': 1') && document.querySelector('#queues tbody [data-field=answered]')?.textContent === '1' && document.querySelector('#queues tbody [data-field=waiting]')?.textContent === '0'",
    );
    let violations = agent.serious_violations(&axe);
    assert!(
        violations.is_empty(),
        "desktop with a contact: {violations:?}"
    );

    // The form, by keyboard: category (searchable list), summary, submit.
    agent.eval("(document.getElementById('category').value = '')");
    agent.press("water.bill");
    agent.press("\u{E004}"); // Tab to the summary
    assert_eq!(agent.focused_id(), json!("summary"));
    agent.press("수도 요금 고지서 재발급 안내");
    agent.screenshot("desktop-form.png");
    let chart_before = supervisor.eval("document.getElementById('chart').innerHTML");
    // Tab past the outcome (the department is disabled unless transferred)
    // to the submit button; Enter submits.
    agent.press("\u{E004}");
    assert_eq!(agent.focused_id(), json!("outcome"));
    agent.press("\u{E004}");
    assert_eq!(agent.focused_id(), json!("submit"));
    agent.press(ENTER);
    agent.wait_until("wrap-up", "!document.getElementById('wrapup').hidden");
    assert_eq!(agent.focused_id(), json!("ready"));
    let stored = runtime.block_on(async {
        store
            .get_consultation(dasan_core::ConsultationId(
                uuid::Uuid::parse_str(interaction["id"].as_str().expect("id")).expect("uuid"),
            ))
            .await
            .expect("read")
            .expect("stored")
    });
    assert_eq!(stored.record.category.as_str(), "water.bill");
    assert_eq!(stored.record.summary, "수도 요금 고지서 재발급 안내");
    supervisor.wait_until(
        "wrap-up on the wallboard",
        "document.querySelector('#agent-states [data-state=wrap_up]').textContent.endsWith(': 1')",
    );
    supervisor.wait_until(
        "today's chart counting the consultation",
        "[...document.querySelectorAll('#chart rect title')].reduce((n, t) => n + Number(t.textContent.split(': ')[1].replace(/,/g, '')), 0) === 1",
    );
    assert_ne!(
        supervisor.eval("document.getElementById('chart').innerHTML"),
        chart_before
    );

    // Enter on "ready": available again.
    agent.press(ENTER);
    agent.wait_until(
        "available again",
        "document.getElementById('presence').textContent === '상담 대기'",
    );
    supervisor.wait_until(
        "available again on the wallboard",
        "document.querySelector('#agent-states [data-state=available]').textContent.endsWith(': 1')",
    );
    assert_eq!(
        supervisor.eval("window.__sameLoad === true"),
        json!(true),
        "no reload"
    );
    let violations = supervisor.serious_violations(&axe);
    assert!(violations.is_empty(), "wallboard: {violations:?}");
    supervisor.screenshot("wallboard.png");
    agent.screenshot("desktop-available.png");

    // A reload keeps the state (it comes from the server, not the page).
    agent.cmd("POST", "/refresh", Some(json!({})));
    agent.wait_until(
        "the state after a reload",
        "document.getElementById('presence').textContent === '상담 대기'",
    );

    // A citizen texts: the thread is offered, the agent reads it and
    // replies from the desktop.
    let params = [
        ("MessageSid", "SM-browser-1"),
        ("From", "010-7777-1200"),
        ("To", "120"),
        ("Body", "택시에 우산을 두고 내렸어요"),
        ("NumMedia", "0"),
    ];
    let status = post_twilio(address, "browser-test-token", &params);
    assert!(status.contains(" 200 "), "{status}");
    agent.wait_until("the text offer", "!document.getElementById('offer').hidden");
    agent.press(ENTER);
    agent.wait_until(
        "the text thread",
        "document.getElementById('thread-messages').innerText.includes('택시에 우산을 두고 내렸어요')",
    );
    assert_eq!(
        agent.focused_id(),
        json!("reply"),
        "a text contact focuses the reply box"
    );
    agent.press("택시 번호를 아시면 알려 주세요.");
    let send = agent.find("#send");
    agent.cmd("POST", &format!("/element/{send}/click"), Some(json!({})));
    agent.wait_until(
        "the reply in the thread",
        "document.querySelectorAll('#thread-messages li.outbound').length === 1 && document.getElementById('thread-messages').innerText.includes('택시 번호를 아시면')",
    );
    let violations = agent.serious_violations(&axe);
    assert!(
        violations.is_empty(),
        "desktop with a text thread: {violations:?}"
    );
    agent.screenshot("desktop-text.png");
    drop(agent);
    drop(supervisor);
    drop(runtime);
}

#[test]
fn a_supervisor_writes_an_article_and_an_agent_finds_it_from_the_desktop_in_chromium() {
    let have = |program: &str| {
        Command::new(program)
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (address, _stop) = runtime.block_on(async {
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
            .await
            .expect("store");
        create_user(&store, "kim", "김감독", Role::Supervisor, "correct horse 1")
            .await
            .expect("supervisor");
        create_user(&store, "lee", "이상담", Role::Agent, "battery staple 2")
            .await
            .expect("agent");
        let sewage = dasan_store::kb::ArticleInput {
            id: "kb-sewage".into(),
            title: "하수도 사용료 부과 기준".into(),
            body: "하수도 사용료는 상수도 사용량을 기준으로 부과됩니다.".into(),
            category: "water.bill".into(),
            tags: vec![],
            status: dasan_store::kb::ArticleStatus::Published,
        };
        let at = dasan_core::Timestamp::parse_rfc3339("2026-11-01T09:00:00+09:00").expect("t");
        store
            .save_article(&sewage, "import", at, None)
            .await
            .expect("article");
        let state = AppState::load(store.clone(), SEOUL).await.expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(dasan_web::serve(listener, state, async {
            let _ = stopped.await;
        }));
        (address, stop)
    });
    let base = format!("http://{address}");

    // The supervisor writes an article on the knowledge-base page.
    let supervisor_profile = tempfile::tempdir().expect("profile");
    let supervisor = start_driver(supervisor_profile.path());
    supervisor.sign_in_at(&format!("{base}/kb"), "kim", "correct horse 1");
    supervisor.wait_until(
        "the article list",
        "document.querySelectorAll('#articles tbody tr').length === 1",
    );
    let violations = supervisor.serious_violations(&axe);
    assert!(violations.is_empty(), "kb page: {violations:?}");
    let field = supervisor.find("#a-title");
    supervisor.type_into(&field, "수도요금 조회 방법");
    supervisor.eval("(document.getElementById('a-category').value = 'water.bill')");
    let field = supervisor.find("#a-tags");
    supervisor.type_into(&field, "요금, 아리수");
    let field = supervisor.find("#a-body");
    supervisor.type_into(
        &field,
        "수도요금은 아리수 사이버고객센터에서 고객번호로 조회합니다.",
    );
    let save = supervisor.find("#save");
    supervisor.cmd("POST", &format!("/element/{save}/click"), Some(json!({})));
    supervisor.wait_until(
        "the saved article in the list",
        "document.querySelectorAll('#articles tbody tr').length === 2 && document.getElementById('editor-status').textContent.length > 0",
    );
    supervisor.wait_until(
        "its first version",
        "document.querySelectorAll('#versions li').length === 1",
    );
    supervisor.screenshot("kb-editor.png");

    // The agent finds it from the desktop by a colloquial word with a particle.
    let agent_profile = tempfile::tempdir().expect("profile");
    let agent = start_driver(agent_profile.path());
    agent.sign_in_at(&format!("{base}/desktop"), "lee", "battery staple 2");
    agent.wait_until(
        "the desktop's first event",
        "document.body.dataset.live === 'connected'",
    );
    let search = agent.find("#kb-q");
    agent.type_into(&search, "수도세를 조회하려면");
    agent.wait_until(
        "the results",
        "document.querySelector('#kb-results li button')?.textContent === '수도요금 조회 방법'",
    );
    assert_eq!(
        agent.eval("document.querySelector('#kb-results li mark')?.textContent"),
        json!("수도요금")
    );
    let violations = agent.serious_violations(&axe);
    assert!(
        violations.is_empty(),
        "desktop with results: {violations:?}"
    );
    let first = agent.find("#kb-results li button");
    agent.cmd("POST", &format!("/element/{first}/click"), Some(json!({})));
    agent.wait_until(
        "the article",
        "!document.getElementById('kb-article').hidden && document.getElementById('kb-article-body').textContent.includes('고객번호')",
    );
    assert_eq!(agent.focused_id(), json!("kb-back"));
    agent.screenshot("desktop-kb-article.png");
    agent.press(ENTER);
    agent.wait_until(
        "back to the list",
        "document.getElementById('kb-article').hidden && !document.getElementById('kb-results').hidden",
    );

    // Agents may not open the editing page.
    agent.cmd("POST", "/url", Some(json!({ "url": format!("{base}/kb") })));
    assert!(
        agent
            .eval("document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .contains("권한")
    );
}

#[test]
fn a_coordinator_enrols_a_senior_and_an_agent_makes_the_care_call_in_chromium() {
    use dasan_store::care::{CareKind, CareQuery};
    let have = |program: &str| {
        Command::new(program)
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let at = |text: &str| dasan_core::Timestamp::parse_rfc3339(text).expect("time");
    let clock = dasan_web::care::Clock::manual(at("2026-12-01T09:00:00+09:00"));
    let (address, state, store, _stop) = runtime.block_on(async {
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
            .await
            .expect("store");
        create_user(
            &store,
            "park",
            "박조정",
            Role::Coordinator,
            "correct horse 3",
        )
        .await
        .expect("coordinator");
        create_user(&store, "lee", "이상담", Role::Agent, "battery staple 2")
            .await
            .expect("agent");
        let config = dasan_web::care::CareConfig {
            clock: clock.clone(),
            ..Default::default()
        };
        let state = AppState::load(store.clone(), SEOUL)
            .await
            .expect("state")
            .with_care(config, false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(dasan_web::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        (address, state, store, stop)
    });
    let base = format!("http://{address}");

    // The coordinator enrols a senior on the care page (called every day).
    let coordinator_profile = tempfile::tempdir().expect("profile");
    let coordinator = start_driver(coordinator_profile.path());
    coordinator.sign_in_at(&format!("{base}/care"), "park", "correct horse 3");
    coordinator.wait_until("the care page", "!!document.getElementById('enrol-form')");
    let violations = coordinator.serious_violations(&axe);
    assert!(violations.is_empty(), "care page: {violations:?}");
    for (id, value) in [
        ("#s-name", "김복순"),
        ("#s-phone", "010-2468-1357"),
        ("#s-district", "마포구"),
        ("#s-hours", "10:00-17:00"),
        ("#s-notes", "고혈압 약 복용"),
    ] {
        let field = coordinator.find(id);
        coordinator.type_into(&field, value);
    }
    coordinator.eval("(document.getElementById('s-per-week').value = '7')");
    coordinator.eval("(document.getElementById('s-consent').checked = true)");
    let enrol = coordinator.find("#enrol-form button[type=submit]");
    coordinator.cmd("POST", &format!("/element/{enrol}/click"), Some(json!({})));
    coordinator.wait_until(
        "the senior on the roster",
        "document.querySelector('#roster tbody td')?.textContent === '김복순'",
    );
    coordinator.screenshot("care-roster.png");
    // Edited from the roster: the name opens the senior in the form.
    let open = coordinator.find("#roster tbody td button");
    coordinator.cmd("POST", &format!("/element/{open}/click"), Some(json!({})));
    coordinator.wait_until(
        "the senior in the form",
        "document.getElementById('s-phone').value === '+821024681357'",
    );
    coordinator.eval("(document.getElementById('s-hours').value = '09:30-17:00')");
    let save = coordinator.find("#s-save");
    coordinator.cmd("POST", &format!("/element/{save}/click"), Some(json!({})));
    coordinator.wait_until(
        "the new hours on the roster",
        "document.querySelectorAll('#roster tbody td')[3]?.textContent === '09:30-17:00'",
    );

    // The agent is available; the afternoon's call reaches the desktop.
    let agent_profile = tempfile::tempdir().expect("profile");
    let agent = start_driver(agent_profile.path());
    agent.sign_in_at(&format!("{base}/desktop"), "lee", "battery staple 2");
    agent.wait_until(
        "the desktop's first event",
        "document.body.dataset.live === 'connected'",
    );
    agent.press(F2);
    agent.wait_until(
        "available",
        "document.getElementById('presence').textContent === '상담 대기'",
    );
    clock.set(at("2026-12-01T16:40:00+09:00"));
    runtime
        .block_on(dasan_web::care::tick(&state))
        .expect("tick");
    agent.wait_until("the offer", "!document.getElementById('offer').hidden");
    agent.press(ENTER);
    agent.wait_until(
        "the care script",
        "!document.getElementById('care-panel').hidden && document.getElementById('care-script-senior').innerText.includes('고혈압 약 복용')",
    );
    assert_eq!(
        agent.eval("document.getElementById('consultation-form').hidden"),
        json!(true)
    );
    assert_eq!(agent.focused_id(), json!("care-outcome"));
    let violations = agent.serious_violations(&axe);
    assert!(
        violations.is_empty(),
        "desktop with a care call: {violations:?}"
    );
    agent.eval("(document.getElementById('care-health').value = 'fell')");
    let note = agent.find("#care-note");
    agent.type_into(&note, "어제 넘어지셨다고 함");
    agent.screenshot("desktop-care-call.png");
    let record = agent.find("#care-record");
    agent.cmd("POST", &format!("/element/{record}/click"), Some(json!({})));
    agent.wait_until("wrap-up", "!document.getElementById('wrapup').hidden");

    // The fall opened an escalation; the call is a care_call consultation.
    let (escalations, consultations) = runtime.block_on(async {
        let escalations = store
            .care_list(&CareQuery::all(CareKind::Escalation))
            .await
            .expect("escalations");
        let consultations = store
            .list_consultations(&Default::default(), None, 10)
            .await
            .expect("consultations");
        (escalations, consultations)
    });
    assert_eq!(escalations.len(), 1);
    assert!(escalations[0].body.contains("\"fell\""));
    assert_eq!(consultations.items.len(), 1);
    assert_eq!(
        consultations.items[0].record.channel,
        dasan_core::Channel::CareCall
    );
    assert!(
        consultations.items[0]
            .record
            .summary
            .contains("넘어지셨다고")
    );

    // The senior leaves the programme, from the roster.
    coordinator.cmd("POST", "/refresh", Some(json!({})));
    coordinator.wait_until(
        "the roster again",
        "document.querySelector('#roster tbody td button')?.textContent === '김복순'",
    );
    let open = coordinator.find("#roster tbody td button");
    coordinator.cmd("POST", &format!("/element/{open}/click"), Some(json!({})));
    let reason = coordinator.find("#s-exit-reason");
    coordinator.type_into(&reason, "요양원 입소");
    let exit = coordinator.find("#s-exit");
    coordinator.cmd("POST", &format!("/element/{exit}/click"), Some(json!({})));
    coordinator.wait_until(
        "an empty roster",
        "document.querySelectorAll('#roster tbody tr').length === 0",
    );
    coordinator.wait_until(
        "the escalation listed",
        "document.querySelectorAll('#escalations tbody tr').length === 1",
    );
}
