//! The OpenAPI 3 document served at `/api/v1/openapi.json`. Written by hand
//! next to the handlers; a test checks that every route the router serves is
//! documented, and that every documented path is served.

use axum::Json;
use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok_json(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn filter_parameters() -> Vec<Value> {
    vec![
        json!({"name": "from", "in": "query", "schema": {"type": "string"}, "description": "Inclusive lower bound of started_at: RFC 3339, or a local date YYYY-MM-DD."}),
        json!({"name": "to", "in": "query", "schema": {"type": "string"}, "description": "Exclusive upper bound of started_at: RFC 3339, or a local date YYYY-MM-DD."}),
        json!({"name": "category", "in": "query", "schema": {"type": "string"}, "description": "A category code; matches its sub-categories too."}),
        json!({"name": "channel", "in": "query", "schema": {"$ref": "#/components/schemas/Channel"}}),
    ]
}

/// The document itself.
pub fn spec() -> Value {
    let common_errors = |mut responses: serde_json::Map<String, Value>| {
        responses.insert(
            "401".into(),
            error_response("Missing or invalid bearer token"),
        );
        responses.insert(
            "403".into(),
            error_response("The token's role may not do this"),
        );
        Value::Object(responses)
    };
    let mut list_params = filter_parameters();
    list_params.extend([
        json!({"name": "citizen_phone", "in": "query", "schema": {"type": "string"}, "description": "Any written form of the number; normalised before matching."}),
        json!({"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page."}),
        json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}),
    ]);
    let mut spec = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Dasan API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The contact center's JSON API. Every endpoint under /api/v1 except this document takes `Authorization: Bearer <token>` (create one with `dasan token create --role ROLE`). Errors have one shape: {\"error\": {\"code\": \"snake_case\", \"message\": \"...\"}}."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {
                "summary": "Readiness: 200 when the database answers",
                "security": [],
                "responses": {"200": {"description": "Ready"}, "503": error_response("The database does not answer")}
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics (text format)",
                "security": [],
                "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}}}
            }},
            "/api/v1/openapi.json": {"get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3 document"}}
            }},
            "/api/v1/consultations": {
                "post": {
                    "summary": "Record a consultation (durable before the answer)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateConsultation"}}}},
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("201".to_owned(), ok_json("Stored", "Consultation")),
                        ("200".to_owned(), ok_json("Already stored with this id and content (idempotent retry)", "Consultation")),
                        ("400".to_owned(), error_response("Malformed JSON")),
                        ("409".to_owned(), error_response("Another consultation has this id")),
                        ("413".to_owned(), error_response("Body too large")),
                        ("415".to_owned(), error_response("Not JSON")),
                        ("422".to_owned(), error_response("Invalid field (unknown category, bad phone, reversed times...)")),
                    ]))
                },
                "get": {
                    "summary": "List consultations, newest first (audited)",
                    "parameters": list_params,
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("200".to_owned(), ok_json("A page", "ConsultationPage")),
                        ("400".to_owned(), error_response("Invalid query")),
                        ("422".to_owned(), error_response("Invalid filter value")),
                    ]))
                }
            },
            "/api/v1/consultations/{id}": {"get": {
                "summary": "Read one consultation (audited)",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), ok_json("Found", "Consultation")),
                    ("404".to_owned(), error_response("No such consultation")),
                ]))
            }},
            "/api/v1/categories": {"get": {
                "summary": "The category taxonomy",
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), ok_json("All categories", "Categories")),
                ]))
            }},
            "/api/v1/agents": {
                "get": {
                    "summary": "List agents",
                    "responses": common_errors(serde_json::Map::from_iter([("200".to_owned(), ok_json("Agents", "Agents"))]))
                },
                "post": {
                    "summary": "Create an agent (admin, supervisor)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateAgent"}}}},
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("201".to_owned(), ok_json("Created", "Agent")),
                        ("422".to_owned(), error_response("Invalid field")),
                    ]))
                }
            },
            "/api/v1/agents/{id}": {"get": {
                "summary": "Read one agent",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), ok_json("Found", "Agent")),
                    ("404".to_owned(), error_response("No such agent")),
                ]))
            }},
            "/api/v1/stats": {"get": {
                "summary": "The center's statistics (admin, supervisor)",
                "parameters": filter_parameters(),
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), ok_json("Statistics", "Statistics")),
                    ("400".to_owned(), error_response("Invalid query")),
                ]))
            }},
            "/api/v1/consultations/export": {"get": {
                "summary": "Export filtered consultations as CSV or XLSX, streamed (audited)",
                "parameters": export_parameters(filter_parameters(), false),
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "The file", "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}}
                    }})),
                    ("400".to_owned(), error_response("Invalid query")),
                ]))
            }},
            "/api/v1/stats/export": {"get": {
                "summary": "Export one statistics report as CSV or XLSX (admin, supervisor)",
                "parameters": export_parameters(filter_parameters(), true),
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "The file", "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}}
                    }})),
                    ("400".to_owned(), error_response("Invalid query")),
                ]))
            }}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string", "example": "invalid_phone"}, "message": {"type": "string"}}
                }}},
                "Channel": {"type": "string", "enum": ["voice", "sms", "mms", "video", "web", "care_call", "open311"]},
                "Outcome": {"type": "string", "enum": ["answered", "transferred", "callback", "dropped"]},
                "CreateConsultation": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["channel", "category", "citizen_phone", "started_at", "ended_at", "outcome"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid", "description": "Optional; makes retries idempotent."},
                        "channel": {"$ref": "#/components/schemas/Channel"},
                        "category": {"type": "string", "example": "transport.taxi"},
                        "citizen_phone": {"type": "string", "example": "010-1234-5678"},
                        "agent_id": {"type": "string", "format": "uuid"},
                        "started_at": {"type": "string", "format": "date-time"},
                        "ended_at": {"type": "string", "format": "date-time"},
                        "summary": {"type": "string", "maxLength": 4000},
                        "outcome": {"$ref": "#/components/schemas/Outcome"},
                        "department": {"type": "string", "description": "Required when outcome is transferred, refused otherwise."}
                    }
                },
                "Consultation": {
                    "type": "object",
                    "required": ["id", "channel", "category", "citizen_phone", "started_at", "ended_at", "summary", "outcome", "recorded_at"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "channel": {"$ref": "#/components/schemas/Channel"},
                        "category": {"type": "string"},
                        "citizen_phone": {"type": "string", "description": "E.164"},
                        "citizen_phone_display": {"type": "string"},
                        "agent_id": {"type": "string", "format": "uuid", "nullable": true},
                        "started_at": {"type": "string", "format": "date-time"},
                        "ended_at": {"type": "string", "format": "date-time"},
                        "duration_seconds": {"type": "integer"},
                        "summary": {"type": "string"},
                        "outcome": {"$ref": "#/components/schemas/Outcome"},
                        "department": {"type": "string", "nullable": true},
                        "recorded_at": {"type": "string", "format": "date-time"}
                    }
                },
                "ConsultationPage": {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Consultation"}},
                    "next_cursor": {"type": "string", "nullable": true}
                }},
                "Categories": {"type": "object", "properties": {"categories": {"type": "array", "items": {
                    "type": "object", "properties": {
                        "code": {"type": "string"}, "parent": {"type": "string", "nullable": true},
                        "name_ko": {"type": "string"}, "name_en": {"type": "string"}
                    }
                }}}},
                "CreateAgent": {"type": "object", "additionalProperties": false, "required": ["name", "channels"], "properties": {
                    "name": {"type": "string"},
                    "skills": {"type": "array", "items": {"type": "string", "example": "sign_language"}},
                    "channels": {"type": "array", "items": {"$ref": "#/components/schemas/Channel"}}
                }},
                "Agent": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
                    "skills": {"type": "array", "items": {"type": "string"}},
                    "channels": {"type": "array", "items": {"$ref": "#/components/schemas/Channel"}}
                }},
                "Agents": {"type": "object", "properties": {"agents": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}}},
                "Statistics": {"type": "object", "properties": {
                    "total": {"type": "integer"},
                    "milestones": {"type": "array", "items": {"type": "object", "properties": {"count": {"type": "integer"}, "date": {"type": "string", "format": "date"}}}},
                    "daily_average_by_month": {"type": "array", "items": {"type": "object", "properties": {"month": {"type": "string"}, "average": {"type": "number"}}}},
                    "category_share": {"type": "array", "items": {"type": "object", "properties": {"code": {"type": "string"}, "share": {"type": "number"}, "count": {"type": "integer"}}}},
                    "channel_share": {"type": "array", "items": {"type": "object", "properties": {"code": {"type": "string"}, "share": {"type": "number"}, "count": {"type": "integer"}}}},
                    "night_by_month": {"type": "array", "items": {"type": "object", "properties": {"month": {"type": "string"}, "count": {"type": "integer"}}}},
                    "heavy_users": {"type": "object", "properties": {
                        "max": {"type": "integer"}, "at_least_100": {"type": "integer"}, "at_least_300": {"type": "integer"},
                        "at_least_500": {"type": "integer"}, "at_least_1000": {"type": "integer"},
                        "scope": {"type": "string", "enum": ["all_time"], "description": "Heavy users count each citizen's whole history; filters do not narrow them."}
                    }},
                    "handle_time": {"type": "object", "properties": {
                        "average_seconds": {"type": "number"},
                        "by_month": {"type": "array", "items": {"$ref": "#/components/schemas/HandleTime"}},
                        "by_category": {"type": "array", "items": {"$ref": "#/components/schemas/HandleTime"}}
                    }}
                }},
                "HandleTime": {"type": "object", "properties": {
                    "key": {"type": "string", "description": "Month (YYYY-MM) or top-level category code"},
                    "consultations": {"type": "integer"},
                    "average_seconds": {"type": "number"}
                }}
            }
        }
    });
    // The live floor's part, kept apart (one `json!` this size would
    // exceed the macro's recursion limit).
    let (live_paths, live_schemas) = live(common_errors);
    if let (Some(paths), Value::Object(live)) = (spec["paths"].as_object_mut(), live_paths) {
        paths.extend(live);
    }
    if let (Some(schemas), Value::Object(live)) =
        (spec["components"]["schemas"].as_object_mut(), live_schemas)
    {
        schemas.extend(live);
    }
    let (kb_paths, kb_schemas) = kb(&common_errors);
    if let (Some(paths), Value::Object(kb)) = (spec["paths"].as_object_mut(), kb_paths) {
        paths.extend(kb);
    }
    if let (Some(schemas), Value::Object(kb)) =
        (spec["components"]["schemas"].as_object_mut(), kb_schemas)
    {
        schemas.extend(kb);
    }
    if let (Some(paths), Value::Object(care)) =
        (spec["paths"].as_object_mut(), care(&common_errors))
    {
        paths.extend(care);
    }
    spec
}

/// The care-call programme's paths.
fn care(common_errors: &impl Fn(serde_json::Map<String, Value>) -> Value) -> Value {
    let id = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let answers = |pairs: &[(&str, Value)]| {
        common_errors(serde_json::Map::from_iter(
            pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())),
        ))
    };
    let ok = |d: &str| json!({"description": d});
    let invalid = error_response(
        "A field does not hold (invalid_value, empty, too_long, invalid_phone, unknown_department)",
    );
    json!({
        "/api/v1/care/departments": {
            "get": {"summary": "Departments (district offices, health centers, other agencies) with their webhook (secret never shown)", "responses": answers(&[("200", ok("{\"departments\": [{id, name, kind, district, webhook_url, webhook_secret_set}]}"))])},
            "post": {"summary": "Add a department (admin, coordinator). kind: district_office | health_center | other; webhook_url http://; the secret (given or generated) is shown once",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["name", "kind"], "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"}, "district": {"type": "string"},
                    "webhook_url": {"type": "string"}, "webhook_secret": {"type": "string", "minLength": 16}}}}}},
                "responses": answers(&[("201", ok("The department, with webhook_secret")), ("409", error_response("duplicate")), ("422", invalid.clone())])}
        },
        "/api/v1/care/departments/{id}": {"put": {"summary": "Change a department (admin, coordinator); the secret is kept unless given", "parameters": id, "responses": answers(&[("200", ok("The department")), ("404", error_response("not_found")), ("422", invalid.clone())])}},
        "/api/v1/care/departments/{id}/members": {"post": {"summary": "Make a department account (username) or API token (token_id) act for the department: it then sees only its seniors and escalations", "parameters": id, "responses": answers(&[("201", ok("{department_id, member_id}")), ("404", error_response("not_found"))])}},
        "/api/v1/care/seniors": {
            "get": {"summary": "The roster (care roles; a department member: its seniors). Audited", "parameters": [
                {"name": "district", "in": "query", "schema": {"type": "string"}},
                {"name": "include_exited", "in": "query", "schema": {"type": "boolean"}}],
                "responses": answers(&[("200", ok("{\"seniors\": [...]}"))])},
            "post": {"summary": "Enrol a senior (admin, coordinator): at least name, phone, district, calls_per_week (1-7); optional birth_year, living_situation, emergency_contacts [{name, phone, relation}], district_office, health_center (default: the district's), days (\"mon,wed,fri\"), hours (\"10:00-12:00\", default 10:00-17:00), health_notes, consent_date, enrolled_on. The coming 14 days are planned at once",
                "responses": answers(&[("201", ok("The senior with its id")), ("409", error_response("already_enrolled: an active senior has this phone")), ("422", invalid.clone())])}
        },
        "/api/v1/care/seniors/import": {"post": {"summary": "Enrol seniors from CSV (text/csv, header row; columns: name, phone, district, calls_per_week, birth_year, living_situation, days, hours, district_office, health_center, health_notes, consent_date, enrolled_on, emergency_name, emergency_phone, emergency_relation). All or nothing; already enrolled phones are skipped",
            "responses": answers(&[("201", ok("{imported, already_enrolled}")), ("400", error_response("invalid_csv, naming the line"))])}},
        "/api/v1/care/seniors/{id}": {
            "get": {"summary": "One senior (care roles, or the senior's departments). Audited", "parameters": id, "responses": answers(&[("200", ok("The senior")), ("404", error_response("not_found"))])},
            "put": {"summary": "Change a senior (same body as POST); a new schedule applies from next Monday", "parameters": id, "responses": answers(&[("200", ok("The senior")), ("422", invalid.clone())])}
        },
        "/api/v1/care/seniors/{id}/exit": {"post": {"summary": "The senior leaves the programme ({reason, date?}); calls from that day are cancelled", "parameters": id, "responses": answers(&[("200", ok("The senior")), ("409", error_response("wrong_state"))])}},
        "/api/v1/care/due": {"get": {"summary": "The calls of one local day (default today; up to 14 days ahead), open or done. Audited",
            "parameters": [{"name": "date", "in": "query", "schema": {"type": "string", "format": "date"}}],
            "responses": answers(&[("200", ok("{\"date\", \"calls\": [{id, senior_id, senior_name, district, due_at, day, attempt, retry_of, kind: planned|retry|medical, status: open|queued|done|cancelled, outcome, check, note, agent, done_at, interaction_id, notices}]}")), ("400", error_response("invalid_date, out_of_range"))])}},
        "/api/v1/care/calls/{id}": {"get": {"summary": "A call with its script: the senior, the last five calls, the notices to relay. Audited", "parameters": id, "responses": answers(&[("200", ok("{call, senior, last_calls, notices}")), ("404", error_response("not_found"))])}},
        "/api/v1/care/calls/{id}/outcome": {"post": {"summary": "Record a try: {outcome: reached|no_answer|busy|wrong_number|in_hospital|opted_out|deceased, check?: {health: good|fair|unwell|fell, meals: regular|irregular|no_food, mood: good|low|crisis, needs: [medical_counselling, housekeeping, meal_delivery, heating, other], note, concern}, note?, notices?}. Unanswered: a retry per the policy; consecutive failures or a worrying check: an escalation; medical_counselling: a call for a medically skilled agent",
            "parameters": id, "responses": answers(&[("200", ok("{call, retry, follow_up, escalation}")), ("404", error_response("not_found")), ("409", error_response("call_closed")), ("422", invalid.clone())])}},
        "/api/v1/care/interactions/{id}": {"get": {"summary": "The call (with its script) behind a care_call interaction on the floor", "parameters": id, "responses": answers(&[("200", ok("{call, senior, last_calls, notices}")), ("404", error_response("not_found"))])}},
        "/api/v1/care/escalations": {"get": {"summary": "Escalations, oldest first (coordinators: all; department members: their department's). status=open (default: not resolved) or all",
            "parameters": [{"name": "status", "in": "query", "schema": {"type": "string"}}],
            "responses": answers(&[("200", ok("{\"escalations\": [{id, senior_id, department_id, reasons, status: open|sent|acknowledged|visited|resolved, opened_at, ..., age_minutes, senior: {name, phone, district}}]}"))])}},
        "/api/v1/care/escalations/{id}/status": {"post": {"summary": "Move an escalation forward: {status: acknowledged|visited|resolved, note?} (coordinators, or its department)", "parameters": id,
            "responses": answers(&[("200", ok("The escalation")), ("404", error_response("not_found")), ("409", error_response("wrong_state"))])}},
        "/api/v1/care/notices": {
            "get": {"summary": "Notices with the seniors each reached", "responses": answers(&[("200", ok("{\"notices\": [{id, title, body, districts, departments, valid_from, valid_to, reached_seniors}]}"))])},
            "post": {"summary": "Post a notice for agents to relay (admin, coordinator): {title, body, districts?, departments?, valid_from, valid_to}", "responses": answers(&[("201", ok("The notice")), ("422", invalid)])}
        },
        "/api/v1/care/report": {"get": {"summary": "The week's figures (admin, coordinator, supervisor): coverage, answer rate, escalations and time to resolution, tries per day",
            "parameters": [{"name": "week", "in": "query", "schema": {"type": "string", "format": "date"}, "description": "Any day of the week; default this week"}],
            "responses": answers(&[("200", ok("{week_start, seniors_scheduled, seniors_covered, coverage, tries, reached, answer_rate, escalations_opened, escalations_resolved, mean_hours_to_resolution, calls_per_day: [{date, tries, reached}]}"))])}},
        "/api/v1/calls": {"get": {"summary": "Phone calls through the voice front door, newest first (admin, supervisor; audited): caller, dialled number, queue, wait, talk time, outcome, the agent, the consultation completed for the call",
            "parameters": [
                {"name": "interaction", "in": "query", "schema": {"type": "string", "format": "uuid"}, "description": "Only the calls of this interaction"},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}, "description": "Default 50"}
            ],
            "responses": answers(&[("200", ok("{\"calls\": [{id, interaction_id, consultation_id, caller, caller_display, dialled, queue, started_at, queued_at, answered_at, ended_at, wait_seconds, talk_seconds, outcome (answered, abandoned, ivr), ended_by (caller, agent, timeout), agent_id, agents_rung, packets_from_caller, packets_from_agent, survey_score}]}")), ("400", error_response("invalid_interaction, invalid_limit"))])}}
    })
}

/// The knowledge base's paths and schemas.
fn kb(common_errors: &impl Fn(serde_json::Map<String, Value>) -> Value) -> (Value, Value) {
    let paths = json!({
            "/api/v1/surveys/reuse": {"post": {
                "summary": "Start a re-use survey campaign (admin, supervisor, coordinator): a random sample of the distinct citizens with a consultation in [from, to), each asked once by SMS; opted-out numbers are sampled but not asked",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["from", "to", "sample_size"], "properties": {
                    "from": {"type": "string", "format": "date-time"},
                    "to": {"type": "string", "format": "date-time"},
                    "sample_size": {"type": "integer", "minimum": 1, "maximum": 10000},
                    "question": {"type": "string", "maxLength": 500}
                }}}}},
                "responses": common_errors(serde_json::Map::from_iter([
                    ("201".to_owned(), json!({"description": "The campaign with its counts (see GET)"})),
                    ("400".to_owned(), error_response("Bad period, sample size or question")),
                    ("409".to_owned(), error_response("sms_not_configured")),
                ]))
            }},
            "/api/v1/surveys/reuse/{id}": {"get": {
                "summary": "A re-use campaign's results: answers by SMS (예/네 or 아니요), response rate, share answering yes with its 95% Wilson interval",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "{id, from, to, population, sampled, skipped, sent, responses, yes, response_rate, yes_share, yes_share_ci95: {low, high}}"})),
                ]))
            }},
            "/api/v1/stats/satisfaction/agents": {"get": {
                "summary": "Satisfaction per agent (admin, supervisor), with the statistics' filters",
                "parameters": [
                    {"name": "from", "in": "query", "schema": {"type": "string"}},
                    {"name": "to", "in": "query", "schema": {"type": "string"}},
                    {"name": "category", "in": "query", "schema": {"type": "string"}},
                    {"name": "channel", "in": "query", "schema": {"type": "string"}}
                ],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "{\"agents\": [{agent_id, agent_name, sent, responses, response_rate, satisfied_share, mean}]}, most responses first"})),
                ]))
            }},
            "/api/v1/consultations/{id}/survey-link": {"get": {
                "summary": "The signed, single-use link to the satisfaction survey of a video or web consultation, for the channel to show the citizen (roles that record consultations)",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "{\"url\": \"https://.../survey/<token>\", \"expires_at\": \"...\", \"status\": \"sent\" | \"answered\"}"})),
                ]))
            }},
            "/api/v1/kb/search": {"get": {
                "summary": "Search the published knowledge-base articles (anyone signed in). Korean-aware: particles, spacing, colloquial words, typos",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 1000}, "description": "The query; required unless category is given"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 10}, "description": "At most 50 hits are given"},
                    {"name": "category", "in": "query", "schema": {"type": "string"}, "description": "Favour articles in this category (or under it): suggestions for a contact"}
                ],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "{\"hits\": [{id, title, category, score, snippet}]}; the snippet is HTML-escaped text with matches in <mark>"})),
                    ("400".to_owned(), error_response("Empty or too long query, limit 0, unknown category")),
                ]))
            }},
            "/api/v1/kb/articles": {
                "get": {
                    "summary": "Every article (editors) or every published one (others)",
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("200".to_owned(), json!({"description": "{\"articles\": [{id, title, category, tags, status, version, updated_at, updated_by}]}"})),
                    ]))
                },
                "post": {
                    "summary": "Write an article (admin, supervisor); the id is made when not given",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ArticleBody"}}}},
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("201".to_owned(), json!({"description": "{\"article\": {...}, \"outcome\": \"created\"}"})),
                        ("400".to_owned(), error_response("Invalid field or unknown category")),
                        ("409".to_owned(), error_response("The id is in use")),
                    ]))
                }
            },
            "/api/v1/kb/articles/{id}": {
                "get": {
                    "summary": "One article (drafts only for editors)",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("200".to_owned(), json!({"description": "{\"article\": {id, title, body, category, tags, status, version, created_at, updated_at, updated_by}}"})),
                    ]))
                },
                "put": {
                    "summary": "Change (or create) an article (admin, supervisor); with `version`, a stale edit is refused",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ArticleBody"}}}},
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("200".to_owned(), json!({"description": "{\"article\": {...}, \"outcome\": \"updated\" | \"unchanged\"}"})),
                        ("201".to_owned(), json!({"description": "Created"})),
                        ("400".to_owned(), error_response("Invalid field or unknown category")),
                        ("409".to_owned(), error_response("version_conflict")),
                    ]))
                },
                "delete": {
                    "summary": "Delete an article (admin, supervisor); its versions are kept",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("204".to_owned(), json!({"description": "Deleted and out of search"})),
                    ]))
                }
            },
            "/api/v1/kb/articles/{id}/versions": {"get": {
                "summary": "An article's versions, newest first, with author and time (admin, supervisor)",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "{\"versions\": [{version, author, at, title, body, category, tags, status}]}"})),
                ]))
            }},
            "/api/v1/kb/synonyms": {
                "get": {
                    "summary": "The synonym list search uses",
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("200".to_owned(), json!({"description": "{\"groups\": [[\"수도요금\", \"수도세\", ...]]}; the first word of a group is the official one"})),
                    ]))
                },
                "put": {
                    "summary": "Replace the synonym list (admin, supervisor); in force at once, kept in the store, audited",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["groups"], "properties": {"groups": {"type": "array", "items": {"type": "array", "minItems": 2, "items": {"type": "string", "maxLength": 40}}}}}}}},
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("200".to_owned(), json!({"description": "The list as stored"})),
                        ("400".to_owned(), error_response("A group with fewer than two words, or too long")),
                    ]))
                }
            },
            "/api/v1/kb/rebuild": {"post": {
                "summary": "Rebuild the search index from the store (admin, supervisor)",
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "{\"articles\": n} published articles indexed"})),
                ]))
            }}
    });
    let schemas = json!({
        "ArticleBody": {"type": "object", "additionalProperties": false, "required": ["title", "category"], "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 100, "description": "Printable, no surrounding spaces; made when not given"},
            "title": {"type": "string", "maxLength": 300},
            "body": {"type": "string", "maxLength": 20000, "description": "Markdown"},
            "category": {"type": "string", "example": "water.bill"},
            "tags": {"type": "array", "maxItems": 30, "items": {"type": "string", "maxLength": 50}},
            "status": {"type": "string", "enum": ["draft", "published"], "default": "published"},
            "version": {"type": "integer", "description": "The version this edit is based on"}
        }}
    });
    (paths, schemas)
}

/// The paths and schemas of the live floor (interactions, desktop,
/// wallboard).
fn live(common_errors: impl Fn(serde_json::Map<String, Value>) -> Value) -> (Value, Value) {
    let paths = json!({
            "/api/v1/interactions": {"post": {
                "summary": "Queue a contact on the live floor (channel edges: IVR, SMS, video, web)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateInteraction"}}}},
                "responses": common_errors(serde_json::Map::from_iter([
                    ("201".to_owned(), ok_json("Queued (or already offered to a free agent)", "Interaction")),
                    ("422".to_owned(), error_response("Invalid channel, phone, category, skill or priority")),
                    ("503".to_owned(), error_response("The floor is full")),
                ]))
            }},
            "/api/v1/interactions/{id}": {"get": {
                "summary": "One interaction (agents: only their own)",
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), ok_json("The interaction", "Interaction")),
                    ("404".to_owned(), error_response("Unknown interaction")),
                ]))
            }},
            "/api/v1/interactions/{id}/accept": {"post": {
                "summary": "The offered agent accepts (signed-in users only)",
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), ok_json("Connected", "Interaction")),
                    ("409".to_owned(), error_response("Not offered any more")),
                ]))
            }},
            "/api/v1/interactions/{id}/decline": {"post": {
                "summary": "The offered agent declines; the contact goes back to its place and the agent to break",
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), ok_json("Back in the queue or offered to the next agent", "Interaction")),
                    ("409".to_owned(), error_response("Not offered any more")),
                ]))
            }},
            "/api/v1/interactions/{id}/abandon": {"post": {
                "summary": "The citizen left before being connected (channel edges; admin, supervisor)",
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), ok_json("Abandoned", "Interaction")),
                    ("409".to_owned(), error_response("Already connected or finished")),
                ]))
            }},
            "/api/v1/interactions/{id}/complete": {"post": {
                "summary": "The handling agent stores the consultation (same id as the interaction) and goes to wrap-up",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompleteInteraction"}}}},
                "responses": common_errors(serde_json::Map::from_iter([
                    ("201".to_owned(), ok_json("Stored", "Consultation")),
                    ("409".to_owned(), error_response("Not connected (e.g. already completed)")),
                    ("422".to_owned(), error_response("Invalid form")),
                ]))
            }},
            "/api/v1/interactions/{id}/messages": {
                "get": {
                    "summary": "A text thread's messages, oldest first (the handling agent, or supervisors and tokens; audited)",
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("200".to_owned(), json!({"description": "{\"messages\": [Message]}"})),
                        ("422".to_owned(), error_response("Not a text thread")),
                    ]))
                },
                "post": {
                    "summary": "Reply in a text thread: queued in the durable outbox and delivered to the SMS gateway (SMS up to 90 bytes, else LMS)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["body"], "properties": {"body": {"type": "string", "maxLength": 1000}}}}}},
                    "responses": common_errors(serde_json::Map::from_iter([
                        ("202".to_owned(), json!({"description": "Queued: the message with status queued"})),
                        ("422".to_owned(), error_response("Empty or too long")),
                    ]))
                }
            },
            "/api/v1/stats/messages": {"get": {
                "summary": "Text messages in a period by direction and kind, with the outbound cost in won (admin, supervisor)",
                "parameters": [{"name": "from", "in": "query", "schema": {"type": "string"}}, {"name": "to", "in": "query", "schema": {"type": "string"}}],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "{\"totals\": [{direction, kind, messages, cost_won}], \"outbound_cost_won\": n}"})),
                    ("422".to_owned(), error_response("Invalid date")),
                ]))
            }},
            "/api/v1/messages": {"get": {
                "summary": "A citizen's text messages both ways (agent role or above; audited)",
                "parameters": [{"name": "citizen_phone", "in": "query", "required": true, "schema": {"type": "string"}}, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}}],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "{\"messages\": [{id, interaction_id, direction, body, status, kind, cost_won, media, ...}]}"})),
                    ("422".to_owned(), error_response("Invalid phone number")),
                ]))
            }},
            "/api/v1/desktop/state": {"get": {
                "summary": "The signed-in agent's screen document (joins the floor the first time)",
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "Presence, the pending offer with its countdown, connected contacts"})),
                ]))
            }},
            "/api/v1/desktop/events": {"get": {
                "summary": "The agent's screen as Server-Sent Events (`desktop` events carrying the whole document)",
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "text/event-stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}})),
                ]))
            }},
            "/api/v1/desktop/presence": {"post": {
                "summary": "Go available, on break or offline",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["presence"], "properties": {"presence": {"type": "string", "enum": ["available", "break", "offline"]}}}}}},
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "The screen document after the change"})),
                    ("422".to_owned(), error_response("Unknown presence")),
                ]))
            }},
            "/api/v1/wallboard": {"get": {
                "summary": "The floor now: queues (waiting, longest wait, today's counts, service level), agents by state (admin, supervisor)",
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "The wallboard document"})),
                ]))
            }},
            "/api/v1/wallboard/events": {"get": {
                "summary": "The wallboard as Server-Sent Events: `wallboard` (JSON) and `chart` (today's half hours, SVG)",
                "parameters": [{"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["ko", "en"]}}],
                "responses": common_errors(serde_json::Map::from_iter([
                    ("200".to_owned(), json!({"description": "text/event-stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}})),
                ]))
            }}
    });
    let schemas = json!({
                "CreateInteraction": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["channel", "citizen_phone"],
                    "properties": {
                        "channel": {"$ref": "#/components/schemas/Channel"},
                        "citizen_phone": {"type": "string", "example": "010-2222-1200"},
                        "category": {"type": "string", "example": "water", "description": "The topic the citizen chose; decides the queue with the channel."},
                        "required_skills": {"type": "array", "maxItems": 8, "items": {"type": "string", "example": "lang:en"}},
                        "priority": {"type": "integer", "minimum": 0, "maximum": 9, "default": 0}
                    }
                },
                "Interaction": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "channel": {"$ref": "#/components/schemas/Channel"},
                        "citizen_phone": {"type": "string", "description": "E.164"},
                        "citizen_phone_display": {"type": "string"},
                        "category": {"type": "string", "nullable": true},
                        "required_skills": {"type": "array", "items": {"type": "string"}},
                        "priority": {"type": "integer"},
                        "queue": {"type": "string", "example": "voice/water"},
                        "state": {"type": "string", "enum": ["queued", "offered", "connected", "completed", "abandoned"]},
                        "agent_id": {"type": "string", "format": "uuid", "nullable": true},
                        "arrived_at": {"type": "string", "format": "date-time"},
                        "offer_deadline": {"type": "string", "format": "date-time", "nullable": true},
                        "answered_at": {"type": "string", "format": "date-time", "nullable": true},
                        "ended_at": {"type": "string", "format": "date-time", "nullable": true}
                    }
                },
                "CompleteInteraction": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["category", "outcome"],
                    "properties": {
                        "category": {"type": "string", "example": "water.bill"},
                        "summary": {"type": "string", "maxLength": 4000},
                        "outcome": {"$ref": "#/components/schemas/Outcome"},
                        "department": {"type": "string", "description": "Required when outcome is transferred."}
                    }
                }
    });
    (paths, schemas)
}

/// The filter parameters plus `format` (and `report` for report exports).
fn export_parameters(filters: Vec<Value>, report: bool) -> Value {
    let mut list = filters;
    if !report {
        list.push(json!({"name": "citizen_phone", "in": "query", "schema": {"type": "string"}}));
    }
    list.push(json!({"name": "format", "in": "query", "schema": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"}}));
    if report {
        list.push(json!({"name": "report", "in": "query", "required": true, "schema": {"type": "string", "enum": crate::exports::REPORTS}}));
    }
    Value::Array(list)
}

pub(crate) async fn document() -> Json<Value> {
    Json(spec())
}
