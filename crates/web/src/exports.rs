//! Exports as CSV and XLSX: filtered consultation lists (streamed page by
//! page, so ten million rows never sit in memory) and each statistics report.
//!
//! - `GET /api/v1/consultations/export?format=csv|xlsx&from&to&category&channel&citizen_phone`
//!   (supervisors and administrators; audited like a listing);
//! - `GET /api/v1/stats/export?report=NAME&format=csv|xlsx&from&to&category&channel`
//!   (roles that may read statistics), NAME one of [`REPORTS`].
//!
//! CSV is UTF-8 with a byte-order mark (Excel in Korean locales needs it) and
//! RFC 4180 quoting; a text cell that a spreadsheet would run as a formula
//! (`=`, `+`, `-`, `@` first) is prefixed with `'`. XLSX is written by
//! rust_xlsxwriter in constant-memory mode to a temporary file, a new sheet
//! every million rows, then streamed.

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use dasan_core::{Consultation, Role, Timestamp};
use dasan_store::{ConsultationFilter, Cursor, Statistics, Store};
use serde::Deserialize;

use crate::{
    AppState,
    auth::Caller,
    consultations::{audit, filter_subject, parse_filter},
    error::{ApiError, ApiQuery},
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/consultations/export", get(export_consultations))
        .route("/stats/export", get(export_report))
}

/// The statistics reports, by the name `report=` takes.
pub const REPORTS: &[&str] = &[
    "milestones",
    "monthly",
    "categories",
    "channels",
    "night",
    "heavy_users",
    "handle_time",
    "satisfaction",
];

/// Rows read from the store per page while streaming.
const PAGE: u32 = 2_000;
/// Data rows per XLSX sheet (Excel's limit is 1,048,576 with the header).
const ROWS_PER_SHEET: u32 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

impl Format {
    fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        match text.unwrap_or("csv") {
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            _ => Err(ApiError::bad_request(
                "invalid_format",
                "format must be csv or xlsx",
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
    channel: Option<String>,
    citizen_phone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    report: String,
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
    channel: Option<String>,
}

const CONSULTATION_HEADER: [&str; 13] = [
    "id",
    "started_at",
    "ended_at",
    "duration_seconds",
    "channel",
    "category",
    "category_name",
    "citizen_phone",
    "agent_id",
    "outcome",
    "department",
    "summary",
    "recorded_at",
];

fn consultation_row(state: &AppState, c: &Consultation) -> Vec<String> {
    let r = &c.record;
    let local = |t: Timestamp| {
        t.as_datetime()
            .with_timezone(&state.zone)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    vec![
        r.id.to_string(),
        local(r.started_at),
        local(r.ended_at),
        r.handle_seconds().to_string(),
        r.channel.as_str().to_owned(),
        r.category.to_string(),
        state
            .taxonomy
            .get(&r.category)
            .map(|c| c.name_ko.clone())
            .unwrap_or_default(),
        r.citizen_phone.display(),
        r.agent_id.map(|a| a.to_string()).unwrap_or_default(),
        r.outcome.as_str().to_owned(),
        r.department
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        r.summary.clone(),
        local(c.recorded_at),
    ]
}

/// Appends one CSV record (RFC 4180), neutralising spreadsheet formulas.
pub(crate) fn csv_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let field = field.as_ref();
        let formula =
            field.starts_with(['=', '+', '-', '@', '\t', '\r']) && field.parse::<f64>().is_err();
        let quote = formula || field.contains([',', '"', '\n', '\r']);
        if quote {
            out.push('"');
        }
        if formula {
            out.push('\'');
        }
        for ch in field.chars() {
            if ch == '"' {
                out.push('"');
            }
            out.push(ch);
        }
        if quote {
            out.push('"');
        }
    }
    out.push_str("\r\n");
}

fn attachment(format: Format, stem: &str, body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{stem}.{}\"",
        format.extension()
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn export_consultations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_export_consultations)?;
    let format = Format::parse(query.format.as_deref())?;
    let filter = parse_filter(
        &state,
        query.from.as_deref(),
        query.to.as_deref(),
        query.category.as_deref(),
        query.channel.as_deref(),
        query.citizen_phone.as_deref(),
    )?;
    // Audited before any record leaves, as a listing is.
    let subject = format!("export {}: {}", format.extension(), filter_subject(&filter));
    audit(&state, &caller, "consultation.export", subject).await?;
    match format {
        Format::Csv => Ok(attachment(
            format,
            "consultations",
            stream_csv(state, filter),
        )),
        Format::Xlsx => {
            let file = tokio::task::spawn_blocking(move || write_xlsx(&state, &filter))
                .await
                .map_err(|e| ApiError::internal(&e))??;
            Ok(attachment(format, "consultations", stream_file(file)))
        }
    }
}

/// Streams the filtered consultations as CSV: a task reads one page at a
/// time and hands the encoded page to the response body through a small
/// channel, so memory stays at a few pages whatever the row count. A
/// storage error mid-way ends the body with an error: the client sees a
/// broken transfer, never a silently short file.
fn stream_csv(state: AppState, filter: ConsultationFilter) -> Body {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut out = String::from("\u{feff}");
        csv_record(&mut out, &CONSULTATION_HEADER);
        let mut after: Option<Cursor> = None;
        loop {
            let page = match state.store.list_consultations(&filter, after, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(%error, "consultation export stopped");
                    let _ = sender
                        .send(Err(std::io::Error::other("export stopped")))
                        .await;
                    return;
                }
            };
            for consultation in &page.items {
                csv_record(&mut out, &consultation_row(&state, consultation));
            }
            if sender
                .send(Ok(Bytes::from(std::mem::take(&mut out))))
                .await
                .is_err()
            {
                return; // the client went away
            }
            match page.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => return,
            }
        }
    });
    Body::from_stream(tokio_stream(receiver))
}

/// A channel receiver as the stream `Body::from_stream` takes.
fn tokio_stream<T>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

fn xlsx_error(error: rust_xlsxwriter::XlsxError) -> ApiError {
    ApiError::internal(&error)
}

/// Writes the filtered consultations into a temporary XLSX file (constant
/// memory: each row goes to the sheet's temporary XML as it is written).
fn write_xlsx(state: &AppState, filter: &ConsultationFilter) -> Result<std::fs::File, ApiError> {
    use rust_xlsxwriter::Workbook;
    let runtime = tokio::runtime::Handle::current();
    let mut workbook = Workbook::new();
    let mut after: Option<Cursor> = None;
    let mut row_in_sheet = ROWS_PER_SHEET;
    let mut sheets = 0u32;
    loop {
        let page = runtime.block_on(state.store.list_consultations(filter, after, PAGE))?;
        for consultation in &page.items {
            if row_in_sheet >= ROWS_PER_SHEET {
                sheets += 1;
                let sheet = workbook.add_worksheet_with_constant_memory();
                sheet
                    .set_name(format!("consultations {sheets}"))
                    .map_err(xlsx_error)?;
                for (col, name) in CONSULTATION_HEADER.iter().enumerate() {
                    sheet
                        .write_string(0, col as u16, *name)
                        .map_err(xlsx_error)?;
                }
                row_in_sheet = 0;
            }
            row_in_sheet += 1;
            let sheet = workbook
                .worksheet_from_index(sheets as usize - 1)
                .map_err(xlsx_error)?;
            for (col, value) in consultation_row(state, consultation).iter().enumerate() {
                sheet
                    .write_string(row_in_sheet, col as u16, value)
                    .map_err(xlsx_error)?;
            }
        }
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    if sheets == 0 {
        let sheet = workbook.add_worksheet();
        for (col, name) in CONSULTATION_HEADER.iter().enumerate() {
            sheet
                .write_string(0, col as u16, *name)
                .map_err(xlsx_error)?;
        }
    }
    save_to_tempfile(&mut workbook)
}

fn save_to_tempfile(workbook: &mut rust_xlsxwriter::Workbook) -> Result<std::fs::File, ApiError> {
    use std::io::{Seek, SeekFrom};
    let mut file = tempfile::tempfile().map_err(|e| ApiError::internal(&e))?;
    workbook.save_to_writer(&mut file).map_err(xlsx_error)?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ApiError::internal(&e))?;
    Ok(file)
}

/// Streams a finished file in 64 KiB chunks (the file is unlinked already:
/// it disappears when the stream ends).
fn stream_file(file: std::fs::File) -> Body {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = file;
        loop {
            let mut buffer = vec![0u8; 64 * 1024];
            match file.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => {
                    buffer.truncate(n);
                    if sender.blocking_send(Ok(Bytes::from(buffer))).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            }
        }
    });
    Body::from_stream(tokio_stream(receiver))
}

/// A report as a header and rows of cells (text or number).
pub(crate) struct Table {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

pub(crate) enum Cell {
    Text(String),
    Number(f64),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(text) => text.clone(),
            Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Cell::Number(n) => format!("{n:.4}"),
        }
    }
}

fn count(n: u64) -> Cell {
    Cell::Number(n as f64)
}

/// The rows of one report, from the computed statistics.
pub(crate) fn report_table(
    name: &str,
    stats: &Statistics,
    taxonomy: &dasan_core::Taxonomy,
) -> Option<Table> {
    let name_of = |code: &str| {
        dasan_core::CategoryCode::parse(code)
            .ok()
            .and_then(|c| taxonomy.get(&c).map(|c| c.name_ko.clone()))
            .unwrap_or_default()
    };
    let table = match name {
        "milestones" => Table {
            header: vec!["count", "date"],
            rows: stats
                .milestones
                .iter()
                .map(|m| vec![count(m.count), Cell::Text(m.date.clone())])
                .collect(),
        },
        "monthly" => Table {
            header: vec!["month", "consultations", "days", "daily_average", "night"],
            rows: stats
                .daily_average_by_month
                .iter()
                .map(|m| {
                    let night = stats
                        .night_by_month
                        .iter()
                        .find(|n| n.month == m.month)
                        .map_or(0, |n| n.count);
                    vec![
                        Cell::Text(m.month.clone()),
                        count(m.count),
                        Cell::Number(f64::from(m.days)),
                        Cell::Number(m.average),
                        count(night),
                    ]
                })
                .collect(),
        },
        "categories" => Table {
            header: vec!["category", "name", "consultations", "share"],
            rows: stats
                .category_share
                .iter()
                .map(|s| {
                    vec![
                        Cell::Text(s.code.clone()),
                        Cell::Text(name_of(&s.code)),
                        count(s.count),
                        Cell::Number(s.share),
                    ]
                })
                .collect(),
        },
        "channels" => Table {
            header: vec!["channel", "consultations", "share"],
            rows: stats
                .channel_share
                .iter()
                .map(|s| {
                    vec![
                        Cell::Text(s.code.clone()),
                        count(s.count),
                        Cell::Number(s.share),
                    ]
                })
                .collect(),
        },
        "night" => Table {
            header: vec!["month", "consultations_00_06"],
            rows: stats
                .night_by_month
                .iter()
                .map(|n| vec![Cell::Text(n.month.clone()), count(n.count)])
                .collect(),
        },
        "heavy_users" => {
            let h = &stats.heavy_users;
            Table {
                header: vec!["tier", "citizens"],
                rows: vec![
                    vec![Cell::Text("max".into()), count(h.max)],
                    vec![Cell::Text(">=1000".into()), count(h.at_least_1000)],
                    vec![Cell::Text(">=500".into()), count(h.at_least_500)],
                    vec![Cell::Text(">=300".into()), count(h.at_least_300)],
                    vec![Cell::Text(">=100".into()), count(h.at_least_100)],
                ],
            }
        }
        "handle_time" => Table {
            header: vec!["kind", "key", "consultations", "average_seconds"],
            rows: std::iter::once(vec![
                Cell::Text("all".into()),
                Cell::Text(String::new()),
                count(stats.total),
                Cell::Number(stats.handle_time.average_seconds),
            ])
            .chain(stats.handle_time.by_month.iter().map(|h| {
                vec![
                    Cell::Text("month".into()),
                    Cell::Text(h.key.clone()),
                    count(h.consultations),
                    Cell::Number(h.average_seconds),
                ]
            }))
            .chain(stats.handle_time.by_category.iter().map(|h| {
                vec![
                    Cell::Text("category".into()),
                    Cell::Text(h.key.clone()),
                    count(h.consultations),
                    Cell::Number(h.average_seconds),
                ]
            }))
            .collect(),
        },
        "satisfaction" => Table {
            header: vec!["month", "responses", "satisfied_share", "mean"],
            rows: std::iter::once(vec![
                Cell::Text("all".into()),
                count(stats.satisfaction.responses),
                Cell::Number(stats.satisfaction.satisfied_share.unwrap_or(0.0)),
                Cell::Number(stats.satisfaction.mean.unwrap_or(0.0)),
            ])
            .chain(stats.satisfaction_by_month.iter().map(|m| {
                vec![
                    Cell::Text(m.month.clone()),
                    count(m.responses),
                    Cell::Number(m.satisfied_share.unwrap_or(0.0)),
                    Cell::Number(m.mean.unwrap_or(0.0)),
                ]
            }))
            .collect(),
        },
        _ => return None,
    };
    Some(table)
}

async fn export_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_read_statistics)?;
    let format = Format::parse(query.format.as_deref())?;
    if !REPORTS.contains(&query.report.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_report",
            format!("report must be one of {}", REPORTS.join(", ")),
        ));
    }
    let stats = crate::statistics::statistics_for(
        &state,
        query.from.as_deref(),
        query.to.as_deref(),
        query.category.as_deref(),
        query.channel.as_deref(),
    )
    .await?;
    let table = report_table(&query.report, &stats, &state.taxonomy)
        .ok_or_else(|| ApiError::bad_request("invalid_report", "unknown report"))?;
    let body = match format {
        Format::Csv => {
            let mut out = String::from("\u{feff}");
            csv_record(&mut out, &table.header);
            for row in &table.rows {
                let cells: Vec<String> = row.iter().map(Cell::text).collect();
                csv_record(&mut out, &cells);
            }
            Body::from(out)
        }
        Format::Xlsx => {
            let file = tokio::task::spawn_blocking(move || report_xlsx(&table))
                .await
                .map_err(|e| ApiError::internal(&e))??;
            stream_file(file)
        }
    };
    Ok(attachment(format, &query.report, body))
}

fn report_xlsx(table: &Table) -> Result<std::fs::File, ApiError> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, name) in table.header.iter().enumerate() {
        sheet
            .write_string(0, col as u16, *name)
            .map_err(xlsx_error)?;
    }
    for (row, cells) in table.rows.iter().enumerate() {
        for (col, cell) in cells.iter().enumerate() {
            let (row, col) = (row as u32 + 1, col as u16);
            match cell {
                Cell::Text(text) => sheet.write_string(row, col, text),
                Cell::Number(n) => sheet.write_number(row, col, *n),
            }
            .map_err(xlsx_error)?;
        }
    }
    save_to_tempfile(&mut workbook)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_neutralises_formulas() {
        let mut out = String::new();
        csv_record(
            &mut out,
            &[
                "plain",
                "a,b",
                "say \"hi\"",
                "line\nbreak",
                "=HYPERLINK(1)",
                "-12",
                "+82 10",
            ],
        );
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\",\"'=HYPERLINK(1)\",-12,\"'+82 10\"\r\n"
        );
    }
}
