//! `GET /reports`: the statistics as a page, each report a chart rendered by
//! the server (SVG) with its numbers beside it, the same filters as the API,
//! and links to the CSV/XLSX exports. Supervisors and administrators.
//!
//! Until browser sign-in exists (the desktop issue adds session cookies),
//! the page is reached with the same bearer token as the API.

use std::fmt::Write;

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use dasan_core::{Channel, Role};
use dasan_store::Statistics;
use serde::Deserialize;

use crate::{
    AppState,
    auth::Caller,
    charts::{self, escape, number},
    error::{ApiError, ApiQuery},
    i18n::{Lang, t},
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/reports", get(page))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportsQuery {
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
    channel: Option<String>,
    lang: Option<String>,
}

impl ReportsQuery {
    /// The filter part of the query string, for links; empty values left out.
    fn filter_query(&self) -> String {
        let mut parts = Vec::new();
        for (key, value) in [
            ("from", &self.from),
            ("to", &self.to),
            ("category", &self.category),
            ("channel", &self.channel),
        ] {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{key}={}", percent_encode(value)));
            }
        }
        parts.join("&")
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~:".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

async fn page(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportsQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_read_statistics)?;
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    // An empty form field means "no filter".
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|v| !v.is_empty())
    }
    let stats = crate::statistics::statistics_for(
        &state,
        given(&query.from),
        given(&query.to),
        given(&query.category),
        given(&query.channel),
    )
    .await?;
    let filter = crate::consultations::parse_filter(
        &state,
        given(&query.from),
        given(&query.to),
        given(&query.category),
        given(&query.channel),
        None,
    )?;
    let agents = crate::statistics::agent_satisfaction(&state, &filter).await?;
    let mut html = render(&state, &stats, &query, lang);
    // Satisfaction per agent, before the page's end.
    if let Some(end) = html.rfind("</main>") {
        html.insert_str(end, &agents_section(&agents, lang));
    }
    let mut response = Html(html).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"),
    );
    Ok(response)
}

fn agents_section(agents: &[crate::statistics::AgentSatisfaction], lang: Lang) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<section aria-labelledby="satisfaction_agents"><h2 id="satisfaction_agents">{}</h2><table><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
        escape(t(lang, "reports.satisfaction_agents")),
        escape(t(lang, "reports.agent")),
        escape(t(lang, "reports.satisfied_share")),
        escape(t(lang, "reports.mean_score")),
        escape(t(lang, "reports.responses")),
    );
    if agents.is_empty() {
        let _ = write!(
            out,
            r#"<tr><td colspan="4">{}</td></tr>"#,
            escape(t(lang, "reports.empty"))
        );
    }
    for a in agents {
        let name = a
            .agent_name
            .clone()
            .or_else(|| a.agent_id.clone())
            .unwrap_or_else(|| t(lang, "reports.no_agent").to_owned());
        let share = a
            .satisfied_share
            .map_or("–".to_owned(), |s| format!("{:.1}%", s * 100.0));
        let mean = a.mean.map_or("–".to_owned(), |m| format!("{m:.2}"));
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            escape(&name),
            escape(&share),
            escape(&mean),
            number(a.responses as f64),
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

fn category_name(state: &AppState, code: &str, lang: Lang) -> String {
    dasan_core::CategoryCode::parse(code)
        .ok()
        .and_then(|c| state.taxonomy.get(&c))
        .map(|c| match lang {
            Lang::Ko => c.name_ko.clone(),
            Lang::En => c.name_en.clone(),
        })
        .unwrap_or_else(|| code.to_owned())
}

/// One report: heading, chart, the numbers as a table, downloads.
#[allow(clippy::too_many_arguments)]
fn section(
    out: &mut String,
    lang: Lang,
    report: &str,
    title_key: &str,
    chart: &str,
    header: [&str; 2],
    rows: &[(String, String)],
    filters: &str,
) {
    let title = t(lang, title_key);
    let _ = write!(
        out,
        r#"<section aria-labelledby="{report}"><h2 id="{report}">{}</h2><div class="report"><figure>{chart}</figure><table><thead><tr><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
        escape(title),
        escape(header[0]),
        escape(header[1]),
    );
    if rows.is_empty() {
        let _ = write!(
            out,
            r#"<tr><td colspan="2">{}</td></tr>"#,
            escape(t(lang, "reports.empty"))
        );
    }
    for (key, value) in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(key),
            escape(value)
        );
    }
    let sep = if filters.is_empty() { "" } else { "&amp;" };
    let filters = escape(filters);
    let _ = write!(
        out,
        r#"</tbody></table></div><p>{}: <a href="/api/v1/stats/export?report={report}&amp;format=csv{sep}{filters}">CSV</a> · <a href="/api/v1/stats/export?report={report}&amp;format=xlsx{sep}{filters}">XLSX</a></p></section>"#,
        escape(t(lang, "reports.download")),
    );
}

fn render(state: &AppState, stats: &Statistics, query: &ReportsQuery, lang: Lang) -> String {
    let filters = query.filter_query();
    let mut out = String::new();
    let other = match lang {
        Lang::Ko => "en",
        Lang::En => "ko",
    };
    let switch_href = if filters.is_empty() {
        format!("/reports?lang={other}")
    } else {
        format!("/reports?{filters}&lang={other}")
    };
    let _ = write!(
        out,
        r#"<!doctype html><html lang="{}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><style>body{{font-family:system-ui,"Noto Sans CJK KR",sans-serif;margin:0 auto;max-width:1100px;padding:1rem;color:#1f2328}}.report{{display:flex;gap:1.5rem;align-items:flex-start;flex-wrap:wrap}}figure{{flex:2 1 480px;margin:0}}table{{flex:1 1 240px;border-collapse:collapse;font-size:.9rem}}td,th{{border-bottom:1px solid #d0d7de;padding:.2rem .5rem;text-align:left}}.n{{text-align:right;font-variant-numeric:tabular-nums}}form{{display:flex;gap:.75rem;flex-wrap:wrap;align-items:end}}label{{display:flex;flex-direction:column;font-size:.85rem}}a,button{{color:#0550ae}}:focus{{outline:3px solid #bf8700}}</style></head><body><header><h1>{title}</h1><p><a href="{}" lang="{other}">{}</a></p></header><main>"#,
        lang.code(),
        escape(&switch_href),
        escape(t(lang, "lang.switch")),
        title = escape(t(lang, "reports.title")),
    );

    // The filter form (GET: the page is a bookmarkable query).
    let value = |v: &Option<String>| escape(v.as_deref().unwrap_or_default());
    let _ = write!(
        out,
        r#"<form method="get" action="/reports" aria-label="{}"><input type="hidden" name="lang" value="{}"><label>{}<input type="date" name="from" value="{}"></label><label>{}<input type="date" name="to" value="{}"></label><label>{}<select name="category"><option value="">{}</option>"#,
        escape(t(lang, "reports.filters")),
        lang.code(),
        escape(t(lang, "reports.from")),
        value(&query.from),
        escape(t(lang, "reports.to")),
        value(&query.to),
        escape(t(lang, "reports.category")),
        escape(t(lang, "reports.any")),
    );
    for category in state.taxonomy.iter() {
        let code = category.code.as_str();
        let selected = if query.category.as_deref() == Some(code) {
            " selected"
        } else {
            ""
        };
        let indent = if category.parent.is_some() {
            "— "
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<option value="{}"{selected}>{indent}{}</option>"#,
            escape(code),
            escape(&category_name(state, code, lang))
        );
    }
    let _ = write!(
        out,
        r#"</select></label><label>{}<select name="channel"><option value="">{}</option>"#,
        escape(t(lang, "reports.channel")),
        escape(t(lang, "reports.any")),
    );
    for channel in Channel::ALL {
        let selected = if query.channel.as_deref() == Some(channel.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<option value="{0}"{selected}>{0}</option>"#,
            channel.as_str()
        );
    }
    let _ = write!(
        out,
        r#"</select></label><button type="submit">{}</button></form>"#,
        escape(t(lang, "reports.apply"))
    );

    let _ = write!(
        out,
        r#"<p><strong>{}</strong>: <span id="total">{}</span> · {}: {} – {} ({})</p>"#,
        escape(t(lang, "reports.total")),
        number(stats.total as f64),
        escape(t(lang, "reports.period")),
        escape(stats.first_date.as_deref().unwrap_or("-")),
        escape(stats.last_date.as_deref().unwrap_or("-")),
        escape(&stats.time_zone),
    );

    // Cumulative by month, milestones marked.
    let mut running = 0u64;
    let cumulative: Vec<(String, f64)> = stats
        .daily_average_by_month
        .iter()
        .map(|m| {
            running += m.count;
            (m.month.clone(), running as f64)
        })
        .collect();
    let marks: Vec<(usize, String)> = stats
        .milestones
        .iter()
        .filter_map(|m| {
            let month = m.date.get(..7)?;
            let index = cumulative.iter().position(|(k, _)| k == month)?;
            Some((index, format!("{} · {}", number(m.count as f64), m.date)))
        })
        .collect();
    section(
        &mut out,
        lang,
        "milestones",
        "reports.cumulative",
        &charts::cumulative(t(lang, "reports.cumulative"), &cumulative, &marks),
        [t(lang, "reports.count"), t(lang, "reports.milestone")],
        &stats
            .milestones
            .iter()
            .map(|m| (number(m.count as f64), m.date.clone()))
            .collect::<Vec<_>>(),
        &filters,
    );

    let monthly: Vec<(String, f64)> = stats
        .daily_average_by_month
        .iter()
        .map(|m| (m.month.clone(), m.average))
        .collect();
    section(
        &mut out,
        lang,
        "monthly",
        "reports.monthly",
        &charts::columns(t(lang, "reports.monthly"), &monthly),
        [t(lang, "reports.month"), t(lang, "reports.average")],
        &monthly
            .iter()
            .map(|(k, v)| (k.clone(), number(*v)))
            .collect::<Vec<_>>(),
        &filters,
    );

    let shares: Vec<(String, f64)> = stats
        .category_share
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| (category_name(state, &s.code, lang), s.share * 100.0))
        .collect();
    section(
        &mut out,
        lang,
        "categories",
        "reports.categories",
        &charts::bars(t(lang, "reports.categories"), &shares, "%"),
        [t(lang, "reports.category"), t(lang, "reports.share")],
        &stats
            .category_share
            .iter()
            .filter(|s| s.count > 0)
            .map(|s| {
                (
                    category_name(state, &s.code, lang),
                    format!("{:.1}% ({})", s.share * 100.0, number(s.count as f64)),
                )
            })
            .collect::<Vec<_>>(),
        &filters,
    );

    let channels: Vec<(String, f64)> = stats
        .channel_share
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| (s.code.clone(), s.share * 100.0))
        .collect();
    section(
        &mut out,
        lang,
        "channels",
        "reports.channels",
        &charts::bars(t(lang, "reports.channels"), &channels, "%"),
        [t(lang, "reports.channel"), t(lang, "reports.share")],
        &stats
            .channel_share
            .iter()
            .filter(|s| s.count > 0)
            .map(|s| {
                (
                    s.code.clone(),
                    format!("{:.1}% ({})", s.share * 100.0, number(s.count as f64)),
                )
            })
            .collect::<Vec<_>>(),
        &filters,
    );

    let night: Vec<(String, f64)> = stats
        .night_by_month
        .iter()
        .map(|n| (n.month.clone(), n.count as f64))
        .collect();
    section(
        &mut out,
        lang,
        "night",
        "reports.night",
        &charts::columns(t(lang, "reports.night"), &night),
        [t(lang, "reports.month"), t(lang, "reports.count")],
        &night
            .iter()
            .map(|(k, v)| (k.clone(), number(*v)))
            .collect::<Vec<_>>(),
        &filters,
    );

    let h = &stats.heavy_users;
    let tiers: Vec<(String, f64)> = [
        ("≥ 100", h.at_least_100),
        ("≥ 300", h.at_least_300),
        ("≥ 500", h.at_least_500),
        ("≥ 1000", h.at_least_1000),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), *v as f64))
    .collect();
    let mut tier_rows: Vec<(String, String)> =
        tiers.iter().map(|(k, v)| (k.clone(), number(*v))).collect();
    tier_rows.push(("max".into(), number(h.max as f64)));
    section(
        &mut out,
        lang,
        "heavy_users",
        "reports.heavy",
        &charts::bars(t(lang, "reports.heavy"), &tiers, ""),
        [t(lang, "reports.tier"), t(lang, "reports.citizens")],
        &tier_rows,
        &filters,
    );
    let _ = write!(
        out,
        "<p><small>{}</small></p>",
        escape(t(lang, "reports.heavy_note"))
    );

    let handle: Vec<(String, f64)> = stats
        .handle_time
        .by_category
        .iter()
        .filter(|h| h.consultations > 0)
        .map(|h| (category_name(state, &h.key, lang), h.average_seconds))
        .collect();
    section(
        &mut out,
        lang,
        "handle_time",
        "reports.handle",
        &charts::bars(t(lang, "reports.handle"), &handle, ""),
        [t(lang, "reports.category"), t(lang, "reports.seconds")],
        &handle
            .iter()
            .map(|(k, v)| (k.clone(), number(v.round())))
            .collect::<Vec<_>>(),
        &filters,
    );

    let satisfaction: Vec<(String, f64)> = stats
        .satisfaction_by_month
        .iter()
        .map(|m| (m.month.clone(), m.satisfied_share.unwrap_or(0.0) * 100.0))
        .collect();
    let mut rows: Vec<(String, String)> = vec![(
        t(lang, "reports.all").to_owned(),
        match stats.satisfaction.satisfied_share {
            Some(share) => format!(
                "{:.1}% ({} {})",
                share * 100.0,
                number(stats.satisfaction.responses as f64),
                t(lang, "reports.responses")
            ),
            None => t(lang, "reports.empty").to_owned(),
        },
    )];
    rows.extend(
        satisfaction
            .iter()
            .map(|(month, share)| (month.clone(), format!("{share:.1}%"))),
    );
    section(
        &mut out,
        lang,
        "satisfaction",
        "reports.satisfaction",
        &charts::columns(t(lang, "reports.satisfaction"), &satisfaction),
        [t(lang, "reports.month"), t(lang, "reports.satisfied_share")],
        &rows,
        &filters,
    );

    out.push_str("</main></body></html>");
    out
}
