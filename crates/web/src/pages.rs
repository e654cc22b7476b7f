//! The live pages: the agent desktop (`/desktop`) and the supervisors'
//! wallboard (`/wallboard`), their scripts (`/assets/...`) and the language
//! switch (`/language`).
//!
//! The server renders each page's frame and every string in it; the script
//! fills in the live parts from the Server-Sent Events of [`crate::live`].
//! Strings the script shows come from the same i18n table, embedded in the
//! page as JSON data (not code), so Korean and English stay in one place.
//! Neither page is served without a signed-in session: a visitor gets the
//! sign-in form with 401.

use std::fmt::Write;

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use dasan_core::Outcome;
use dasan_store::{SessionRecord, Store, UserRecord};
use serde::Deserialize;

use crate::{
    AppState,
    charts::escape,
    error::{ApiError, ApiQuery},
    i18n::{Lang, t},
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/desktop", get(desktop))
        .route("/wallboard", get(wallboard))
        .route("/language", get(language))
        .route("/assets/desktop.js", get(desktop_js))
        .route("/assets/wallboard.js", get(wallboard_js))
        .route("/kb", get(kb_admin))
        .route("/assets/kb.js", get(kb_js))
        .route("/care", get(care_page))
        .route("/assets/care.js", get(care_js))
}

const DESKTOP_JS: &str = include_str!("../assets/desktop.js");
const WALLBOARD_JS: &str = include_str!("../assets/wallboard.js");
const KB_JS: &str = include_str!("../assets/kb.js");
const CARE_JS: &str = include_str!("../assets/care.js");

pub(crate) fn script(source: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        source,
    )
        .into_response()
}

async fn desktop_js() -> Response {
    script(DESKTOP_JS)
}

async fn wallboard_js() -> Response {
    script(WALLBOARD_JS)
}

async fn kb_js() -> Response {
    script(KB_JS)
}

async fn care_js() -> Response {
    script(CARE_JS)
}

/// Pages a signed-in user may be sent back to after signing in or
/// switching language (never an arbitrary URL: no open redirect).
pub(crate) fn local_page(next: Option<&str>) -> Option<&'static str> {
    match next? {
        "/" => Some("/"),
        "/desktop" => Some("/desktop"),
        "/wallboard" => Some("/wallboard"),
        "/reports" => Some("/reports"),
        "/kb" => Some("/kb"),
        "/care" => Some("/care"),
        "/sign" => Some("/sign"),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageQuery {
    lang: String,
    next: Option<String>,
}

/// Sets the `dasan_lang` cookie (kept a year) and, for a signed-in user,
/// their stored preference (so it follows them to another workstation);
/// then goes back to the page it came from.
async fn language(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<LanguageQuery>,
) -> Result<Response, ApiError> {
    let lang = match query.lang.as_str() {
        "ko" => Lang::Ko,
        "en" => Lang::En,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_language",
                "lang is ko or en",
            ));
        }
    };
    if let Some((_, user)) = crate::session::current(&state, &headers).await? {
        state
            .store
            .set_user_language(user.id, Some(lang.code()))
            .await?;
    }
    let next = local_page(query.next.as_deref()).unwrap_or("/");
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        crate::session::set_cookie(&headers, "dasan_lang", lang.code(), 365 * 24 * 3600),
    );
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    lang: Option<String>,
}

/// The signed-in user, or the sign-in form with 401.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    next: &'static str,
) -> Result<Result<(SessionRecord, UserRecord), Response>, ApiError> {
    match crate::session::current(state, headers).await? {
        Some(found) => Ok(Ok(found)),
        None => Ok(Err(crate::session::sign_in_form(
            headers,
            lang,
            StatusCode::UNAUTHORIZED,
            None,
            Some(next),
        )?)),
    }
}

async fn forbidden(state: &AppState, lang: Lang, user: &UserRecord, page: &str) -> Response {
    crate::live::log_refusal(
        state,
        format!("user:{}", user.id),
        "page.refused",
        page.to_owned(),
    )
    .await;
    let body = format!(
        r#"<h1>{}</h1><p>{}</p><p><a href="/">{}</a></p>"#,
        escape(t(lang, "page.forbidden")),
        escape(t(lang, "page.forbidden_detail")),
        escape(t(lang, "nav.home")),
    );
    let mut response = (
        StatusCode::FORBIDDEN,
        Html(crate::session::page(lang, t(lang, "page.forbidden"), &body)),
    )
        .into_response();
    secure(&mut response);
    response
}

pub(crate) fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The strings a script needs, as a JSON object.
pub(crate) fn messages(lang: Lang, prefixes: &[&str]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = crate::i18n::keys()
        .filter(|key| prefixes.iter().any(|p| key.starts_with(p)))
        .map(|key| (key.to_owned(), t(lang, key).into()))
        .collect();
    // `</` cannot close the data block early.
    serde_json::Value::Object(map)
        .to_string()
        .replace("</", "<\\/")
}

#[allow(clippy::too_many_arguments)]
/// The frame every live page shares: header with the user, navigation,
/// the language switch and sign-out.
fn frame(
    zone: chrono_tz::Tz,
    lang: Lang,
    title: &str,
    user: &UserRecord,
    session: &SessionRecord,
    here: &'static str,
    body: &str,
    data: &str,
    script: &str,
) -> String {
    let mut nav = String::new();
    let links: [(&str, &str, bool); 5] = [
        (
            "/desktop",
            "desktop.title",
            user.role.may_record_consultations(),
        ),
        (
            "/wallboard",
            "wallboard.title",
            user.role.may_read_statistics(),
        ),
        ("/reports", "reports.title", user.role.may_read_statistics()),
        ("/kb", "kbadmin.title", user.role.may_edit_knowledge_base()),
        ("/care", "care.title", may_use_care_page(user.role)),
    ];
    for (href, key, allowed) in links {
        if allowed {
            let current = if href == here {
                r#" aria-current="page""#
            } else {
                ""
            };
            let _ = write!(
                nav,
                r#"<li><a href="{href}"{current}>{}</a></li>"#,
                escape(t(lang, key))
            );
        }
    }
    let other = match lang {
        Lang::Ko => "en",
        Lang::En => "ko",
    };
    format!(
        r#"<!doctype html><html lang="{code}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="csrf-token" content="{csrf}"><meta name="center-zone" content="{zone}"><title>{title}</title><style>{STYLE}</style></head><body><header><p class="brand">{brand}</p><nav aria-label="{nav_label}"><ul>{nav}</ul></nav><p class="who">{signed_in} <strong>{name}</strong></p><a class="lang" href="/language?lang={other}&amp;next={here}" lang="{other}">{switch}</a><form method="post" action="/signout"><input type="hidden" name="csrf" value="{csrf}"><button type="submit">{signout}</button></form></header><main id="main"><h1>{title}</h1>{body}</main><script type="application/json" id="messages">{data}</script><script src="{script}"></script></body></html>"#,
        code = lang.code(),
        zone = zone.name(),
        csrf = escape(&session.csrf_token),
        title = escape(title),
        brand = escape(t(lang, "brand")),
        nav_label = escape(t(lang, "nav.label")),
        signed_in = escape(t(lang, "signin.signed_in_as")),
        name = escape(&user.display_name),
        switch = escape(t(lang, "lang.switch")),
        signout = escape(t(lang, "signin.signout")),
    )
}

pub(crate) const STYLE: &str = r#"body{font-family:system-ui,"Noto Sans CJK KR",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;padding:.5rem 1rem;background:#24292f;color:#fff}header a{color:#fff}header ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}header form{margin:0}.brand{font-weight:bold;margin:0}.who{margin:0 0 0 auto}main{padding:1rem;display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr))}main>h1{grid-column:1/-1;margin:0;font-size:1.4rem}section,aside{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:1rem}h2{margin-top:0;font-size:1.1rem}button{font-size:1rem;padding:.4rem .9rem;margin:.2rem .2rem .2rem 0;cursor:pointer}label{display:block;margin:.6rem 0 .2rem;font-weight:600}input,select,textarea{font-size:1rem;padding:.35rem;width:100%;box-sizing:border-box}textarea{min-height:6rem}:focus{outline:3px solid #bf8700;outline-offset:2px}.presence{font-size:1.2rem}.offer{border:3px solid #cf222e}.timer{font-size:2rem;font-weight:bold;color:#a40e26}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:right}th:first-child,td:first-child{text-align:left}.wide{grid-column:1/-1}.hint{color:#57606a;font-size:.9rem}[role=alert]{color:#a40e26}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}.history li{margin-bottom:.4rem}.thread{list-style:none;padding:0;max-height:20rem;overflow-y:auto}.thread li{margin:.3rem 0;padding:.4rem .6rem;border-radius:6px;max-width:80%}.thread .inbound{background:#f6f8fa;border:1px solid #d0d7de}.thread .outbound{background:#ddf4ff;margin-left:auto}.thread small{display:block;color:#57606a}.kb-results{padding-left:1.4rem}.kb-results p{margin:.1rem 0 .6rem}.kb-results button{text-align:left;background:none;border:none;color:#0969da;text-decoration:underline;padding:0;margin:0}.kb-body{white-space:pre-wrap}mark{background:#fff8c5;color:inherit}.videos{display:grid;grid-template-columns:2fr 1fr;gap:.5rem}.videos figure{margin:0;position:relative;background:#000}.videos video{width:100%;display:block}.videos figcaption{position:absolute;left:.3rem;top:.3rem;background:rgba(0,0,0,.7);color:#fff;padding:0 .3rem}"#;

async fn desktop(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    let (session, user) = match signed_in(&state, &headers, lang, "/desktop").await? {
        Ok(found) => found,
        Err(form) => return Ok(form),
    };
    if !user.role.may_record_consultations() {
        return Ok(forbidden(&state, lang, &user, "/desktop").await);
    }
    let mut categories = String::new();
    for category in state.taxonomy.iter() {
        let name = match lang {
            Lang::Ko => &category.name_ko,
            Lang::En => &category.name_en,
        };
        let path = match category.code.parent().and_then(|p| state.taxonomy.get(&p)) {
            Some(parent) => format!(
                "{} › {name}",
                match lang {
                    Lang::Ko => &parent.name_ko,
                    Lang::En => &parent.name_en,
                }
            ),
            None => name.clone(),
        };
        let _ = write!(
            categories,
            r#"<option value="{}">{}</option>"#,
            escape(category.code.as_str()),
            escape(&path)
        );
    }
    let mut outcomes = String::new();
    for outcome in Outcome::ALL {
        let _ = write!(
            outcomes,
            r#"<option value="{}">{}</option>"#,
            outcome.as_str(),
            escape(t(lang, &format!("outcome.{}", outcome.as_str())))
        );
    }
    let tx = |key: &str| escape(t(lang, key));
    let body = format!(
        r#"<section aria-labelledby="presence-h"><h2 id="presence-h">{presence_h}</h2><p class="presence">{presence_now} <strong id="presence" aria-live="polite">…</strong> <span id="presence-since" class="hint"></span></p><div role="group" aria-label="{presence_h}"><button type="button" id="go-available" data-presence="available">{available} (F2)</button><button type="button" id="go-break" data-presence="break">{break_} (F3)</button><button type="button" id="go-offline" data-presence="offline">{offline}</button></div><p class="hint"><span id="connection"></span></p><p id="live-status" role="status"></p></section>
<section id="offer" class="offer" hidden aria-labelledby="offer-h"><h2 id="offer-h">{offer_h}</h2><dl id="offer-details"></dl><p>{remaining} <span id="offer-countdown" class="timer" role="timer" aria-live="off">0</span> {seconds}</p><button type="button" id="accept">{accept} (Enter)</button><button type="button" id="decline">{decline} (Esc)</button></section>
<section id="contact" hidden aria-labelledby="contact-h" class="wide"><h2 id="contact-h">{contact_h}</h2><div id="contact-tabs" role="group" aria-label="{contacts_label}" hidden></div><dl id="contact-details"></dl><div id="video-panel" hidden><h3 id="video-h">{video_h}</h3><p id="video-status" role="status"></p><div class="videos"><figure><video id="video-remote" autoplay playsinline title="{video_citizen}"></video><figcaption>{video_citizen}</figcaption></figure><figure><video id="video-local" autoplay playsinline muted title="{video_self}"></video><figcaption>{video_self}</figcaption></figure></div><h4 id="video-chat-h">{chat}</h4><ol id="video-chat" class="thread" aria-live="polite" aria-labelledby="video-chat-h"></ol><form id="video-chat-form" novalidate><label for="video-chat-text">{chat_label}</label><input id="video-chat-text" maxlength="1000" autocomplete="off"><button type="submit">{send}</button></form><form id="relay-form" novalidate><h4 id="relay-h">{relay_h}</h4><label for="relay-callee">{relay_callee}</label><input id="relay-callee" type="tel" maxlength="20" autocomplete="off" aria-describedby="relay-hint"><p id="relay-hint" class="hint">{relay_hint}</p><p id="relay-status" role="status"></p><button type="submit" id="relay-call">{relay_call}</button><button type="button" id="relay-end">{relay_end}</button></form><button type="button" id="video-end">{video_end}</button></div><div id="thread" hidden><h3 id="thread-h">{thread_h}</h3><ol id="thread-messages" class="thread" aria-labelledby="thread-h" aria-live="polite"></ol><form id="reply-form" novalidate><label for="reply">{reply_label}</label><textarea id="reply" name="reply" maxlength="1000" aria-describedby="reply-size"></textarea><p id="reply-size" class="hint"></p><p id="reply-error" role="alert"></p><button type="submit" id="send">{send}</button></form></div><h3 id="history-h">{history_h}</h3><div id="history" aria-labelledby="history-h" aria-live="polite"></div><div id="care-panel" hidden><h3 id="care-panel-h">{care_h}</h3>{care_script}</div><form id="consultation-form" novalidate><h3>{form_h}</h3><label for="category">{category} <span class="hint">{category_hint}</span></label><input id="category" name="category" list="category-list" autocomplete="off" required aria-describedby="category-name"><datalist id="category-list">{categories}</datalist><p id="category-name" class="hint" aria-live="polite"></p><label for="summary">{summary}</label><textarea id="summary" name="summary" maxlength="4000" required></textarea><label for="outcome">{outcome}</label><select id="outcome" name="outcome">{outcomes}</select><label for="department">{department} <span class="hint">{department_hint}</span></label><input id="department" name="department" autocomplete="off" disabled pattern="[a-z][a-z0-9_.\-]*" maxlength="64"><p id="form-error" role="alert"></p><button type="submit" id="submit">{submit}</button></form></section>
<section id="wrapup" hidden aria-labelledby="wrapup-h"><h2 id="wrapup-h">{wrapup_h}</h2><p>{wrapup_text}</p><button type="button" id="ready">{ready} (F2)</button></section>
<aside id="kb" aria-labelledby="kb-h"><h2 id="kb-h">{kb_h}</h2><form role="search" id="kb-form"><label for="kb-q">{kb_q}</label><input id="kb-q" type="search" name="q" maxlength="1000" autocomplete="off" aria-describedby="kb-note" aria-controls="kb-results"><p id="kb-note" class="hint">{kb_note}</p></form><h3 id="kb-list-h" aria-live="polite"></h3><ol id="kb-results" class="kb-results" aria-labelledby="kb-list-h"></ol><article id="kb-article" hidden aria-labelledby="kb-article-h"><h3 id="kb-article-h"></h3><p id="kb-article-meta" class="hint"></p><div id="kb-article-body" class="kb-body"></div><button type="button" id="kb-back">{kb_back}</button></article></aside>
<section class="wide hint" aria-labelledby="keys-h"><h2 id="keys-h">{keys_h}</h2><p>{keys}</p></section><script src="/assets/care.js"></script><script src="/assets/rtc.js"></script>"#,
        presence_h = tx("desktop.presence"),
        presence_now = tx("desktop.presence_now"),
        available = tx("presence.go_available"),
        break_ = tx("presence.go_break"),
        offline = tx("presence.go_offline"),
        offer_h = tx("desktop.offer"),
        remaining = tx("desktop.remaining"),
        seconds = tx("desktop.seconds"),
        accept = tx("desktop.accept"),
        decline = tx("desktop.decline"),
        contact_h = tx("desktop.contact"),
        history_h = tx("desktop.history"),
        form_h = tx("desktop.form"),
        category = tx("desktop.category"),
        category_hint = tx("desktop.category_hint"),
        summary = tx("desktop.summary"),
        outcome = tx("desktop.outcome"),
        department = tx("desktop.department"),
        department_hint = tx("desktop.department_hint"),
        submit = tx("desktop.submit"),
        wrapup_h = tx("desktop.wrapup"),
        wrapup_text = tx("desktop.wrapup_text"),
        ready = tx("desktop.ready"),
        kb_h = tx("desktop.kb"),
        contacts_label = tx("desktop.contacts"),
        thread_h = tx("desktop.thread"),
        reply_label = tx("desktop.reply"),
        send = tx("desktop.send"),
        kb_q = tx("desktop.kb_query"),
        kb_back = tx("desktop.kb_back"),
        kb_note = tx("desktop.kb_note"),
        keys_h = tx("desktop.keys"),
        keys = tx("desktop.keys_text"),
        care_h = tx("care.script"),
        video_h = tx("desktop.video"),
        video_citizen = tx("desktop.video_citizen"),
        video_self = tx("desktop.video_self"),
        video_end = tx("desktop.video_end"),
        relay_h = tx("desktop.relay"),
        relay_callee = tx("desktop.relay_callee"),
        relay_hint = tx("desktop.relay_hint"),
        relay_call = tx("desktop.relay_call"),
        relay_end = tx("desktop.relay_end"),
        chat = tx("sign.chat"),
        chat_label = tx("sign.chat_label"),
        care_script = care_script(lang, "care-"),
    );
    let data = messages(
        lang,
        &[
            "care.",
            "desktop.",
            "sign.",
            "relay.",
            "presence.",
            "channel.",
            "outcome.",
            "live.",
            "message.",
        ],
    );
    let mut response = Html(frame(
        state.zone,
        lang,
        t(lang, "desktop.title"),
        &user,
        &session,
        "/desktop",
        &body,
        &data,
        "/assets/desktop.js",
    ))
    .into_response();
    secure(&mut response);
    Ok(response)
}

async fn wallboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    let (session, user) = match signed_in(&state, &headers, lang, "/wallboard").await? {
        Ok(found) => found,
        Err(form) => return Ok(form),
    };
    if !user.role.may_read_statistics() {
        return Ok(forbidden(&state, lang, &user, "/wallboard").await);
    }
    let tx = |key: &str| escape(t(lang, key));
    let body = format!(
        r#"<p class="wide hint" role="status"><span id="live-status"></span> {updated} <time id="updated"></time></p>
<section class="wide" aria-labelledby="queues-h"><h2 id="queues-h">{queues_h}</h2><table id="queues"><caption class="hint">{sl_note}</caption><thead><tr><th scope="col">{queue}</th><th scope="col">{waiting}</th><th scope="col">{longest}</th><th scope="col">{offered}</th><th scope="col">{answered}</th><th scope="col">{abandoned}</th><th scope="col">{sl}</th><th scope="col">{abandon_rate}</th></tr></thead><tbody></tbody><tfoot></tfoot></table></section>
<section aria-labelledby="agents-h"><h2 id="agents-h">{agents_h}</h2><ul id="agent-states"></ul><table id="agents"><thead><tr><th scope="col">{agent}</th><th scope="col">{state_}</th><th scope="col">{since}</th></tr></thead><tbody></tbody></table></section>
<section class="wide" aria-labelledby="chart-h"><h2 id="chart-h">{chart_h}</h2><div id="chart"></div></section>"#,
        updated = tx("wallboard.updated"),
        queues_h = tx("wallboard.queues"),
        sl_note = tx("wallboard.sl_note"),
        queue = tx("wallboard.queue"),
        waiting = tx("wallboard.waiting"),
        longest = tx("wallboard.longest"),
        offered = tx("wallboard.offered"),
        answered = tx("wallboard.answered"),
        abandoned = tx("wallboard.abandoned"),
        sl = tx("wallboard.service_level"),
        abandon_rate = tx("wallboard.abandon_rate"),
        agents_h = tx("wallboard.agents"),
        agent = tx("wallboard.agent"),
        state_ = tx("wallboard.state"),
        since = tx("wallboard.since"),
        chart_h = tx("wallboard.chart"),
    );
    let data = messages(lang, &["wallboard.", "presence.", "channel.", "live."]);
    let mut response = Html(frame(
        state.zone,
        lang,
        t(lang, "wallboard.title"),
        &user,
        &session,
        "/wallboard",
        &body,
        &data,
        "/assets/wallboard.js",
    ))
    .into_response();
    secure(&mut response);
    Ok(response)
}

/// The knowledge base's editing page: the articles, an editor with the
/// version history, and the synonym list. For administrators and supervisors.
async fn kb_admin(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    let (session, user) = match signed_in(&state, &headers, lang, "/kb").await? {
        Ok(found) => found,
        Err(form) => return Ok(form),
    };
    if !user.role.may_edit_knowledge_base() {
        return Ok(forbidden(&state, lang, &user, "/kb").await);
    }
    let mut categories = String::new();
    for category in state.taxonomy.iter() {
        let name = match lang {
            Lang::Ko => &category.name_ko,
            Lang::En => &category.name_en,
        };
        let _ = write!(
            categories,
            r#"<option value="{code}">{code} · {name}</option>"#,
            code = escape(category.code.as_str()),
            name = escape(name)
        );
    }
    let tx = |key: &str| escape(t(lang, key));
    let body = format!(
        r#"<section class="wide" aria-labelledby="articles-h"><h2 id="articles-h">{articles_h}</h2><p><button type="button" id="new-article">{new}</button> <span id="list-status" role="status"></span></p><table id="articles"><thead><tr><th scope="col">{title}</th><th scope="col">{category}</th><th scope="col">{status}</th><th scope="col">{version}</th><th scope="col">{updated}</th></tr></thead><tbody></tbody></table></section>
<section aria-labelledby="editor-h"><h2 id="editor-h">{editor_h}</h2><form id="editor" novalidate><label for="a-id">{id} <span class="hint">{id_hint}</span></label><input id="a-id" name="id" maxlength="100" autocomplete="off"><label for="a-title">{title}</label><input id="a-title" name="title" maxlength="300" required><label for="a-category">{category}</label><select id="a-category" name="category">{categories}</select><label for="a-tags">{tags} <span class="hint">{tags_hint}</span></label><input id="a-tags" name="tags" autocomplete="off"><label for="a-status">{status}</label><select id="a-status" name="status"><option value="published">{published}</option><option value="draft">{draft}</option></select><label for="a-body">{body_label} <span class="hint">{body_hint}</span></label><textarea id="a-body" name="body" maxlength="20000" rows="14"></textarea><input type="hidden" id="a-version"><p id="editor-error" role="alert"></p><p id="editor-status" role="status"></p><button type="submit" id="save">{save}</button> <button type="button" id="delete" disabled>{delete}</button></form><h3 id="versions-h">{versions_h}</h3><ol id="versions" aria-labelledby="versions-h"></ol></section>
<section aria-labelledby="synonyms-h"><h2 id="synonyms-h">{synonyms_h}</h2><form id="synonyms-form" novalidate><label for="synonyms">{synonyms_label}</label><p id="synonyms-hint" class="hint">{synonyms_hint}</p><textarea id="synonyms" rows="18" aria-describedby="synonyms-hint"></textarea><p id="synonyms-error" role="alert"></p><p id="synonyms-status" role="status"></p><button type="submit">{save}</button></form></section>"#,
        articles_h = tx("kbadmin.articles"),
        new = tx("kbadmin.new"),
        title = tx("kbadmin.field_title"),
        category = tx("kbadmin.field_category"),
        status = tx("kbadmin.field_status"),
        version = tx("kbadmin.field_version"),
        updated = tx("kbadmin.field_updated"),
        editor_h = tx("kbadmin.editor"),
        id = tx("kbadmin.field_id"),
        id_hint = tx("kbadmin.id_hint"),
        tags = tx("kbadmin.field_tags"),
        tags_hint = tx("kbadmin.tags_hint"),
        published = tx("kbadmin.status.published"),
        draft = tx("kbadmin.status.draft"),
        body_label = tx("kbadmin.field_body"),
        body_hint = tx("kbadmin.body_hint"),
        save = tx("kbadmin.save"),
        delete = tx("kbadmin.delete"),
        versions_h = tx("kbadmin.versions"),
        synonyms_h = tx("kbadmin.synonyms"),
        synonyms_label = tx("kbadmin.synonyms_label"),
        synonyms_hint = tx("kbadmin.synonyms_hint"),
    );
    let data = messages(lang, &["kbadmin."]);
    let mut response = Html(frame(
        state.zone,
        lang,
        t(lang, "kbadmin.title"),
        &user,
        &session,
        "/kb",
        &body,
        &data,
        "/assets/kb.js",
    ))
    .into_response();
    secure(&mut response);
    Ok(response)
}

fn may_use_care_page(role: dasan_core::Role) -> bool {
    role.may_manage_care()
        || role.may_make_care_calls()
        || role.may_read_care_reports()
        || role == dasan_core::Role::Department
}

/// The care programme's page: the day's calls with their scripts and an
/// outcome form (agents dial and record), escalations oldest first with
/// their timers, the roster with enrolment and CSV import, notices, and the
/// week's figures. Each section shows for the roles its API serves.
async fn care_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    use dasan_core::Role;
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    let (session, user) = match signed_in(&state, &headers, lang, "/care").await? {
        Ok(found) => found,
        Err(form) => return Ok(form),
    };
    if !may_use_care_page(user.role) {
        return Ok(forbidden(&state, lang, &user, "/care").await);
    }
    let tx = |key: &str| escape(t(lang, key));
    let role = user.role;
    let mut body = String::new();
    if role.may_make_care_calls() {
        let _ = write!(
            body,
            r#"<section class="wide" aria-labelledby="calls-h"><h2 id="calls-h">{calls_h}</h2><form id="day-form"><label for="day">{day}</label><input id="day" type="date"></form><p id="calls-status" role="status"></p><table id="calls"><thead><tr><th scope="col">{time}</th><th scope="col">{senior}</th><th scope="col">{district}</th><th scope="col">{attempt}</th><th scope="col">{status}</th></tr></thead><tbody></tbody></table></section>
<section aria-labelledby="script-h" id="script" hidden><h2 id="script-h">{script_h}</h2>{script}</section>"#,
            calls_h = tx("care.calls"),
            day = tx("care.day"),
            time = tx("care.time"),
            senior = tx("care.senior"),
            district = tx("care.district"),
            attempt = tx("care.attempt"),
            status = tx("care.status"),
            script_h = tx("care.script"),
            script = care_script(lang, ""),
        );
    }
    if role.may_manage_care() || role == Role::Department {
        let _ = write!(
            body,
            r#"<section class="wide" aria-labelledby="esc-h"><h2 id="esc-h">{h}</h2><p class="hint">{hint}</p><p id="esc-status" role="status"></p><table id="escalations"><thead><tr><th scope="col">{opened}</th><th scope="col">{senior}</th><th scope="col">{reasons}</th><th scope="col">{department}</th><th scope="col">{status}</th><th scope="col">{age}</th><th scope="col">{action}</th></tr></thead><tbody></tbody></table></section>"#,
            h = tx("care.escalations"),
            hint = tx("care.escalations_hint"),
            opened = tx("care.opened"),
            senior = tx("care.senior"),
            reasons = tx("care.reasons"),
            department = tx("care.department"),
            status = tx("care.status"),
            age = tx("care.age"),
            action = tx("care.action"),
        );
        let _ = write!(
            body,
            r#"<section class="wide" aria-labelledby="roster-h"><h2 id="roster-h">{h}</h2><table id="roster"><thead><tr><th scope="col">{name}</th><th scope="col">{district}</th><th scope="col">{per_week}</th><th scope="col">{hours}</th><th scope="col">{consent}</th></tr></thead><tbody></tbody></table></section>"#,
            h = tx("care.roster"),
            name = tx("care.name"),
            district = tx("care.district"),
            per_week = tx("care.per_week"),
            hours = tx("care.hours"),
            consent = tx("care.consent"),
        );
    }
    if role.may_manage_care() {
        let _ = write!(
            body,
            r#"<section aria-labelledby="enrol-h"><h2 id="enrol-h">{h}</h2><form id="enrol-form" novalidate><label for="s-name">{name}</label><input id="s-name" maxlength="50" required><label for="s-phone">{phone}</label><input id="s-phone" type="tel" required><label for="s-district">{district}</label><input id="s-district" maxlength="30" required><label for="s-per-week">{per_week}</label><input id="s-per-week" type="number" min="1" max="7" value="2"><label for="s-days">{days} <span class="hint">{days_hint}</span></label><input id="s-days"><label for="s-hours">{hours} <span class="hint">10:00-12:00</span></label><input id="s-hours"><label for="s-contact">{contact}</label><input id="s-contact" type="tel"><label for="s-notes">{notes}</label><textarea id="s-notes" maxlength="2000"></textarea><label><input type="checkbox" id="s-consent"> {consent_given}</label><p id="enrol-error" role="alert"></p><p id="enrol-status" role="status"></p><button type="submit" id="s-save">{enrol}</button> <button type="button" id="s-new" hidden>{new_senior}</button><div id="s-exit-box" hidden><label for="s-exit-reason">{exit_reason}</label><input id="s-exit-reason" maxlength="200"><button type="button" id="s-exit">{exit}</button></div></form><h3 id="import-h">{import_h}</h3><form id="import-form"><label for="import-file">{import_label}</label><input id="import-file" type="file" accept=".csv,text/csv"><p id="import-status" role="status"></p><button type="submit">{import}</button></form></section>
<section aria-labelledby="notice-h"><h2 id="notice-h">{notice_h}</h2><form id="notice-form" novalidate><label for="n-title">{n_title}</label><input id="n-title" maxlength="100" required><label for="n-body">{n_body}</label><textarea id="n-body" maxlength="2000"></textarea><label for="n-districts">{n_districts}</label><input id="n-districts"><label for="n-from">{n_from}</label><input id="n-from" type="date"><label for="n-to">{n_to}</label><input id="n-to" type="date"><p id="notice-error" role="alert"></p><p id="notice-status" role="status"></p><button type="submit">{post}</button></form><ul id="notices"></ul></section>"#,
            h = tx("care.enrol"),
            name = tx("care.name"),
            phone = tx("care.phone"),
            district = tx("care.district"),
            per_week = tx("care.per_week"),
            days = tx("care.days"),
            days_hint = tx("care.days_hint"),
            hours = tx("care.hours"),
            contact = tx("care.emergency"),
            notes = tx("care.health_notes"),
            consent_given = tx("care.consent_given"),
            new_senior = tx("care.new_senior"),
            exit_reason = tx("care.exit_reason"),
            exit = tx("care.exit"),
            enrol = tx("care.enrol_button"),
            import_h = tx("care.import"),
            import_label = tx("care.import_label"),
            import = tx("care.import_button"),
            notice_h = tx("care.notice_new"),
            n_title = tx("care.notice_title"),
            n_body = tx("care.notice_body"),
            n_districts = tx("care.notice_districts"),
            n_from = tx("care.valid_from"),
            n_to = tx("care.valid_to"),
            post = tx("care.post"),
        );
    }
    if role.may_read_care_reports() {
        let _ = write!(
            body,
            r#"<section class="wide" aria-labelledby="week-h"><h2 id="week-h">{h}</h2><dl id="week"></dl><table id="week-days"><thead><tr><th scope="col">{date}</th><th scope="col">{tries}</th><th scope="col">{reached}</th></tr></thead><tbody></tbody></table></section>"#,
            h = tx("care.week"),
            date = tx("care.day"),
            tries = tx("care.tries"),
            reached = tx("care.reached"),
        );
    }
    let data = messages(lang, &["care."]);
    let mut response = Html(frame(
        state.zone,
        lang,
        t(lang, "care.title"),
        &user,
        &session,
        "/care",
        &body,
        &data,
        "/assets/care.js",
    ))
    .into_response();
    secure(&mut response);
    Ok(response)
}

/// A care call's script (the senior, the last calls, the notices) and its
/// outcome form, for the care page and (ids prefixed) the agent desktop;
/// `assets/care.js` fills and reads it.
fn care_script(lang: Lang, p: &str) -> String {
    let tx = |key: &str| escape(t(lang, key));
    let mut outcomes = String::new();
    for outcome in dasan_core::care::CareOutcome::ALL {
        let _ = write!(
            outcomes,
            r#"<option value="{v}">{label}</option>"#,
            v = outcome.as_str(),
            label = tx(&format!("care.outcome.{}", outcome.as_str()))
        );
    }
    let select = |field: &str, values: &[&str]| {
        let mut html = format!(r#"<select id="{p}{field}">"#);
        for v in values {
            let _ = write!(
                html,
                r#"<option value="{v}">{}</option>"#,
                tx(&format!("care.{field}.{v}"))
            );
        }
        html.push_str("</select>");
        html
    };
    format!(
        r#"<dl id="{p}script-senior"></dl><h3>{last_calls}</h3><ul id="{p}script-last" class="history"></ul><h3>{notices_h}</h3><ul id="{p}script-notices"></ul><form id="{p}outcome-form" novalidate><label for="{p}outcome">{outcome}</label><select id="{p}outcome">{outcomes}</select><fieldset id="{p}check"><legend>{check}</legend><label for="{p}health">{health}</label>{health_select}<label for="{p}meals">{meals}</label>{meals_select}<label for="{p}mood">{mood}</label>{mood_select}<label><input type="checkbox" id="{p}medical"> {medical}</label><label><input type="checkbox" id="{p}concern"> {concern}</label></fieldset><label for="{p}note">{note}</label><textarea id="{p}note" maxlength="2000"></textarea><p id="{p}outcome-error" role="alert"></p><p id="{p}outcome-status" role="status"></p><button type="submit" id="{p}record">{record}</button></form>"#,
        last_calls = tx("care.last_calls"),
        notices_h = tx("care.notices"),
        outcome = tx("care.outcome"),
        check = tx("care.check"),
        health = tx("care.health"),
        health_select = select("health", &["good", "fair", "unwell", "fell"]),
        meals = tx("care.meals"),
        meals_select = select("meals", &["regular", "irregular", "no_food"]),
        mood = tx("care.mood"),
        mood_select = select("mood", &["good", "low", "crisis"]),
        medical = tx("care.medical"),
        concern = tx("care.concern"),
        note = tx("care.note"),
        record = tx("care.record"),
    )
}
