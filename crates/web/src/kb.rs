//! The knowledge base over HTTP: articles with versions (`/api/v1/kb/articles`), the
//! search agents use while on a contact (`/api/v1/kb/search`), the synonym list that
//! administrators edit (`/api/v1/kb/synonyms`) and a rebuild of the index from the store.
//!
//! The store holds the articles; [`dasan_kb::KbIndex`] holds the published ones for
//! search and is told of every change as it is saved.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use dasan_core::{Role, Taxonomy};
use dasan_kb::{Article, KbIndex, SearchError, Synonyms};
use dasan_store::kb::{ArticleInput, ArticleRecord, ArticleStatus, SaveOutcome};
use dasan_store::{AnyStore, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiJson, ApiQuery},
};

/// The store setting that holds an edited synonym list (JSON array of arrays).
const SYNONYMS_KEY: &str = "synonyms";

pub const MAX_ID_CHARS: usize = 100;
pub const MAX_TITLE_CHARS: usize = 300;
pub const MAX_BODY_CHARS: usize = 20_000;
pub const MAX_TAGS: usize = 30;
pub const MAX_TAG_CHARS: usize = 50;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/kb/search", get(search))
        .route("/kb/articles", get(list).post(create))
        .route("/kb/articles/{id}", get(read).put(update).delete(delete))
        .route("/kb/articles/{id}/versions", get(versions))
        .route("/kb/synonyms", get(synonyms).put(set_synonyms))
        .route("/kb/rebuild", post(rebuild))
}

/// What the index is given of a stored article: its text, and as keywords its tags
/// and its category's names (with the parents'), so 수도 요금 finds water.bill.
pub fn index_article(record: &ArticleRecord, taxonomy: &Taxonomy) -> Article {
    let c = &record.content;
    let mut keywords = c.tags.clone();
    if let Ok(code) = taxonomy.resolve(&c.category) {
        let mut next = Some(code);
        while let Some(code) = next {
            if let Some(category) = taxonomy.get(&code) {
                keywords.push(category.name_ko.clone());
                keywords.push(category.name_en.clone());
            }
            next = code.parent();
        }
    }
    Article {
        id: c.id.clone(),
        title: c.title.clone(),
        body: c.body.clone(),
        category: c.category.clone(),
        keywords,
    }
}

/// The synonym list in force: the edited one from the store, else the built-in one.
pub async fn load_synonyms(store: &AnyStore) -> Result<Synonyms, StoreError> {
    match store.kb_setting(SYNONYMS_KEY).await? {
        None => Ok(Synonyms::builtin()),
        Some(text) => {
            let groups: Vec<Vec<String>> = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("kb synonyms: {e}")))?;
            Synonyms::new(groups).map_err(|e| StoreError::Corrupt(format!("kb synonyms: {e}")))
        }
    }
}

/// Builds the search index from the store's published articles.
pub async fn load_index(store: &AnyStore, taxonomy: &Taxonomy) -> Result<KbIndex, StoreError> {
    let index = KbIndex::new(load_synonyms(store).await?)
        .map_err(|e| StoreError::Database(format!("search index: {e}")))?;
    rebuild_index(&index, store, taxonomy).await?;
    Ok(index)
}

async fn rebuild_index(
    index: &KbIndex,
    store: &AnyStore,
    taxonomy: &Taxonomy,
) -> Result<u64, StoreError> {
    let articles = store.list_articles().await?;
    let published = articles
        .iter()
        .filter(|a| a.content.status == ArticleStatus::Published)
        .map(|a| index_article(a, taxonomy));
    index
        .rebuild(published)
        .map_err(|e| StoreError::Database(format!("search index: {e}")))
}

/// The search index and what keeps it in step with the store.
pub struct KnowledgeBase {
    pub index: std::sync::Arc<KbIndex>,
    /// Held while an article is re-read from the store and re-indexed, so that two
    /// saves of one article racing each other leave the index with the later one.
    sync: tokio::sync::Mutex<()>,
}

impl KnowledgeBase {
    pub fn new(index: KbIndex) -> Self {
        KnowledgeBase {
            index: std::sync::Arc::new(index),
            sync: tokio::sync::Mutex::new(()),
        }
    }
}

/// Brings the index in line with the store for one article: indexed if published,
/// taken out otherwise (draft or deleted).
async fn reindex(state: &AppState, id: &str) -> Result<(), ApiError> {
    let _turn = state.kb.sync.lock().await;
    let record = state.store.get_article(id).await?;
    let article = record
        .filter(|r| r.content.status == ArticleStatus::Published)
        .map(|r| index_article(&r, &state.taxonomy));
    let index = state.kb.index.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || match article {
        Some(article) => index.upsert(&article),
        None => index.remove(&id),
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))
}

/// Why an article was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArticleError {
    #[error("the id must be 1 to {MAX_ID_CHARS} printable characters without surrounding spaces")]
    Id,
    #[error("the title must be 1 to {MAX_TITLE_CHARS} characters")]
    Title,
    #[error(
        "the body is too long ({MAX_BODY_CHARS} characters through the API, {MAX_IMPORT_BODY_CHARS} by import)"
    )]
    Body,
    #[error("at most {MAX_TAGS} tags of 1 to {MAX_TAG_CHARS} characters")]
    Tags,
    #[error("unknown category {0:?}")]
    Category(String),
    #[error("status must be draft or published")]
    Status,
    #[error("control characters are not allowed in {0}")]
    Control(&'static str),
}

/// Ids come from other systems too (`KB/2024-001`, `문서 12`): any printable text of
/// 1 to 100 characters without surrounding spaces.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id.trim() == id
        && !id.chars().any(char::is_control)
}

/// An import's body may be longer than an API request can carry.
pub const MAX_IMPORT_BODY_CHARS: usize = 200_000;

fn has_control(text: &str, allow_lines: bool) -> bool {
    text.chars()
        .any(|c| c.is_control() && !(allow_lines && matches!(c, '\n' | '\r' | '\t')))
}

/// Checks an article's fields. `recategorise` decides what an unknown category does:
/// refused (the API), or filed under `other` with the given value kept as a tag (an
/// import from another system). Returns whether that happened.
pub fn check_article(
    input: &mut ArticleInput,
    taxonomy: &Taxonomy,
    recategorise: bool,
) -> Result<bool, ArticleError> {
    // An import from another system is mended where it can be (control
    // characters become spaces, unusable tags are left out); the API refuses.
    let lenient = recategorise;
    let mend = |text: &str, keep_lines: bool| -> String {
        text.chars()
            .map(|c| {
                if c.is_control() && !(keep_lines && matches!(c, '\n' | '\r' | '\t')) {
                    ' '
                } else {
                    c
                }
            })
            .collect()
    };
    if lenient {
        input.title = mend(&input.title, false);
        input.body = mend(&input.body, true);
    }
    input.title = input.title.trim().to_string();
    if !valid_id(&input.id) {
        return Err(ArticleError::Id);
    }
    if input.title.is_empty() || input.title.chars().count() > MAX_TITLE_CHARS {
        return Err(ArticleError::Title);
    }
    if has_control(&input.title, false) {
        return Err(ArticleError::Control("the title"));
    }
    let max_body = if lenient {
        MAX_IMPORT_BODY_CHARS
    } else {
        MAX_BODY_CHARS
    };
    if input.body.chars().count() > max_body {
        return Err(ArticleError::Body);
    }
    if has_control(&input.body, true) {
        return Err(ArticleError::Control("the body"));
    }
    let mut moved = false;
    let category = input.category.trim().to_string();
    match taxonomy.resolve(&category) {
        Ok(code) => input.category = code.to_string(),
        Err(_) if recategorise => {
            moved = true;
            if !category.is_empty() {
                input.tags.push(category);
            }
            input.category = "other".into();
        }
        Err(_) => return Err(ArticleError::Category(category)),
    }
    let mut tags: Vec<String> = Vec::new();
    for tag in input.tags.drain(..) {
        let tag = tag.trim().to_string();
        let usable =
            !tag.is_empty() && tag.chars().count() <= MAX_TAG_CHARS && !has_control(&tag, false);
        if !usable {
            if lenient {
                continue;
            }
            return Err(ArticleError::Tags);
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        if !lenient {
            return Err(ArticleError::Tags);
        }
        tags.truncate(MAX_TAGS);
    }
    input.tags = tags;
    Ok(moved)
}

/// One line of an import file: `id`, `title`, `body`, `category` required; `tags` and
/// `status` (default `published`) optional; other keys ignored.
#[derive(Debug, Deserialize)]
pub struct ImportLine {
    pub id: serde_json::Value,
    pub title: String,
    pub body: String,
    pub category: String,
    /// An array of words, or one string of words separated by commas.
    #[serde(default)]
    pub tags: serde_json::Value,
    #[serde(default)]
    pub status: Option<String>,
}

fn import_tags(value: serde_json::Value) -> Result<Vec<String>, String> {
    use serde_json::Value;
    let word = |v: Value| match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("tags are words".to_string()),
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(s.split(',').map(str::to_owned).collect()),
        Value::Array(items) => items.into_iter().map(word).collect(),
        _ => Err("tags are a list of words or one string of them".into()),
    }
}

/// Parses and checks one import line; answers the article and whether its category
/// was unknown (and so filed under `other`).
pub fn parse_import_line(line: &str, taxonomy: &Taxonomy) -> Result<(ArticleInput, bool), String> {
    let raw: ImportLine = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let id = match raw.id {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err("id must be a string or a number".into()),
    };
    let status = match raw.status.as_deref() {
        None => ArticleStatus::Published,
        Some(s) => ArticleStatus::parse(s).ok_or_else(|| ArticleError::Status.to_string())?,
    };
    let mut input = ArticleInput {
        id,
        title: raw.title,
        body: raw.body,
        category: raw.category,
        tags: import_tags(raw.tags)?,
        status,
    };
    let moved = check_article(&mut input, taxonomy, true).map_err(|e| e.to_string())?;
    Ok((input, moved))
}

/// The export form of an article: one JSON object, the import's shape and more.
pub fn export_line(record: &ArticleRecord) -> serde_json::Value {
    serde_json::to_value(ArticleView::from(record)).unwrap_or_default()
}

#[derive(Debug, Serialize)]
struct ArticleView {
    id: String,
    title: String,
    body: String,
    category: String,
    tags: Vec<String>,
    status: ArticleStatus,
    version: i64,
    created_at: String,
    updated_at: String,
    updated_by: String,
}

impl From<&ArticleRecord> for ArticleView {
    fn from(r: &ArticleRecord) -> Self {
        ArticleView {
            id: r.content.id.clone(),
            title: r.content.title.clone(),
            body: r.content.body.clone(),
            category: r.content.category.clone(),
            tags: r.content.tags.clone(),
            status: r.content.status,
            version: r.version,
            created_at: r.created_at.to_rfc3339(),
            updated_at: r.updated_at.to_rfc3339(),
            updated_by: r.updated_by.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: Option<String>,
    limit: Option<usize>,
    /// Favour articles in this category (the contact's): suggestions.
    category: Option<String>,
}

fn search_error(error: SearchError) -> ApiError {
    match error {
        SearchError::Empty => ApiError::bad_request("invalid_query", "the query is empty"),
        e @ SearchError::TooLong { .. } => ApiError::bad_request("invalid_query", e.to_string()),
        SearchError::Index(e) => ApiError::internal(&e),
    }
}

async fn search(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let category = match query
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) => Some(
            state
                .taxonomy
                .resolve(c)
                .map_err(|_| {
                    ApiError::bad_request("unknown_category", format!("unknown category {c:?}"))
                })?
                .to_string(),
        ),
        None => None,
    };
    let q = query.q.unwrap_or_default();
    let limit = query.limit.unwrap_or(10);
    // More than the most there are to give is answered with the most (50).
    if limit == 0 {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be at least 1",
        ));
    }
    let kb = state.kb.index.clone();
    let hits = tokio::task::spawn_blocking(move || kb.search_in(&q, limit, category.as_deref()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(search_error)?;
    Ok(Json(json!({ "hits": hits })))
}

#[derive(Debug, Serialize)]
struct ArticleSummary {
    id: String,
    title: String,
    category: String,
    tags: Vec<String>,
    status: ArticleStatus,
    version: i64,
    updated_at: String,
    updated_by: String,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let editor = caller.role.may_edit_knowledge_base();
    let articles: Vec<ArticleSummary> = state
        .store
        .list_articles()
        .await?
        .iter()
        .filter(|a| editor || a.content.status == ArticleStatus::Published)
        .map(|r| ArticleSummary {
            id: r.content.id.clone(),
            title: r.content.title.clone(),
            category: r.content.category.clone(),
            tags: r.content.tags.clone(),
            status: r.content.status,
            version: r.version,
            updated_at: r.updated_at.to_rfc3339(),
            updated_by: r.updated_by.clone(),
        })
        .collect();
    Ok(Json(json!({ "articles": articles })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArticleBody {
    id: Option<String>,
    title: String,
    #[serde(default)]
    body: String,
    category: String,
    #[serde(default)]
    tags: Vec<String>,
    status: Option<String>,
    /// The version this edit is based on; a newer stored one is a conflict.
    version: Option<i64>,
}

fn article_input(
    id: String,
    body: ArticleBody,
    taxonomy: &Taxonomy,
) -> Result<(ArticleInput, Option<i64>), ApiError> {
    let status = match body.status.as_deref() {
        None => ArticleStatus::Published,
        Some(s) => ArticleStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request("invalid_article", ArticleError::Status.to_string())
        })?,
    };
    let mut input = ArticleInput {
        id,
        title: body.title,
        body: body.body,
        category: body.category,
        tags: body.tags,
        status,
    };
    check_article(&mut input, taxonomy, false).map_err(|e| match e {
        ArticleError::Category(_) => ApiError::bad_request("unknown_category", e.to_string()),
        e => ApiError::bad_request("invalid_article", e.to_string()),
    })?;
    Ok((input, body.version))
}

async fn save(
    state: &AppState,
    caller: &Caller,
    input: ArticleInput,
    expected: Option<i64>,
) -> Result<Response, ApiError> {
    let saved = state
        .store
        .save_article(&input, &caller.name, crate::now(), expected)
        .await;
    let (record, outcome) = match saved {
        Ok(saved) => saved,
        Err(StoreError::Conflict(message)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "version_conflict",
                message,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    reindex(state, &record.content.id).await?;
    let status = if outcome == SaveOutcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({ "article": ArticleView::from(&record), "outcome": outcome });
    Ok((status, Json(body)).into_response())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ArticleBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_edit_knowledge_base)?;
    let id = match body.id.clone() {
        Some(id) => id,
        None => format!("kb-{}", uuid::Uuid::now_v7().simple()),
    };
    if state.store.get_article(&id).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_article",
            format!("an article {id:?} exists; change it with PUT"),
        ));
    }
    let (input, _) = article_input(id, body, &state.taxonomy)?;
    save(&state, &caller, input, None).await
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ArticleBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_edit_knowledge_base)?;
    if body.id.as_ref().is_some_and(|b| *b != id) {
        return Err(ApiError::bad_request(
            "invalid_article",
            "the body's id differs from the path's",
        ));
    }
    let (input, expected) = article_input(id, body, &state.taxonomy)?;
    save(&state, &caller, input, expected).await
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let record = state
        .store
        .get_article(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("article"))?;
    if record.content.status != ArticleStatus::Published && !caller.role.may_edit_knowledge_base() {
        return Err(ApiError::not_found("article"));
    }
    Ok(Json(json!({ "article": ArticleView::from(&record) })))
}

async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::may_edit_knowledge_base)?;
    let versions = state.store.article_versions(&id).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found("article"));
    }
    let versions: Vec<serde_json::Value> = versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "author": v.author,
                "at": v.at.to_rfc3339(),
                "title": v.content.title,
                "body": v.content.body,
                "category": v.content.category,
                "tags": v.content.tags,
                "status": v.content.status,
            })
        })
        .collect();
    Ok(Json(json!({ "versions": versions })))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::may_edit_knowledge_base)?;
    if !state.store.delete_article(&id).await? {
        return Err(ApiError::not_found("article"));
    }
    reindex(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SynonymsBody {
    groups: Vec<Vec<String>>,
}

async fn synonyms(State(state): State<AppState>, _caller: Caller) -> Json<SynonymsBody> {
    Json(SynonymsBody {
        groups: state.kb.index.synonyms().groups().to_vec(),
    })
}

async fn set_synonyms(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SynonymsBody>,
) -> Result<Json<SynonymsBody>, ApiError> {
    caller.require(Role::may_edit_knowledge_base)?;
    let synonyms = Synonyms::new(body.groups)
        .map_err(|e| ApiError::bad_request("invalid_synonyms", e.to_string()))?;
    let text = serde_json::to_string(synonyms.groups()).map_err(|e| ApiError::internal(&e))?;
    state.store.set_kb_setting(SYNONYMS_KEY, &text).await?;
    let groups = synonyms.groups().to_vec();
    state.kb.index.set_synonyms(synonyms);
    let entry = dasan_store::AuditEntry {
        at: crate::now(),
        actor: caller.actor(),
        action: "kb.synonyms_changed".into(),
        subject: format!("{} groups", groups.len()),
    };
    state.store.append_audit(&entry).await?;
    Ok(Json(SynonymsBody { groups }))
}

async fn rebuild(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::may_edit_knowledge_base)?;
    let _turn = state.kb.sync.lock().await;
    let count = rebuild_index(&state.kb.index, &state.store, &state.taxonomy).await?;
    Ok(Json(json!({ "articles": count })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_line_with_an_unknown_category_goes_under_other_with_a_tag() {
        let taxonomy = Taxonomy::seed();
        let line = r#"{"id":7,"title":" 주차 안내 ","body":"본문","category":"parking","tags":["주차"],"extra":true}"#;
        let (article, moved) = parse_import_line(line, &taxonomy).expect("valid");
        assert!(moved);
        assert_eq!(article.id, "7");
        assert_eq!(article.title, "주차 안내");
        assert_eq!(article.category, "other");
        assert_eq!(article.tags, vec!["주차", "parking"]);
        assert_eq!(article.status, ArticleStatus::Published);
        let known = r#"{"id":"a","title":"t","body":"","category":"water.bill","status":"draft"}"#;
        let (article, moved) = parse_import_line(known, &taxonomy).expect("valid");
        assert!(!moved);
        assert_eq!(
            (article.category.as_str(), article.status),
            ("water.bill", ArticleStatus::Draft)
        );
    }

    #[test]
    fn a_bad_import_line_says_why() {
        let taxonomy = Taxonomy::seed();
        for line in [
            "not json",
            r#"{"title":"t","body":"b","category":"water"}"#,
            r#"{"id":null,"title":"t","body":"b","category":"water"}"#,
            r#"{"id":" a","title":"t","body":"b","category":"water"}"#,
            r#"{"id":"a","title":"","body":"b","category":"water"}"#,
            r#"{"id":"a","title":"t","body":"b","category":"water","status":"gone"}"#,
            r#"{"id":"a","title":"t","category":"water"}"#,
        ] {
            let error = parse_import_line(line, &taxonomy).expect_err(line);
            assert!(!error.is_empty());
        }
    }
}
