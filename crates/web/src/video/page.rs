//! The citizen's page, `/sign`: served without an account, Korean first.
//! Everything it shows is visual (no sound is ever the only signal): the
//! place in the queue and the expected wait as text, the video with a
//! self-view, a text chat for names and numbers, a large-text switch.
//! `/assets/rtc.js` (the peer connection and the signalling, shared with the
//! agent desktop) and `/assets/sign.js` (this page) do the live work.

use axum::{
    Router,
    extract::State,
    http::HeaderMap,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;

use crate::{
    AppState,
    charts::escape,
    error::{ApiError, ApiQuery},
    i18n::{Lang, t},
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sign", get(sign))
        .route("/assets/rtc.js", get(rtc_js))
        .route("/assets/sign.js", get(sign_js))
}

const RTC_JS: &str = include_str!("../../assets/rtc.js");
const SIGN_JS: &str = include_str!("../../assets/sign.js");

async fn rtc_js() -> Response {
    crate::pages::script(RTC_JS)
}

async fn sign_js() -> Response {
    crate::pages::script(SIGN_JS)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    lang: Option<String>,
}

/// Large, plain, high-contrast; one column on a phone, video beside the
/// chat on a wide screen. `html.large` doubles the text.
const SIGN_STYLE: &str = r#"[hidden]{display:none!important}body{font-family:system-ui,"Noto Sans CJK KR",sans-serif;margin:0;color:#1f2328;background:#fff;font-size:1.125rem;line-height:1.5}html.large body{font-size:1.6rem}header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;padding:.5rem 1rem;background:#24292f;color:#fff}header a{color:#fff}.brand{font-weight:bold;margin:0 auto 0 0}main{max-width:70rem;margin:0 auto;padding:1rem}h1{font-size:1.8em;margin:.5rem 0}h2{font-size:1.3em;margin:.5rem 0}button{font-size:1em;padding:.6rem 1.2rem;cursor:pointer;border-radius:8px;border:2px solid #24292f;background:#f6f8fa;color:#1f2328}button.big{display:block;width:100%;max-width:32rem;font-size:1.6em;padding:1.5rem;margin:1.5rem 0;background:#0550ae;color:#fff;border-color:#0550ae;font-weight:bold}button.end{background:#a40e26;color:#fff;border-color:#a40e26;font-weight:bold}:focus{outline:4px solid #bf8700;outline-offset:2px}.hint{color:#424a53}[role=alert]{color:#a40e26;font-weight:bold}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;font-size:1.3em}dt{font-weight:600}dd{margin:0;font-weight:bold}.call{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));align-items:start}.videos{position:relative;background:#000;border-radius:8px;min-height:12rem}.videos video{display:block;width:100%;border-radius:8px}#remote{min-height:14rem}.self{position:absolute;right:.5rem;bottom:.5rem;width:30%;max-width:12rem;border:2px solid #fff}.videos.waiting .self{position:static;width:100%;max-width:none;border:none}figcaption{position:absolute;left:.5rem;top:.5rem;background:rgba(0,0,0,.7);color:#fff;padding:0 .4rem;border-radius:4px;font-size:.9em}.chat ol{list-style:none;padding:0;max-height:22rem;overflow-y:auto;border:1px solid #d0d7de;border-radius:8px;min-height:6rem}.chat li{margin:.4rem;padding:.4rem .6rem;border-radius:8px;max-width:85%}.chat .citizen{background:#ddf4ff;margin-left:auto}.chat .agent{background:#f6f8fa;border:1px solid #d0d7de}.chat small{display:block;color:#424a53}label{display:block;margin:.6rem 0 .2rem;font-weight:600}input{font-size:1em;padding:.5rem;width:100%;box-sizing:border-box;border:2px solid #57606a;border-radius:6px}fieldset{border:2px solid #d0d7de;border-radius:8px;margin:.6rem 0}fieldset label{display:inline;font-weight:normal;margin-right:1rem}fieldset input{width:auto}.status{font-size:1.2em;font-weight:bold}"#;

/// `GET /sign`.
async fn sign(
    State(_state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    let tx = |key: &str| escape(t(lang, key));
    let other = match lang {
        Lang::Ko => "en",
        Lang::En => "ko",
    };
    let body = format!(
        r#"<header><p class="brand">{brand}</p><a href="/language?lang={other}&amp;next=/sign" lang="{other}">{switch}</a><button type="button" id="large-text" aria-pressed="false">{large}</button></header>
<main id="main"><h1>{title}</h1>
<section id="start-view" aria-labelledby="start-h"><h2 id="start-h" class="hint">{intro}</h2><button type="button" id="start" class="big">{start}</button><p class="hint">{camera_note}</p><p id="start-error" role="alert"></p></section>
<div id="call" class="call" hidden>
<section aria-labelledby="video-h"><h2 id="video-h"><span id="stage">{waiting}</span></h2><p id="call-status" class="status" role="status" aria-live="polite"></p>
<dl id="queue-info"><dt>{position}</dt><dd id="position">{calculating}</dd><dt>{expected}</dt><dd id="expected">{calculating}</dd><dt>{waited}</dt><dd id="waited">0{seconds}</dd></dl>
<div id="videos" class="videos waiting"><figure id="remote-box" hidden><video id="remote" autoplay playsinline title="{agent_view}"></video><figcaption>{agent_view}</figcaption></figure><figure class="self"><video id="local" autoplay playsinline muted title="{self_view}"></video><figcaption>{self_view}</figcaption></figure></div>
<form id="callback-form" hidden novalidate><p>{callback_offer}</p><label for="callback-phone">{callback_phone}</label><input id="callback-phone" type="tel" autocomplete="tel" inputmode="tel" maxlength="20"><fieldset><legend>{callback_h}</legend><input type="radio" name="via" id="via-video" value="video" checked><label for="via-video">{callback_video}</label><input type="radio" name="via" id="via-sms" value="sms"><label for="via-sms">{callback_sms}</label></fieldset><p id="callback-error" role="alert"></p><button type="submit">{callback_send}</button></form>
<button type="button" id="end" class="end">{end}</button></section>
<section id="chat" class="chat" aria-labelledby="chat-h" hidden><h2 id="chat-h">{chat}</h2><ol id="chat-log" aria-live="polite" aria-labelledby="chat-h"></ol><form id="chat-form" novalidate><label for="chat-text">{chat_label}</label><input id="chat-text" maxlength="1000" autocomplete="off"><p id="chat-error" role="alert"></p><button type="submit">{send}</button></form></section>
</div>
<section id="ended-view" hidden aria-labelledby="ended-h"><h2 id="ended-h" role="status" tabindex="-1">{ended}</h2><p><a href="/sign">{again}</a></p></section>
</main>"#,
        brand = tx("brand"),
        switch = tx("lang.switch"),
        large = tx("sign.large_text"),
        title = tx("sign.title"),
        intro = tx("sign.intro"),
        start = tx("sign.start"),
        camera_note = tx("sign.camera_note"),
        waiting = tx("sign.waiting"),
        position = tx("sign.position"),
        expected = tx("sign.expected"),
        waited = tx("sign.waited"),
        calculating = tx("sign.calculating"),
        seconds = tx("sign.seconds"),
        agent_view = tx("sign.agent_view"),
        self_view = tx("sign.self_view"),
        callback_offer = tx("sign.callback_offer"),
        callback_phone = tx("sign.callback_phone"),
        callback_h = tx("sign.callback_send"),
        callback_video = tx("sign.callback_video"),
        callback_sms = tx("sign.callback_sms"),
        callback_send = tx("sign.callback_send"),
        end = tx("sign.end"),
        chat = tx("sign.chat"),
        chat_label = tx("sign.chat_label"),
        send = tx("sign.send"),
        ended = tx("sign.ended"),
        again = tx("sign.again"),
    );
    let data = crate::pages::messages(lang, &["sign."]);
    let html = format!(
        r#"<!doctype html><html lang="{code}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><style>{SIGN_STYLE}</style></head><body>{body}<script type="application/json" id="messages">{data}</script><script src="/assets/rtc.js"></script><script src="/assets/sign.js"></script></body></html>"#,
        code = lang.code(),
        title = escape(t(lang, "sign.title")),
    );
    let mut response = Html(html).into_response();
    crate::pages::secure(&mut response);
    Ok(response)
}
