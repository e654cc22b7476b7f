//! The knowledge base over HTTP (through `oneshot`, on a real SQLite store):
//! articles written, versioned, searched at once after each edit, drafts kept
//! out of search, the synonym list edited and kept, the index rebuilt from the
//! store, suggestions by category, and every refusal and bad query.

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use dasan_core::{Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, SessionRecord, Store};
use dasan_web::{AppState, app, auth, session::create_user};
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
    auth: &[(&str, &str)],
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in auth {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(value) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).expect("request"))
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

async fn token(store: &AnyStore, role: Role) -> String {
    let issued = auth::issue_token(role, "test").expect("token");
    store
        .create_token(&issued.record, &issued.secret_hash)
        .await
        .expect("stored");
    format!("Bearer {}", issued.secret)
}

struct Kb {
    app: Router,
    store: AnyStore,
    admin: String,
    agent: String,
    _dir: tempfile::TempDir,
}

async fn kb() -> Kb {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
        .await
        .expect("store");
    let admin = token(&store, Role::Admin).await;
    let agent = token(&store, Role::Agent).await;
    let state = AppState::load(store.clone(), SEOUL).await.expect("state");
    Kb {
        app: app(state),
        store,
        admin,
        agent,
        _dir: dir,
    }
}

impl Kb {
    async fn call(&self, who: &str, method: &str, uri: &str, body: Option<Value>) -> Reply {
        send(&self.app, &[("authorization", who)], method, uri, body).await
    }

    async fn search(&self, q: &str) -> Vec<String> {
        let uri = format!("/api/v1/kb/search?q={}", urlencode(q));
        let reply = self.call(&self.agent, "GET", &uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["id"].as_str().expect("id").to_owned())
            .collect()
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn water_bill() -> Value {
    json!({
        "id": "kb-water-bill",
        "title": "수도요금 조회 방법",
        "body": "서울시 **수도요금**은 아리수 사이버고객센터에서 고객번호로 조회합니다.\n고객번호는 고지서 상단에 있습니다.",
        "category": "water.bill",
        "tags": ["요금조회"]
    })
}

fn sewage() -> Value {
    json!({
        "id": "kb-sewage",
        "title": "하수도 사용료 부과 기준",
        "body": "하수도 사용료는 상수도 사용량을 기준으로 부과됩니다.",
        "category": "water.bill"
    })
}

#[tokio::test]
async fn articles_are_written_versioned_searched_at_once_and_removed() {
    let kb = kb().await;
    let created = kb
        .call(&kb.admin, "POST", "/api/v1/kb/articles", Some(water_bill()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.json()["article"]["version"], 1);
    assert_eq!(
        kb.call(&kb.admin, "POST", "/api/v1/kb/articles", Some(sewage()))
            .await
            .status,
        StatusCode::CREATED
    );

    // Particles, no spaces, a colloquial word: the water-bill article first.
    for q in [
        "수도요금을 조회하려면",
        "수도요금조회",
        "수도세 얼마 나왔는지",
    ] {
        assert_eq!(
            kb.search(q).await.first().map(String::as_str),
            Some("kb-water-bill"),
            "{q}"
        );
    }
    assert_eq!(
        kb.search("하수도요금").await.first().map(String::as_str),
        Some("kb-sewage")
    );
    let reply = kb
        .call(
            &kb.agent,
            "GET",
            "/api/v1/kb/search?q=%EC%88%98%EB%8F%84%EC%9A%94%EA%B8%88&limit=1",
            None,
        )
        .await;
    let hits = reply.json()["hits"].as_array().expect("hits").clone();
    assert_eq!(hits.len(), 1);
    assert!(
        hits[0]["snippet"]
            .as_str()
            .expect("snippet")
            .contains("<mark>수도요금</mark>"),
        "{hits:?}"
    );
    assert!(hits[0]["score"].as_f64().expect("score") > 0.0);
    assert_eq!(hits[0]["title"], "수도요금 조회 방법");

    // An edit is searchable at once; its version is checked.
    let mut edit = water_bill();
    edit["title"] = json!("아리수 요금 조회");
    edit["version"] = json!(1);
    let updated = kb
        .call(
            &kb.admin,
            "PUT",
            "/api/v1/kb/articles/kb-water-bill",
            Some(edit.clone()),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.json()["article"]["version"], 2);
    assert_eq!(kb.search("아리수").await, vec!["kb-water-bill"]);
    let stale = kb
        .call(
            &kb.admin,
            "PUT",
            "/api/v1/kb/articles/kb-water-bill",
            Some(edit),
        )
        .await;
    assert_eq!(
        (stale.status, stale.code().as_str()),
        (StatusCode::CONFLICT, "version_conflict")
    );

    // A draft leaves the search and is hidden from agents, not from editors.
    let mut draft = water_bill();
    draft["status"] = json!("draft");
    assert_eq!(
        kb.call(
            &kb.admin,
            "PUT",
            "/api/v1/kb/articles/kb-water-bill",
            Some(draft)
        )
        .await
        .status,
        StatusCode::OK
    );
    assert!(
        !kb.search("수도요금 조회")
            .await
            .contains(&"kb-water-bill".to_owned())
    );
    assert_eq!(
        kb.call(&kb.agent, "GET", "/api/v1/kb/articles/kb-water-bill", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        kb.call(&kb.admin, "GET", "/api/v1/kb/articles/kb-water-bill", None)
            .await
            .json()["article"]["status"],
        "draft"
    );
    let listed = kb
        .call(&kb.agent, "GET", "/api/v1/kb/articles", None)
        .await
        .json();
    assert_eq!(listed["articles"].as_array().expect("list").len(), 1);
    let listed = kb
        .call(&kb.admin, "GET", "/api/v1/kb/articles", None)
        .await
        .json();
    assert_eq!(listed["articles"].as_array().expect("list").len(), 2);

    // Versions, newest first, with their authors.
    let versions = kb
        .call(
            &kb.admin,
            "GET",
            "/api/v1/kb/articles/kb-water-bill/versions",
            None,
        )
        .await
        .json();
    let numbers: Vec<i64> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_i64().expect("n"))
        .collect();
    assert_eq!(numbers, vec![3, 2, 1]);
    assert_eq!(versions["versions"][0]["author"], "test");
    assert_eq!(
        kb.call(
            &kb.agent,
            "GET",
            "/api/v1/kb/articles/kb-water-bill/versions",
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    // Agents read but do not write; deleting takes the article out of search.
    assert_eq!(
        kb.call(
            &kb.agent,
            "POST",
            "/api/v1/kb/articles",
            Some(json!({"title":"x","category":"other"}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        kb.call(&kb.agent, "DELETE", "/api/v1/kb/articles/kb-sewage", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        kb.call(&kb.admin, "DELETE", "/api/v1/kb/articles/kb-sewage", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        kb.call(&kb.admin, "DELETE", "/api/v1/kb/articles/kb-sewage", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(kb.search("하수도 사용료").await.is_empty());
    // Creating with an id in use is refused; an id is made when none is given.
    let again = kb
        .call(&kb.admin, "POST", "/api/v1/kb/articles", Some(water_bill()))
        .await;
    assert_eq!(
        (again.status, again.code().as_str()),
        (StatusCode::CONFLICT, "duplicate_article")
    );
    let fresh = kb
        .call(
            &kb.admin,
            "POST",
            "/api/v1/kb/articles",
            Some(json!({"title":"따릉이 대여","body":"","category":"transport"})),
        )
        .await;
    assert!(
        fresh.json()["article"]["id"]
            .as_str()
            .expect("id")
            .starts_with("kb-")
    );
}

#[tokio::test]
async fn synonyms_are_edited_take_effect_at_once_and_persist() {
    let kb = kb().await;
    let bike = json!({"id":"bike","title":"따릉이 대여와 반납","body":"대여소에서 빌리고 반납합니다.","category":"transport"});
    assert_eq!(
        kb.call(&kb.admin, "POST", "/api/v1/kb/articles", Some(bike))
            .await
            .status,
        StatusCode::CREATED
    );
    assert!(kb.search("초록자전거").await.is_empty());
    let groups = kb
        .call(&kb.agent, "GET", "/api/v1/kb/synonyms", None)
        .await
        .json();
    assert!(
        groups["groups"].as_array().expect("groups").len() > 50,
        "the built-in list is served"
    );

    let edited = json!({"groups": [["따릉이", "초록자전거", "공공자전거"]]});
    assert_eq!(
        kb.call(
            &kb.agent,
            "PUT",
            "/api/v1/kb/synonyms",
            Some(edited.clone())
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let saved = kb
        .call(&kb.admin, "PUT", "/api/v1/kb/synonyms", Some(edited))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(kb.search("초록자전거 빌리는 곳").await, vec!["bike"]);
    let audit = kb.store.audit_entries(10).await.expect("audit");
    assert!(audit.iter().any(|e| e.action == "kb.synonyms_changed"));

    for (bad, status) in [
        (json!({"groups": [["혼자"]]}), StatusCode::BAD_REQUEST),
        (json!({"groups": [["가", "  "]]}), StatusCode::BAD_REQUEST),
        (json!({"groups": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"groups": [], "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let reply = kb
            .call(&kb.admin, "PUT", "/api/v1/kb/synonyms", Some(bad.clone()))
            .await;
        assert_eq!(reply.status, status, "{bad}: {}", reply.body);
    }
    assert_eq!(
        kb.search("초록자전거").await,
        vec!["bike"],
        "a refused edit changes nothing"
    );

    // A restarted server reads the edited list and the articles from the store.
    let state = AppState::load(kb.store.clone(), SEOUL)
        .await
        .expect("state");
    let restarted = Kb {
        app: app(state),
        store: kb.store.clone(),
        admin: kb.admin.clone(),
        agent: kb.agent.clone(),
        _dir: tempfile::tempdir().expect("dir"),
    };
    assert_eq!(restarted.search("초록자전거").await, vec!["bike"]);
}

#[tokio::test]
async fn the_index_is_rebuilt_from_the_store_and_suggestions_follow_the_category() {
    let kb = kb().await;
    // Written behind the server's back: not searchable until a rebuild.
    for (id, title, category) in [
        ("a", "여권 분실 신고", "documents"),
        ("b", "지갑 분실물 찾기", "transport.transit"),
    ] {
        let input = dasan_store::kb::ArticleInput {
            id: id.into(),
            title: title.into(),
            body: format!("{title} 안내입니다."),
            category: category.into(),
            tags: vec![],
            status: dasan_store::kb::ArticleStatus::Published,
        };
        kb.store
            .save_article(
                &input,
                "script",
                dasan_core::Timestamp::from_millis(0).expect("t"),
                None,
            )
            .await
            .expect("saved");
    }
    assert!(kb.search("분실").await.is_empty());
    assert_eq!(
        kb.call(&kb.agent, "POST", "/api/v1/kb/rebuild", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let rebuilt = kb.call(&kb.admin, "POST", "/api/v1/kb/rebuild", None).await;
    assert_eq!(rebuilt.json()["articles"], 2);
    assert_eq!(kb.search("분실").await.len(), 2);
    // The contact's category lifts its articles; a sub-category counts for its parent.
    for (category, first) in [
        ("documents", "a"),
        ("transport", "b"),
        ("transport.transit", "b"),
    ] {
        let uri = format!(
            "/api/v1/kb/search?q={}&category={category}",
            urlencode("분실")
        );
        let reply = kb.call(&kb.agent, "GET", &uri, None).await;
        assert_eq!(
            reply.json()["hits"][0]["id"],
            first,
            "{category}: {}",
            reply.body
        );
    }
    // A category alone suggests its articles.
    let reply = kb
        .call(
            &kb.agent,
            "GET",
            "/api/v1/kb/search?category=documents",
            None,
        )
        .await;
    assert_eq!(reply.json()["hits"][0]["id"], "a", "{}", reply.body);
}

#[tokio::test]
async fn bad_queries_and_bad_articles_get_clear_errors() {
    let kb = kb().await;
    assert_eq!(
        kb.call(&kb.admin, "POST", "/api/v1/kb/articles", Some(water_bill()))
            .await
            .status,
        StatusCode::CREATED
    );
    let long = urlencode(&"수".repeat(1_001));
    for (uri, status, code) in [
        (
            "/api/v1/kb/search".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/kb/search?q=".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/kb/search?q=%20%09".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            format!("/api/v1/kb/search?q={long}"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/kb/search?q=a&limit=0".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "/api/v1/kb/search?q=a&limit=-1".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/kb/search?q=a&limit=x".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/kb/search?q=a&sort=1".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/kb/search?q=a&category=nope".to_owned(),
            StatusCode::BAD_REQUEST,
            "unknown_category",
        ),
    ] {
        let reply = kb.call(&kb.agent, "GET", &uri, None).await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (status, code),
            "{uri}: {}",
            reply.body
        );
    }
    // A limit beyond the most there is to give is answered with at most 50.
    let many = kb
        .call(
            &kb.agent,
            "GET",
            "/api/v1/kb/search?q=%EC%88%98%EB%8F%84&limit=1000",
            None,
        )
        .await;
    assert_eq!(many.status, StatusCode::OK, "{}", many.body);
    assert!(many.json()["hits"].as_array().expect("hits").len() <= 50);
    // Query syntax and control characters are only text: an answer, never a 500.
    for q in [
        "*:()\"[]{}^~ AND OR NOT",
        "\u{0}\u{7}\u{1b}[31m",
        "수도요금\u{202e}",
        "'; DROP TABLE kb_articles; --",
        "%%%",
    ] {
        let uri = format!("/api/v1/kb/search?q={}", urlencode(q));
        let reply = kb.call(&kb.agent, "GET", &uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{q:?}: {}", reply.body);
        assert!(reply.json()["hits"].is_array());
    }
    assert_eq!(kb.search("수도요금\u{202e}").await, vec!["kb-water-bill"]);
    let unauthenticated = send(&kb.app, &[], "GET", "/api/v1/kb/search?q=a", None).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);

    let base = json!({"title":"제목","body":"본문","category":"water"});
    let with = |key: &str, value: Value| {
        let mut v = base.clone();
        v[key] = value;
        v
    };
    for (body, code) in [
        (with("category", json!("parking")), "unknown_category"),
        (with("title", json!("   ")), "invalid_article"),
        (with("title", json!("제목\u{7}")), "invalid_article"),
        (with("title", json!("가".repeat(301))), "invalid_article"),
        (with("body", json!("a".repeat(20_001))), "invalid_article"),
        (with("id", json!("a\u{7}b")), "invalid_article"),
        (with("id", json!(" padded")), "invalid_article"),
        (with("id", json!("")), "invalid_article"),
        (with("tags", json!(["", "x"])), "invalid_article"),
        (
            with(
                "tags",
                json!(
                    vec!["t"; 31]
                        .iter()
                        .enumerate()
                        .map(|(i, _)| format!("t{i}"))
                        .collect::<Vec<_>>()
                ),
            ),
            "invalid_article",
        ),
        (with("status", json!("archived")), "invalid_article"),
    ] {
        let reply = kb
            .call(&kb.admin, "POST", "/api/v1/kb/articles", Some(body.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (StatusCode::BAD_REQUEST, code),
            "{}",
            reply.body
        );
    }
    // Bodies of the wrong shape: the API's usual 422.
    for body in [
        with("surprise", json!(1)),
        json!([1, 2]),
        with("title", json!(5)),
    ] {
        let reply = kb
            .call(&kb.admin, "POST", "/api/v1/kb/articles", Some(body.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            "{body}: {}",
            reply.body
        );
    }
    // Larger than any request may be: refused before it is read.
    let huge = kb
        .call(
            &kb.admin,
            "POST",
            "/api/v1/kb/articles",
            Some(with("body", json!("가".repeat(30_000)))),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    let mismatch = kb
        .call(
            &kb.admin,
            "PUT",
            "/api/v1/kb/articles/one",
            Some(with("id", json!("two"))),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        kb.call(&kb.admin, "GET", "/api/v1/kb/articles/nope", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        kb.store.list_articles().await.expect("list").len(),
        1,
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn a_browser_session_needs_its_csrf_token_to_write() {
    let kb = kb().await;
    let user = create_user(
        &kb.store,
        "kim",
        "김감독",
        Role::Supervisor,
        "a long password",
    )
    .await
    .expect("user");
    kb.store
        .create_session(&SessionRecord {
            id_hash: auth::hash_secret("cookie"),
            user_id: user.id,
            csrf_token: "csrf".into(),
            expires_at: dasan_core::Timestamp::parse_rfc3339("2099-01-01T00:00:00Z").expect("t"),
        })
        .await
        .expect("session");
    let cookie = ("cookie", "dasan_session=cookie");
    let refused = send(
        &kb.app,
        &[cookie],
        "POST",
        "/api/v1/kb/articles",
        Some(water_bill()),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let done = send(
        &kb.app,
        &[cookie, ("x-csrf-token", "csrf")],
        "POST",
        "/api/v1/kb/articles",
        Some(water_bill()),
    )
    .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    assert_eq!(done.json()["article"]["updated_by"], "김감독");
}

#[tokio::test]
async fn the_editing_page_is_for_editors_only() {
    let kb = kb().await;
    let mut cookies = Vec::new();
    for (name, role) in [("kim", Role::Supervisor), ("lee", Role::Agent)] {
        let user = create_user(&kb.store, name, name, role, "a long password")
            .await
            .expect("user");
        kb.store
            .create_session(&SessionRecord {
                id_hash: auth::hash_secret(name),
                user_id: user.id,
                csrf_token: "csrf".into(),
                expires_at: dasan_core::Timestamp::parse_rfc3339("2099-01-01T00:00:00Z")
                    .expect("t"),
            })
            .await
            .expect("session");
        cookies.push(format!("dasan_session={name}"));
    }
    let page = send(&kb.app, &[("cookie", &cookies[0])], "GET", "/kb", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"<script src="/assets/kb.js">"#));
    assert!(page.body.contains(r#"<option value="water.bill">"#));
    assert!(page.body.contains(r#"href="/kb" aria-current="page""#));
    let refused = send(&kb.app, &[("cookie", &cookies[1])], "GET", "/kb", None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let audit = kb.store.audit_entries(10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "page.refused" && e.subject == "/kb")
    );
    let anonymous = send(&kb.app, &[], "GET", "/kb", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let script = send(&kb.app, &[], "GET", "/assets/kb.js", None).await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.body.contains("/api/v1/kb/synonyms"));
    // The desktop carries the search box, live.
    let desktop = send(&kb.app, &[("cookie", &cookies[1])], "GET", "/desktop", None).await;
    assert!(
        desktop.body.contains(r#"id="kb-q""#)
            && !desktop
                .body
                .contains(r#"id="kb-q" type="search" name="q" disabled"#)
    );
}

#[tokio::test]
async fn an_id_from_another_system_with_a_slash_works_through_the_api() {
    let kb = kb().await;
    let mut article = water_bill();
    article["id"] = json!("KB/2024 001");
    let created = kb
        .call(&kb.admin, "POST", "/api/v1/kb/articles", Some(article))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let read = kb
        .call(
            &kb.agent,
            "GET",
            "/api/v1/kb/articles/KB%2F2024%20001",
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.json()["article"]["id"], "KB/2024 001");
    assert_eq!(kb.search("수도요금").await, vec!["KB/2024 001"]);
    let deleted = kb
        .call(
            &kb.admin,
            "DELETE",
            "/api/v1/kb/articles/KB%2F2024%20001",
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
}
