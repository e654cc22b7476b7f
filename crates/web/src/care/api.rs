//! `/api/v1/care/*`: departments, the roster (with CSV import), the day's
//! calls, outcomes, escalations, notices and the week's figures.
//!
//! Who sees what: coordinators and administrators everything; agents the
//! roster and calls (they make the calls); a department's members only the
//! seniors and escalations of their department; supervisors the figures.
//! Every read of seniors' data is written to the audit log first.

use std::collections::{BTreeMap, BTreeSet};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{Duration, NaiveDate};
use dasan_core::{
    AgentId, Channel, ConsultationId, NewConsultation, Outcome, PhoneNumber, Timestamp,
    care::{CareOutcome, Hours, parse_weekdays},
};
use dasan_store::{
    Store,
    care::{CareKind, CareQuery, CareWrite},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Call, Consent, Department, EmergencyContact, Escalation, Notice, OutcomeInput, Senior,
    cancel_from, choose_phase, commit, departments, list, load, plan_senior, record, senior_record,
    weekly_load,
};
use crate::{
    AppState,
    auth::Caller,
    consultations::audit,
    error::{ApiError, ApiJson, ApiQuery},
    floor::InteractionState,
};

/// The largest roster import (bytes).
pub const MAX_IMPORT_BYTES: usize = 4 * 1024 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/care/departments",
            get(list_departments).post(create_department),
        )
        .route(
            "/care/departments/{id}",
            axum::routing::put(update_department),
        )
        .route("/care/departments/{id}/members", post(add_member))
        .route("/care/seniors", get(list_seniors).post(create_senior))
        .route(
            "/care/seniors/import",
            post(import_seniors).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/care/seniors/{id}", get(read_senior).put(update_senior))
        .route("/care/seniors/{id}/exit", post(exit_senior))
        .route("/care/due", get(due))
        .route("/care/calls/{id}", get(read_call))
        .route("/care/calls/{id}/outcome", post(outcome))
        .route("/care/interactions/{id}", get(call_of_interaction))
        .route("/care/escalations", get(list_escalations))
        .route("/care/escalations/{id}/status", post(escalation_status))
        .route("/care/notices", get(list_notices).post(create_notice))
        .route("/care/report", get(report))
}

/// A field that does not hold: 422, like the domain's own checks.
fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

fn millis_text(millis: i64) -> String {
    Timestamp::from_millis(millis)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

fn text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
    required: bool,
) -> Result<String, ApiError> {
    let value = value.unwrap_or("").trim();
    if required && value.is_empty() {
        return Err(bad("empty", format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(bad(
            "too_long",
            format!("{field}: at most {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad(
            "invalid_value",
            format!("{field}: no control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// The department a caller acts for (members only).
async fn department_of(state: &AppState, caller: &Caller) -> Result<Option<String>, ApiError> {
    Ok(state
        .store
        .care_get(CareKind::Member, &caller.id.to_string())
        .await?
        .map(|m| m.owner))
}

/// Whose escalations a caller handles: all (`None`) for coordinators, its
/// own department's for a department member; refused for anyone else.
async fn escalation_scope(state: &AppState, caller: &Caller) -> Result<Option<String>, ApiError> {
    match caller.role {
        r if r.may_manage_care() => Ok(None),
        dasan_core::Role::Department => Ok(Some(
            department_of(state, caller)
                .await?
                .ok_or_else(ApiError::forbidden)?,
        )),
        _ => Err(ApiError::forbidden()),
    }
}

/// Who may read a senior's record.
async fn may_read_senior(
    state: &AppState,
    caller: &Caller,
    senior: &Senior,
) -> Result<bool, ApiError> {
    if caller.role.may_make_care_calls() {
        return Ok(true);
    }
    if caller.role == dasan_core::Role::Department
        && let Some(department) = department_of(state, caller).await?
    {
        return Ok([&senior.district_office, &senior.health_center]
            .into_iter()
            .flatten()
            .any(|d| *d == department));
    }
    Ok(false)
}

// --- Departments ---

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentInput {
    id: Option<String>,
    name: String,
    kind: String,
    district: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
}

fn department_view(d: &Department) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "kind": d.kind,
        "district": d.district,
        "webhook_url": d.webhook_url,
        "webhook_secret_set": !d.webhook_secret.is_empty(),
    })
}

fn check_department(input: &DepartmentInput, id: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(bad(
            "invalid_id",
            "id: letters, digits, - and _, at most 64",
        ));
    }
    text("name", Some(&input.name), 100, true)?;
    if !matches!(
        input.kind.as_str(),
        "district_office" | "health_center" | "other"
    ) {
        return Err(bad(
            "invalid_value",
            "kind: district_office, health_center or other",
        ));
    }
    text("district", input.district.as_deref(), 30, false)?;
    if let Some(url) = &input.webhook_url {
        let parsed: Result<axum::http::Uri, _> = url.parse();
        let ok = url.len() <= 500
            && url.starts_with("http://")
            && parsed.is_ok_and(|u| u.host().is_some());
        if !ok {
            return Err(bad(
                "invalid_value",
                "webhook_url: an http:// URL (https is not supported yet)",
            ));
        }
    }
    if input
        .webhook_secret
        .as_ref()
        .is_some_and(|s| s.len() < 16 || s.len() > 200)
    {
        return Err(bad("invalid_value", "webhook_secret: 16 to 200 characters"));
    }
    Ok(())
}

fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn list_departments(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(|r| r.may_manage_care() || r.may_make_care_calls())?;
    let all: Vec<Value> = departments(&state)
        .await?
        .iter()
        .map(department_view)
        .collect();
    Ok(Json(json!({ "departments": all })))
}

async fn create_department(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<DepartmentInput>,
) -> Result<Response, ApiError> {
    caller.require(dasan_core::Role::may_manage_care)?;
    let id = input
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    check_department(&input, &id)?;
    let secret = input.webhook_secret.clone().unwrap_or_else(random_secret);
    let department = Department {
        id: id.clone(),
        name: input.name.trim().to_owned(),
        kind: input.kind.clone(),
        district: input
            .district
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        webhook_url: input.webhook_url.clone(),
        webhook_secret: secret.clone(),
        created_at: state.care.now().millis(),
    };
    let inserted = commit(
        &state,
        &CareWrite {
            updates: Vec::new(),
            inserts: vec![record(
                CareKind::Department,
                &id,
                "",
                "active",
                department.created_at,
                &department,
            )?],
        },
    )
    .await?;
    if inserted == 0 {
        return Err(conflict("duplicate", "a department with this id exists"));
    }
    audit(&state, &caller, "care.department.create", id).await?;
    let mut view = department_view(&department);
    // The secret is shown once, when made.
    view["webhook_secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn update_department(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DepartmentInput>,
) -> Result<Json<Value>, ApiError> {
    caller.require(dasan_core::Role::may_manage_care)?;
    check_department(&input, &id)?;
    let Some((mut department, version)) =
        load::<Department>(&state, CareKind::Department, &id).await?
    else {
        return Err(ApiError::not_found("department"));
    };
    department.name = input.name.trim().to_owned();
    department.kind = input.kind.clone();
    department.district = input
        .district
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    department.webhook_url = input.webhook_url.clone();
    if let Some(secret) = input.webhook_secret {
        department.webhook_secret = secret;
    }
    commit(
        &state,
        &CareWrite {
            updates: vec![(
                record(
                    CareKind::Department,
                    &id,
                    "",
                    "active",
                    department.created_at,
                    &department,
                )?,
                version,
            )],
            inserts: Vec::new(),
        },
    )
    .await?;
    audit(&state, &caller, "care.department.update", id).await?;
    Ok(Json(department_view(&department)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberInput {
    username: Option<String>,
    token_id: Option<uuid::Uuid>,
}

async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MemberInput>,
) -> Result<Response, ApiError> {
    caller.require(dasan_core::Role::may_manage_care)?;
    if load::<Department>(&state, CareKind::Department, &id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("department"));
    }
    let member = match (&input.username, input.token_id) {
        (Some(username), None) => {
            let user = state
                .store
                .find_user(username.trim())
                .await?
                .ok_or_else(|| ApiError::not_found("user"))?;
            if user.role != dasan_core::Role::Department {
                return Err(bad(
                    "invalid_value",
                    "only department accounts can be members",
                ));
            }
            user.id
        }
        (None, Some(token)) => token,
        _ => return Err(bad("invalid_value", "give username or token_id")),
    };
    let key = member.to_string();
    let now = state.care.now().millis();
    let row = record(
        CareKind::Member,
        &key,
        &id,
        "active",
        now,
        &json!({"department_id": id}),
    )?;
    let write = match state.store.care_get(CareKind::Member, &key).await? {
        Some(old) => CareWrite {
            updates: vec![(row, old.version)],
            inserts: Vec::new(),
        },
        None => CareWrite {
            updates: Vec::new(),
            inserts: vec![row],
        },
    };
    commit(&state, &write).await?;
    audit(
        &state,
        &caller,
        "care.department.member",
        format!("{id}:{key}"),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"department_id": id, "member_id": key})),
    )
        .into_response())
}

// --- Seniors ---

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactInput {
    name: String,
    phone: String,
    #[serde(default)]
    relation: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeniorInput {
    name: String,
    phone: String,
    district: String,
    calls_per_week: u8,
    #[serde(default)]
    birth_year: Option<u16>,
    #[serde(default)]
    living_situation: Option<String>,
    #[serde(default)]
    emergency_contacts: Vec<ContactInput>,
    #[serde(default)]
    district_office: Option<String>,
    #[serde(default)]
    health_center: Option<String>,
    /// "mon,wed,fri" or ["mon","wed"].
    #[serde(default)]
    days: Option<Value>,
    /// "10:00-12:00".
    #[serde(default)]
    hours: Option<String>,
    #[serde(default)]
    health_notes: Option<String>,
    /// The day the senior consented (recorded by the caller).
    #[serde(default)]
    consent_date: Option<NaiveDate>,
    #[serde(default)]
    enrolled_on: Option<NaiveDate>,
}

/// Checks an input into a senior (id, phase and times left to the caller).
async fn senior_from(
    caller: &Caller,
    input: SeniorInput,
    all_departments: &[Department],
    today: NaiveDate,
) -> Result<Senior, ApiError> {
    let name = text("name", Some(&input.name), 50, true)?;
    let phone = PhoneNumber::parse(input.phone.trim())?;
    let district = text("district", Some(&input.district), 30, true)?;
    if !(1..=7).contains(&input.calls_per_week) {
        return Err(bad("invalid_value", "calls_per_week: 1 to 7"));
    }
    if let Some(year) = input.birth_year
        && !(1900..=2020).contains(&year)
    {
        return Err(bad("invalid_value", "birth_year: 1900 to 2020"));
    }
    if input.emergency_contacts.len() > 5 {
        return Err(bad("invalid_value", "emergency_contacts: at most 5"));
    }
    let mut contacts = Vec::new();
    for contact in &input.emergency_contacts {
        contacts.push(EmergencyContact {
            name: text("emergency_contacts.name", Some(&contact.name), 50, true)?,
            phone: PhoneNumber::parse(contact.phone.trim())?.e164().to_owned(),
            relation: text(
                "emergency_contacts.relation",
                contact.relation.as_deref(),
                30,
                false,
            )?,
        });
    }
    let find = |given: &Option<String>, kind: &str| -> Result<Option<String>, ApiError> {
        match given.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
            Some(id) => {
                if all_departments.iter().any(|d| d.id == id) {
                    Ok(Some(id.to_owned()))
                } else {
                    Err(bad("unknown_department", format!("no department {id:?}")))
                }
            }
            // The district's own office or center when not named.
            None => Ok(all_departments
                .iter()
                .find(|d| d.kind == kind && d.district.as_deref() == Some(district.as_str()))
                .map(|d| d.id.clone())),
        }
    };
    let district_office = find(&input.district_office, "district_office")?;
    let health_center = find(&input.health_center, "health_center")?;
    let days = match &input.days {
        None | Some(Value::Null) => BTreeSet::new(),
        Some(Value::String(s)) => parse_weekdays(s)?,
        Some(Value::Array(items)) => {
            let joined: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            if joined.len() != items.len() {
                return Err(bad("invalid_value", "days: weekday names"));
            }
            parse_weekdays(&joined.join(","))?
        }
        Some(_) => return Err(bad("invalid_value", "days: weekday names")),
    };
    let hours = match input
        .hours
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        Some(h) => Hours::parse(h)?,
        None => Hours::default(),
    };
    let enrolled_on = input.enrolled_on.unwrap_or(today);
    if (enrolled_on - today).num_days().abs() > 366 {
        return Err(bad("invalid_value", "enrolled_on: within a year of today"));
    }
    Ok(Senior {
        id: String::new(),
        name,
        phone: phone.e164().to_owned(),
        district,
        birth_year: input.birth_year,
        living_situation: text(
            "living_situation",
            input.living_situation.as_deref(),
            200,
            false,
        )?,
        emergency_contacts: contacts,
        district_office,
        health_center,
        days,
        hours,
        calls_per_week: input.calls_per_week,
        health_notes: text("health_notes", input.health_notes.as_deref(), 2_000, false)?,
        consent: input.consent_date.map(|date| Consent {
            date,
            recorded_by: caller.name.clone(),
        }),
        enrolled_on,
        exited_on: None,
        exit_reason: None,
        phase: 0,
        plan_from: enrolled_on,
        plan_rev: 0,
        // Set when stored.
        created_at: 0,
        updated_at: 0,
    })
}

fn senior_view(senior: &Senior) -> Value {
    let mut view = serde_json::to_value(senior).unwrap_or(Value::Null);
    view["hours"] = json!(senior.hours.format());
    view["active"] = json!(senior.exited_on.is_none());
    view
}

async fn active_seniors(state: &AppState) -> Result<Vec<Senior>, ApiError> {
    let mut query = CareQuery::all(CareKind::Senior);
    query.statuses = vec!["active".into()];
    Ok(list::<Senior>(state, &query)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect())
}

/// Enrols checked seniors (phase levelled against the roster), plans them,
/// answers them with how many were already enrolled (same phone, active).
async fn enrol(state: &AppState, mut new: Vec<Senior>) -> Result<(Vec<Senior>, usize), ApiError> {
    let roster = active_seniors(state).await?;
    let mut phones: BTreeSet<String> = roster.iter().map(|s| s.phone.clone()).collect();
    let mut load = weekly_load(roster.iter());
    let now = state.care.now();
    let mut inserts = Vec::new();
    let mut kept = Vec::new();
    let before = new.len();
    new.retain(|s| phones.insert(s.phone.clone()));
    let duplicates = before - new.len();
    for mut senior in new {
        senior.id = uuid::Uuid::now_v7().to_string();
        senior.phase = choose_phase(&load, &senior);
        for day in weekly_days(&senior) {
            load[day] += 1;
        }
        senior.created_at = now.millis();
        senior.updated_at = now.millis();
        inserts.push(senior_record(&senior)?);
        kept.push(senior);
    }
    commit(
        state,
        &CareWrite {
            updates: Vec::new(),
            inserts,
        },
    )
    .await?;
    for senior in &kept {
        plan_senior(state, senior, now).await?;
    }
    Ok((kept, duplicates))
}

fn weekly_days(senior: &Senior) -> Vec<usize> {
    let load = weekly_load(std::iter::once(senior));
    let mut days = Vec::new();
    for (day, count) in load.iter().enumerate() {
        for _ in 0..*count {
            days.push(day);
        }
    }
    days
}

async fn create_senior(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<SeniorInput>,
) -> Result<Response, ApiError> {
    caller.require(dasan_core::Role::may_manage_care)?;
    let today = state.care.now().local_date(state.zone);
    let all = departments(&state).await?;
    let senior = senior_from(&caller, input, &all, today).await?;
    let (kept, duplicates) = enrol(&state, vec![senior]).await?;
    let Some(senior) = kept.into_iter().next() else {
        debug_assert_eq!(duplicates, 1);
        return Err(conflict(
            "already_enrolled",
            "a senior with this phone number is enrolled",
        ));
    };
    audit(&state, &caller, "care.senior.create", senior.id.clone()).await?;
    Ok((StatusCode::CREATED, Json(senior_view(&senior))).into_response())
}

/// The roster columns an import accepts (a header row names them).
pub const IMPORT_COLUMNS: [&str; 16] = [
    "name",
    "phone",
    "district",
    "calls_per_week",
    "birth_year",
    "living_situation",
    "days",
    "hours",
    "district_office",
    "health_center",
    "health_notes",
    "consent_date",
    "enrolled_on",
    "emergency_name",
    "emergency_phone",
    "emergency_relation",
];

async fn import_seniors(
    State(state): State<AppState>,
    caller: Caller,
    body: String,
) -> Result<Response, ApiError> {
    caller.require(dasan_core::Role::may_manage_care)?;
    let rows = super::csv::parse(&body).map_err(|e| ApiError::bad_request("invalid_csv", e))?;
    let mut rows = rows.into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(ApiError::bad_request("invalid_csv", "the file is empty"));
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    for column in &header {
        if !IMPORT_COLUMNS.contains(&column.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_csv",
                format!(
                    "unknown column {column:?}; known: {}",
                    IMPORT_COLUMNS.join(", ")
                ),
            ));
        }
    }
    for required in ["name", "phone", "district", "calls_per_week"] {
        if !header.iter().any(|h| h == required) {
            return Err(ApiError::bad_request(
                "invalid_csv",
                format!("the column {required} is missing"),
            ));
        }
    }
    let today = state.care.now().local_date(state.zone);
    let all = departments(&state).await?;
    let mut seniors = Vec::new();
    for (line, fields) in rows {
        if fields.len() != header.len() {
            return Err(ApiError::bad_request(
                "invalid_csv",
                format!(
                    "line {line}: {} fields, the header has {}",
                    fields.len(),
                    header.len()
                ),
            ));
        }
        let cell: BTreeMap<&str, &str> = header
            .iter()
            .map(String::as_str)
            .zip(fields.iter().map(|f| f.trim()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let mut object = serde_json::Map::new();
        for (key, value) in &cell {
            let value = match *key {
                "calls_per_week" | "birth_year" => match value.parse::<u64>() {
                    Ok(n) => json!(n),
                    Err(_) => {
                        return Err(ApiError::bad_request(
                            "invalid_csv",
                            format!("line {line}: {key} is not a number"),
                        ));
                    }
                },
                "emergency_name" | "emergency_phone" | "emergency_relation" => continue,
                _ => json!(value),
            };
            object.insert((*key).to_owned(), value);
        }
        if let Some(phone) = cell.get("emergency_phone") {
            object.insert(
                "emergency_contacts".into(),
                json!([{
                    "name": cell.get("emergency_name").copied().unwrap_or("보호자"),
                    "phone": phone,
                    "relation": cell.get("emergency_relation").copied().unwrap_or(""),
                }]),
            );
        }
        let input: SeniorInput = serde_json::from_value(Value::Object(object))
            .map_err(|e| ApiError::bad_request("invalid_csv", format!("line {line}: {e}")))?;
        let senior = senior_from(&caller, input, &all, today)
            .await
            .map_err(|e| {
                ApiError::bad_request("invalid_csv", format!("line {line}: {}", e.message))
            })?;
        seniors.push(senior);
    }
    let (kept, duplicates) = enrol(&state, seniors).await?;
    audit(
        &state,
        &caller,
        "care.senior.import",
        format!("{} seniors", kept.len()),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "imported": kept.len(), "already_enrolled": duplicates })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct SeniorFilter {
    district: Option<String>,
    #[serde(default)]
    include_exited: bool,
}

async fn list_seniors(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<SeniorFilter>,
) -> Result<Json<Value>, ApiError> {
    if !(caller.role.may_make_care_calls() || caller.role == dasan_core::Role::Department) {
        return Err(ApiError::forbidden());
    }
    let department = if caller.role.may_make_care_calls() {
        None
    } else {
        Some(
            department_of(&state, &caller)
                .await?
                .ok_or_else(ApiError::forbidden)?,
        )
    };
    audit(
        &state,
        &caller,
        "care.senior.list",
        filter.district.clone().unwrap_or_default(),
    )
    .await?;
    let mut query = CareQuery::all(CareKind::Senior);
    query.owner = filter.district.clone();
    if !filter.include_exited {
        query.statuses = vec!["active".into()];
    }
    let seniors: Vec<Value> = list::<Senior>(&state, &query)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| {
            department.as_ref().is_none_or(|d| {
                s.district_office.as_ref() == Some(d) || s.health_center.as_ref() == Some(d)
            })
        })
        .map(|s| senior_view(&s))
        .collect();
    Ok(Json(json!({ "seniors": seniors })))
}

async fn read_senior(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let Some((senior, _)) = load::<Senior>(&state, CareKind::Senior, &id).await? else {
        return Err(ApiError::not_found("senior"));
    };
    if !may_read_senior(&state, &caller, &senior).await? {
        // Not "forbidden": whether the senior exists is not theirs to know.
        return Err(ApiError::not_found("senior"));
    }
    audit(&state, &caller, "care.senior.read", id).await?;
    Ok(Json(senior_view(&senior)))
}

async fn update_senior(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SeniorInput>,
) -> Result<Json<Value>, ApiError> {
    caller.require(dasan_core::Role::may_manage_care)?;
    let Some((old, version)) = load::<Senior>(&state, CareKind::Senior, &id).await? else {
        return Err(ApiError::not_found("senior"));
    };
    let now = state.care.now();
    let today = now.local_date(state.zone);
    let all = departments(&state).await?;
    let mut senior = senior_from(&caller, input, &all, today).await?;
    senior.id = old.id.clone();
    senior.phase = old.phase;
    senior.created_at = old.created_at;
    senior.updated_at = now.millis();
    senior.exited_on = old.exited_on;
    senior.exit_reason = old.exit_reason.clone();
    senior.consent = senior.consent.or(old.consent.clone());
    senior.enrolled_on = old.enrolled_on;
    senior.plan_from = old.plan_from;
    senior.plan_rev = old.plan_rev;
    let mut updates = Vec::new();
    let schedule_changed = senior.calls_per_week != old.calls_per_week
        || senior.days != old.days
        || senior.hours != old.hours;
    if schedule_changed {
        // This week keeps its calls; from next Monday the new schedule.
        let next_monday = dasan_core::care::week_start(today) + Duration::days(7);
        updates = cancel_from(&state, &id, next_monday, "schedule changed").await?;
        senior.plan_rev += 1;
        senior.plan_from = next_monday;
    }
    updates.insert(0, (senior_record(&senior)?, version));
    commit(
        &state,
        &CareWrite {
            updates,
            inserts: Vec::new(),
        },
    )
    .await?;
    plan_senior(&state, &senior, now).await?;
    audit(&state, &caller, "care.senior.update", id).await?;
    Ok(Json(senior_view(&senior)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExitInput {
    reason: String,
    #[serde(default)]
    date: Option<NaiveDate>,
}

async fn exit_senior(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ExitInput>,
) -> Result<Json<Value>, ApiError> {
    caller.require(dasan_core::Role::may_manage_care)?;
    let reason = text("reason", Some(&input.reason), 200, true)?;
    let Some((mut senior, version)) = load::<Senior>(&state, CareKind::Senior, &id).await? else {
        return Err(ApiError::not_found("senior"));
    };
    if senior.exited_on.is_some() {
        return Err(conflict(
            "wrong_state",
            "the senior has already left the programme",
        ));
    }
    let now = state.care.now();
    let today = now.local_date(state.zone);
    let date = input.date.unwrap_or(today);
    if date < senior.enrolled_on || (date - today).num_days().abs() > 366 {
        return Err(bad(
            "invalid_value",
            "date: after enrolment, within a year of today",
        ));
    }
    senior.exited_on = Some(date);
    senior.exit_reason = Some(reason);
    senior.updated_at = now.millis();
    let mut updates = cancel_from(&state, &id, date, "exited").await?;
    updates.insert(0, (senior_record(&senior)?, version));
    let write = CareWrite {
        updates,
        inserts: Vec::new(),
    };
    commit(&state, &write).await?;
    super::withdraw_from_floor(&state, &write.updates);
    audit(&state, &caller, "care.senior.exit", id).await?;
    Ok(Json(senior_view(&senior)))
}

// --- Calls ---

#[derive(Debug, Deserialize)]
struct DueQuery {
    date: Option<String>,
}

fn call_view(call: &Call, senior: Option<&Senior>) -> Value {
    json!({
        "id": call.id,
        "senior_id": call.senior_id,
        "senior_name": senior.map(|s| s.name.clone()),
        "district": senior.map(|s| s.district.clone()),
        "due_at": millis_text(call.due_at),
        "day": call.day,
        "attempt": call.attempt,
        "retry_of": call.retry_of,
        "kind": call.kind,
        "status": call.status,
        "outcome": call.outcome,
        "check": call.check,
        "note": call.note,
        "agent": call.agent,
        "done_at": call.done_at.map(millis_text),
        "interaction_id": call.interaction_id,
        "notices": call.notices,
    })
}

async fn due(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<DueQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(dasan_core::Role::may_make_care_calls)?;
    let today = state.care.now().local_date(state.zone);
    let date = match query.date.as_deref() {
        None => today,
        Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| ApiError::bad_request("invalid_date", "date: YYYY-MM-DD"))?,
    };
    if (date - today).num_days() > state.care.horizon_days || (today - date).num_days() > 366 {
        return Err(ApiError::bad_request(
            "out_of_range",
            format!(
                "date: up to {} days ahead and a year back",
                state.care.horizon_days
            ),
        ));
    }
    audit(&state, &caller, "care.due", date.to_string()).await?;
    let zone = state.zone;
    let mut calls_query = CareQuery::all(CareKind::Call);
    calls_query.from = Some(super::local_millis(zone, date, 0));
    calls_query.to = Some(super::local_millis(zone, date + Duration::days(1), 0));
    let calls = list::<Call>(&state, &calls_query).await?;
    let ids: BTreeSet<&str> = calls.iter().map(|(c, _)| c.senior_id.as_str()).collect();
    let mut seniors = BTreeMap::new();
    if ids.len() > 20 {
        // A busy day: one read of the roster instead of one per senior.
        for (senior, _) in list::<Senior>(&state, &CareQuery::all(CareKind::Senior)).await? {
            if ids.contains(senior.id.as_str()) {
                seniors.insert(senior.id.clone(), senior);
            }
        }
    } else {
        for id in ids {
            if let Some((senior, _)) = load::<Senior>(&state, CareKind::Senior, id).await? {
                seniors.insert(id.to_owned(), senior);
            }
        }
    }
    let views: Vec<Value> = calls
        .iter()
        .map(|(c, _)| call_view(c, seniors.get(&c.senior_id)))
        .collect();
    Ok(Json(json!({ "date": date, "calls": views })))
}

/// A call with its script: the senior, the last calls' notes, the notices.
async fn script(state: &AppState, caller: &Caller, call: &Call) -> Result<Value, ApiError> {
    let Some((senior, _)) = load::<Senior>(state, CareKind::Senior, &call.senior_id).await? else {
        return Err(ApiError::not_found("senior"));
    };
    audit(state, caller, "care.senior.read", senior.id.clone()).await?;
    let mut query = CareQuery::all(CareKind::Call);
    query.owner = Some(senior.id.clone());
    query.statuses = vec!["done".into()];
    query.descending = true;
    query.limit = 5;
    let last: Vec<Value> = list::<Call>(state, &query)
        .await?
        .iter()
        .map(|(c, _)| call_view(c, None))
        .collect();
    let today = state.care.now().local_date(state.zone);
    let notices = super::notices_for(state, &senior, today).await?;
    Ok(json!({
        "call": call_view(call, Some(&senior)),
        "senior": senior_view(&senior),
        "last_calls": last,
        "notices": notices,
    }))
}

async fn read_call(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(dasan_core::Role::may_make_care_calls)?;
    let Some((call, _)) = load::<Call>(&state, CareKind::Call, &id).await? else {
        return Err(ApiError::not_found("call"));
    };
    Ok(Json(script(&state, &caller, &call).await?))
}

async fn call_of_interaction(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<uuid::Uuid>,
) -> Result<Json<Value>, ApiError> {
    caller.require(dasan_core::Role::may_make_care_calls)?;
    let mut query = CareQuery::all(CareKind::Call);
    query.statuses = vec!["queued".into(), "done".into()];
    query.from = Some(state.care.now().millis() - 3 * 86_400_000);
    let found = list::<Call>(&state, &query)
        .await?
        .into_iter()
        .find(|(c, _)| c.interaction_id == Some(id));
    let Some((call, _)) = found else {
        return Err(ApiError::not_found("call"));
    };
    Ok(Json(script(&state, &caller, &call).await?))
}

async fn outcome(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<OutcomeInput>,
) -> Result<Json<Value>, ApiError> {
    caller.require(dasan_core::Role::may_make_care_calls)?;
    let recorded = super::record_outcome(&state, &caller.actor(), &id, input).await?;
    audit(&state, &caller, "care.call.outcome", id).await?;
    if let Some(interaction) = recorded.call.interaction_id {
        finish_on_floor(&state, &caller, interaction, &recorded.call).await;
    }
    Ok(Json(json!({
        "call": call_view(&recorded.call, None),
        "retry": recorded.retry.as_ref().map(|c| call_view(c, None)),
        "follow_up": recorded.follow_up.as_ref().map(|c| call_view(c, None)),
        "escalation": recorded.escalation.as_ref().map(escalation_view),
    })))
}

/// A call recorded from the desktop completes its interaction (with a
/// consultation, channel `care_call`); one recorded from the list takes its
/// interaction off the queue.
async fn finish_on_floor(state: &AppState, caller: &Caller, interaction: uuid::Uuid, call: &Call) {
    let Some(view) = state.floor.interaction(interaction) else {
        return;
    };
    match view.state {
        InteractionState::Queued | InteractionState::Offered => {
            if let Err(error) = state.floor.abandon(interaction) {
                tracing::warn!(%error, "care: a recorded call stayed on the floor");
            }
        }
        InteractionState::Connected if view.agent_id == Some(caller.id) => {
            let Ok(handled) = state.floor.handled_by(caller.id, interaction) else {
                return;
            };
            let Ok(category) = state.taxonomy.resolve("welfare") else {
                return;
            };
            let outcome = call.outcome.map(CareOutcome::as_str).unwrap_or("");
            // A reached call's words are in its check.
            let note = call
                .check
                .as_ref()
                .map(|c| c.note.as_str())
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(&call.note);
            let summary: String = format!("안부 전화 ({outcome}) {note}")
                .trim()
                .chars()
                .take(4_000)
                .collect();
            let record = NewConsultation::from_parts(
                ConsultationId(interaction),
                Channel::CareCall,
                category,
                handled.citizen_phone,
                Some(AgentId(caller.id)),
                handled.answered_at,
                crate::now().max(handled.answered_at),
                summary,
                Outcome::Answered,
                None,
            );
            match record {
                Ok(record) => match state.store.record_consultation(&record).await {
                    Ok(stored) => crate::consultation_stored(state, &stored).await,
                    Err(error) => {
                        tracing::error!(%error, "care: the call's consultation was not stored")
                    }
                },
                Err(error) => tracing::error!(%error, "care: the call's consultation is invalid"),
            }
            if let Err(error) = state.floor.complete(caller.id, interaction) {
                tracing::warn!(%error, "care: the call's interaction was not completed");
            }
        }
        _ => {}
    }
}

// --- Escalations ---

fn escalation_view(e: &Escalation) -> Value {
    json!({
        "id": e.id,
        "senior_id": e.senior_id,
        "department_id": e.department_id,
        "reasons": e.reasons,
        "call_id": e.call_id,
        "status": e.status,
        "opened_at": millis_text(e.opened_at),
        "sent_at": e.sent_at.map(millis_text),
        "acknowledged_at": e.acknowledged_at.map(millis_text),
        "visited_at": e.visited_at.map(millis_text),
        "resolved_at": e.resolved_at.map(millis_text),
        "sends": e.sends,
        "contacts_notified": e.contacts_notified,
        "history": e.history.iter().map(|s| json!({
            "status": s.status, "at": millis_text(s.at), "by": s.by, "note": s.note,
        })).collect::<Vec<_>>(),
    })
}

#[derive(Debug, Deserialize)]
struct EscalationFilter {
    /// `open` (not resolved, the default) or `all`.
    status: Option<String>,
}

async fn list_escalations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<EscalationFilter>,
) -> Result<Json<Value>, ApiError> {
    let department = escalation_scope(&state, &caller).await?;
    let all = match filter.status.as_deref() {
        None | Some("open") => false,
        Some("all") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_value",
                "status: open or all",
            ));
        }
    };
    audit(
        &state,
        &caller,
        "care.escalation.list",
        department.clone().unwrap_or_default(),
    )
    .await?;
    let mut query = CareQuery::all(CareKind::Escalation);
    if !all {
        query.statuses = vec![
            "open".into(),
            "sent".into(),
            "acknowledged".into(),
            "visited".into(),
        ];
    }
    let now = state.care.now().millis();
    let mut views = Vec::new();
    // Oldest first: the longest-waiting case heads the list.
    for (escalation, _) in list::<Escalation>(&state, &query).await? {
        if department
            .as_ref()
            .is_some_and(|d| escalation.department_id.as_ref() != Some(d))
        {
            continue;
        }
        let senior = load::<Senior>(&state, CareKind::Senior, &escalation.senior_id).await?;
        let mut view = escalation_view(&escalation);
        view["age_minutes"] =
            json!((escalation.resolved_at.unwrap_or(now) - escalation.opened_at) / 60_000);
        if let Some((senior, _)) = senior {
            view["senior"] = json!({
                "name": senior.name, "phone": senior.phone, "district": senior.district,
            });
        }
        views.push(view);
    }
    Ok(Json(json!({ "escalations": views })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusInput {
    status: String,
    #[serde(default)]
    note: Option<String>,
}

async fn escalation_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StatusInput>,
) -> Result<Json<Value>, ApiError> {
    let department = escalation_scope(&state, &caller).await?;
    let note = text("note", input.note.as_deref(), 2_000, false)?;
    let escalation = super::advance_escalation(
        &state,
        &id,
        input.status.trim(),
        &caller.actor(),
        &note,
        department.as_deref(),
    )
    .await?;
    audit(&state, &caller, "care.escalation.status", id).await?;
    Ok(Json(escalation_view(&escalation)))
}

// --- Notices ---

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticeInput {
    title: String,
    body: String,
    #[serde(default)]
    districts: Vec<String>,
    #[serde(default)]
    departments: Vec<String>,
    valid_from: NaiveDate,
    valid_to: NaiveDate,
}

async fn create_notice(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<NoticeInput>,
) -> Result<Response, ApiError> {
    caller.require(dasan_core::Role::may_manage_care)?;
    let title = text("title", Some(&input.title), 100, true)?;
    let body = text("body", Some(&input.body), 2_000, true)?;
    if input.valid_to < input.valid_from || (input.valid_to - input.valid_from).num_days() > 366 {
        return Err(bad(
            "invalid_value",
            "valid_to: on or after valid_from, within a year",
        ));
    }
    if input.districts.len() > 50 || input.departments.len() > 50 {
        return Err(bad(
            "invalid_value",
            "at most 50 districts and 50 departments",
        ));
    }
    let known = departments(&state).await?;
    for department in &input.departments {
        if !known.iter().any(|d| &d.id == department) {
            return Err(bad(
                "unknown_department",
                format!("no department {department:?}"),
            ));
        }
    }
    let mut districts = Vec::new();
    for district in &input.districts {
        districts.push(text("districts", Some(district), 30, true)?);
    }
    let now = state.care.now();
    let notice = Notice {
        id: uuid::Uuid::now_v7().to_string(),
        title,
        body,
        districts,
        departments: input.departments,
        valid_from: input.valid_from,
        valid_to: input.valid_to,
        created_by: caller.name.clone(),
        created_at: now.millis(),
    };
    save_notice(&state, &notice).await?;
    audit(&state, &caller, "care.notice.create", notice.id.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(&notice).unwrap_or(Value::Null)),
    )
        .into_response())
}

async fn list_notices(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(|r| r.may_manage_care() || r.may_make_care_calls())?;
    let notices = list::<Notice>(&state, &CareQuery::all(CareKind::Notice)).await?;
    let mut views = Vec::new();
    for (notice, _) in notices {
        // Who it reached: the calls in its validity that relayed it.
        let mut query = CareQuery::all(CareKind::Call);
        query.statuses = vec!["done".into()];
        query.from = Some(super::local_millis(state.zone, notice.valid_from, 0));
        query.to = Some(super::local_millis(
            state.zone,
            notice.valid_to + Duration::days(1),
            0,
        ));
        let reached: BTreeSet<String> = list::<Call>(&state, &query)
            .await?
            .into_iter()
            .filter(|(c, _)| c.notices.contains(&notice.id))
            .map(|(c, _)| c.senior_id)
            .collect();
        let mut view = serde_json::to_value(&notice).unwrap_or(Value::Null);
        view["reached_seniors"] = json!(reached);
        views.push(view);
    }
    Ok(Json(json!({ "notices": views })))
}

// --- Figures ---

#[derive(Debug, Deserialize)]
struct ReportQuery {
    week: Option<NaiveDate>,
}

async fn report(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Json<super::WeekReport>, ApiError> {
    caller.require(dasan_core::Role::may_read_care_reports)?;
    let day = query
        .week
        .unwrap_or_else(|| state.care.now().local_date(state.zone));
    Ok(Json(super::week_report(&state, day).await?))
}

/// The demo center's programme: the district offices and health centers of
/// three districts (no webhooks: their members read cases in Dasan), sixty
/// enrolled seniors with their hours and contacts, and a notice. Does
/// nothing when a roster exists. Answers how many seniors were enrolled.
pub async fn seed_demo(state: &AppState) -> Result<usize, ApiError> {
    if !active_seniors(state).await?.is_empty() {
        return Ok(0);
    }
    let now = state.care.now();
    let today = now.local_date(state.zone);
    let districts = [
        ("jongno", "종로구"),
        ("mapo", "마포구"),
        ("nowon", "노원구"),
    ];
    let mut inserts = Vec::new();
    for (code, district) in districts {
        for (prefix, kind, name) in [
            ("do", "district_office", "구청 복지정책과"),
            ("hc", "health_center", "보건소"),
        ] {
            let id = format!("{prefix}-{code}");
            let department = Department {
                id: id.clone(),
                name: format!("{district} {name}"),
                kind: kind.into(),
                district: Some(district.into()),
                webhook_url: None,
                webhook_secret: random_secret(),
                created_at: now.millis(),
            };
            inserts.push(record(
                CareKind::Department,
                &id,
                "",
                "active",
                now.millis(),
                &department,
            )?);
        }
    }
    commit(
        state,
        &CareWrite {
            updates: Vec::new(),
            inserts,
        },
    )
    .await?;
    let all = departments(state).await?;
    let demo = Caller {
        id: uuid::Uuid::nil(),
        kind: "user",
        role: dasan_core::Role::Coordinator,
        name: "demo".into(),
        session: None,
    };
    let family = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"];
    let given = [
        "순자", "영수", "말순", "복례", "정호", "옥분", "춘자", "병철", "금순", "만수",
    ];
    let hours = ["09:00-12:00", "10:00-17:00", "14:00-18:00"];
    let mut seniors = Vec::new();
    for i in 0..60usize {
        let (_, district) = districts[i % 3];
        let input = SeniorInput {
            name: format!("{}{}", family[i % 10], given[(i / 10 + i) % 10]),
            phone: format!("010-9{:03}-{:04}", i, 1000 + i * 37),
            district: district.into(),
            calls_per_week: 2 + (i % 2) as u8,
            birth_year: Some(1930 + (i % 20) as u16),
            living_situation: Some("홀로 거주".into()),
            emergency_contacts: vec![ContactInput {
                name: "보호자".into(),
                phone: format!("010-8{:03}-{:04}", i, 2000 + i * 41),
                relation: Some("자녀".into()),
            }],
            district_office: None,
            health_center: None,
            days: (i % 4 == 0).then(|| json!("mon,wed,fri")),
            hours: Some(hours[i % 3].into()),
            health_notes: Some(
                if i % 5 == 0 {
                    "고혈압 약 복용"
                } else {
                    ""
                }
                .into(),
            ),
            consent_date: Some(today),
            enrolled_on: Some(today),
        };
        seniors.push(senior_from(&demo, input, &all, today).await?);
    }
    let (kept, _) = enrol(state, seniors).await?;
    let notice = Notice {
        id: uuid::Uuid::now_v7().to_string(),
        title: "겨울철 한파 대비".into(),
        body: "외출 시 따뜻하게 입으시고, 보일러 점검은 구청에서 무료로 해 드립니다.".into(),
        districts: Vec::new(),
        departments: Vec::new(),
        valid_from: today,
        valid_to: today + Duration::days(30),
        created_by: "demo".into(),
        created_at: now.millis(),
    };
    save_notice(state, &notice).await?;
    Ok(kept.len())
}

/// Stores a new notice, keyed by the start of its validity.
async fn save_notice(state: &AppState, notice: &Notice) -> Result<(), ApiError> {
    let at = super::local_millis(state.zone, notice.valid_from, 0);
    commit(
        state,
        &CareWrite {
            updates: Vec::new(),
            inserts: vec![record(
                CareKind::Notice,
                &notice.id,
                "",
                "active",
                at,
                notice,
            )?],
        },
    )
    .await?;
    Ok(())
}
