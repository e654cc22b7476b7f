//! One SIP message: parsing, the element's checks, building responses.

use crate::grammar::{is_token, parse_name_addr, parse_via, split_commas};

/// Why a message was refused, with the response a request gets (400 for
/// malformed, 505 for another SIP version). Responses that fail are dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}")]
pub struct ParseError {
    pub code: u16,
    pub reason: String,
}

/// The reasons that mean a stream has not delivered the whole message yet.
const NO_HEADER_END: &str = "no end of the header fields";
const SHORT_BODY: &str = "the body is shorter than Content-Length";

impl ParseError {
    /// More bytes may complete the message (on a stream).
    pub fn is_incomplete(&self) -> bool {
        self.code == 400 && (self.reason == NO_HEADER_END || self.reason == SHORT_BODY)
    }
}

fn bad(reason: impl Into<String>) -> ParseError {
    ParseError {
        code: 400,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// A header field; `name` is the full name in lower case (compact forms
/// expanded), `value` has its folding replaced by single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// The largest message Dasan reads (a datagram is at most 65,507 bytes).
pub const MAX_MESSAGE_BYTES: usize = 65_535;

fn full_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let full = match lower.as_str() {
        "i" => "call-id",
        "m" => "contact",
        "e" => "content-encoding",
        "l" => "content-length",
        "c" => "content-type",
        "f" => "from",
        "s" => "subject",
        "k" => "supported",
        "t" => "to",
        "v" => "via",
        "o" => "event",
        "u" => "allow-events",
        "r" => "refer-to",
        "b" => "referred-by",
        "x" => "session-expires",
        _ => return lower,
    };
    full.to_owned()
}

/// Reads one message from the start of `input`. Answers it and how many
/// bytes it took (a stream may hold more). Leading CRLFs (keep-alives) are
/// skipped. Without a Content-Length the body is the rest of the input (as
/// in a datagram).
pub fn parse(input: &[u8]) -> Result<(Message, usize), ParseError> {
    let mut skip = 0;
    while input[skip..].starts_with(b"\r\n") {
        skip += 2;
    }
    let data = &input[skip..];
    if data.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError {
            code: 513,
            reason: "Message Too Large".into(),
        });
    }
    let (head_end, body_start) = match find(data, b"\r\n\r\n") {
        Some(i) => (i, i + 4),
        None => match find(data, b"\n\n") {
            Some(i) => (i, i + 2),
            None => return Err(bad(NO_HEADER_END)),
        },
    };
    let head = String::from_utf8_lossy(&data[..head_end]);
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.starts_with([' ', '\t']) {
            if lines.len() < 2 {
                return Err(bad("whitespace before a header line"));
            }
            if let Some(last) = lines.last_mut() {
                last.push(' ');
                last.push_str(line.trim_start());
            }
        } else {
            lines.push(line.to_owned());
        }
    }
    let mut lines = lines.into_iter();
    let start = start_line(&lines.next().unwrap_or_default())?;
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("a header line without a colon"));
        };
        let name = name.trim_end();
        if !is_token(name) {
            return Err(bad("a header name that is not a token"));
        }
        headers.push(Header {
            name: full_name(name),
            value: value.trim().to_owned(),
        });
    }
    let rest = &data[body_start..];
    let (body, used) = match headers.iter().find(|h| h.name == "content-length") {
        Some(h) => {
            let length =
                number(&h.value, 9).ok_or_else(|| bad("Content-Length is not a number"))?;
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            if length > rest.len() {
                return Err(bad(SHORT_BODY));
            }
            (rest[..length].to_vec(), body_start + length)
        }
        None => (rest.to_vec(), data.len()),
    };
    let message = Message {
        start,
        headers,
        body,
    };
    message.check_syntax()?;
    Ok((message, skip + used))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Digits only, at most `max_digits` of them.
fn number(text: &str, max_digits: usize) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || text.len() > max_digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `SIP/`, in any case (byte-wise: the line may hold any UTF-8).
fn starts_with_sip(text: &str) -> bool {
    text.as_bytes()
        .get(..4)
        .is_some_and(|b| b.eq_ignore_ascii_case(b"SIP/"))
}

fn start_line(line: &str) -> Result<StartLine, ParseError> {
    if starts_with_sip(line) {
        let (version, rest) = line.split_once(' ').ok_or_else(|| bad("no status code"))?;
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(ParseError {
                code: 505,
                reason: "Version Not Supported".into(),
            });
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code = number(code, 3)
            .filter(|c| (100..=699).contains(c) && code.len() == 3)
            .ok_or_else(|| bad("a status code is three digits, 100 to 699"))?;
        return Ok(StartLine::Response {
            code: code as u16,
            reason: reason.to_owned(),
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts[..] else {
        return Err(bad(
            "a request line is method, URI and version, one space apart",
        ));
    };
    if !is_token(method) {
        return Err(bad("the method is not a token"));
    }
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        if starts_with_sip(version) {
            return Err(ParseError {
                code: 505,
                reason: "Version Not Supported".into(),
            });
        }
        return Err(bad("the request line does not end with SIP/2.0"));
    }
    if uri.is_empty() || uri.starts_with('<') || !uri.contains(':') {
        return Err(bad("the Request-URI is not a URI"));
    }
    let scheme = uri
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if scheme == "sip" || scheme == "sips" {
        // A SIP Request-URI carries no headers part (`?` after the host).
        let host_part = uri.rsplit_once('@').map_or(uri, |(_, h)| h);
        if host_part.contains('?') || host_part.contains(['<', '>']) {
            return Err(bad("the Request-URI may not carry headers"));
        }
    }
    Ok(StartLine::Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
    })
}

impl Message {
    /// The first header of that name (full, case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// `(sequence number, method)`.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let value = self.header("cseq")?;
        let mut parts = value.split_whitespace();
        let number = number(parts.next()?, 10)?;
        let method = parts.next()?;
        if parts.next().is_some() || number >= 1 << 31 || !is_token(method) {
            return None;
        }
        Some((number as u32, method))
    }

    /// The topmost Via's branch.
    pub fn branch(&self) -> Option<String> {
        let first = split_commas(self.header("via")?)?.into_iter().next()?;
        parse_via(first)?.param("branch").map(str::to_owned)
    }

    /// What RFC 3261 requires of the syntax of every message (RFC 4475
    /// §3.1.2): numbers in range, well-formed addresses and Vias, a CSeq
    /// naming the request's method, a Date in GMT.
    fn check_syntax(&self) -> Result<(), ParseError> {
        if self.header("cseq").is_some() {
            let (_, method) = self
                .cseq()
                .ok_or_else(|| bad("CSeq is not a number below 2^31 and a method"))?;
            if let Some(request) = self.method()
                && request != method
            {
                return Err(bad("CSeq names another method than the request"));
            }
        }
        for value in self.headers_named("max-forwards") {
            if number(value, 10).is_none_or(|n| n > 255) {
                return Err(bad("Max-Forwards is 0 to 255"));
            }
        }
        for name in ["from", "to"] {
            for value in self.headers_named(name) {
                if parse_name_addr(value).is_none() {
                    return Err(bad(format!("a malformed {name} value")));
                }
            }
        }
        for value in self.headers_named("contact") {
            if value.trim() == "*" {
                continue;
            }
            let parts = split_commas(value).ok_or_else(|| bad("an unbalanced quote in Contact"))?;
            if parts.iter().any(|p| parse_name_addr(p).is_none()) {
                return Err(bad("a malformed Contact value"));
            }
        }
        for value in self.headers_named("via") {
            let parts = split_commas(value).ok_or_else(|| bad("an unbalanced quote in Via"))?;
            if parts.iter().any(|p| parse_via(p).is_none()) {
                return Err(bad("a malformed Via value"));
            }
        }
        if let Some(date) = self.header("date")
            && !valid_date(date)
        {
            return Err(bad("Date is not an RFC 1123 date in GMT"));
        }
        Ok(())
    }

    /// The checks before a request is handled, each with its response
    /// (RFC 3261 §8.2, RFC 4475 §3.3): the mandatory headers once each, a
    /// supported URI scheme, no unsupported required extension, a
    /// Max-Forwards left for requests that would go further.
    pub fn check_request(&self, supported: &[&str]) -> Result<(), ParseError> {
        let StartLine::Request { method, uri } = &self.start else {
            return Ok(());
        };
        for name in ["to", "from", "call-id", "cseq", "via"] {
            if self.header(name).is_none() {
                return Err(bad(format!("Missing {name}")));
            }
        }
        for name in [
            "to",
            "from",
            "call-id",
            "cseq",
            "max-forwards",
            "content-length",
            "content-type",
        ] {
            if self.headers_named(name).count() > 1 {
                return Err(bad(format!("More than one {name}")));
            }
        }
        let scheme = uri
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
            return Err(ParseError {
                code: 416,
                reason: "Unsupported URI Scheme".into(),
            });
        }
        let unsupported: Vec<String> = self
            .headers_named("require")
            .flat_map(|v| v.split(','))
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty() && !supported.iter().any(|s| s.eq_ignore_ascii_case(o)))
            .collect();
        if !unsupported.is_empty() && method != "CANCEL" && method != "ACK" {
            return Err(ParseError {
                code: 420,
                reason: format!("Bad Extension: {}", unsupported.join(", ")),
            });
        }
        if method == "OPTIONS" && self.header("max-forwards").and_then(|v| number(v, 10)) == Some(0)
        {
            return Err(ParseError {
                code: 483,
                reason: "Too Many Hops".into(),
            });
        }
        Ok(())
    }

    /// A response to this request: Via, From, To (with `to_tag` added when
    /// it has none), Call-ID and CSeq copied; `extra` headers and `body`
    /// appended.
    pub fn response(
        &self,
        code: u16,
        reason: &str,
        to_tag: Option<&str>,
        extra: &[(&str, String)],
        body: &[u8],
    ) -> Vec<u8> {
        let mut out = format!("SIP/2.0 {code} {reason}\r\n");
        for header in &self.headers {
            let name = match header.name.as_str() {
                "via" => "Via",
                "from" => "From",
                "call-id" => "Call-ID",
                "cseq" => "CSeq",
                "to" => "To",
                // The route set of the dialog (RFC 3261 §12.1.1).
                "record-route" if (101..300).contains(&code) => "Record-Route",
                _ => continue,
            };
            let mut value = header.value.clone();
            if name == "To"
                && let Some(tag) = to_tag
                && parse_name_addr(&value).is_some_and(|a| a.param("tag").is_none())
            {
                value.push_str(";tag=");
                value.push_str(tag);
            }
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        for (name, value) in extra {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn valid_date(value: &str) -> bool {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [weekday, day, month, year, time, zone] = parts[..] else {
        return false;
    };
    const DAYS: [&str; 7] = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    DAYS.contains(&weekday)
        && day.len() == 2
        && number(day, 2).is_some_and(|d| (1..=31).contains(&d))
        && MONTHS.contains(&month)
        && number(year, 4).is_some()
        && time.len() == 8
        && time.split(':').all(|p| number(p, 2).is_some())
        && zone == "GMT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_into_a_response() {
        let raw = b"OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: x1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n";
        let (message, used) = parse(raw).expect("parses");
        assert_eq!(used, raw.len());
        assert_eq!(message.cseq(), Some((1, "OPTIONS")));
        assert_eq!(message.branch().as_deref(), Some("z9hG4bK-1"));
        message.check_request(&[]).expect("well-formed");
        let response = message.response(200, "OK", Some("abc"), &[], b"");
        let (parsed, _) = parse(&response).expect("the response parses");
        assert_eq!(
            parsed.start,
            StartLine::Response {
                code: 200,
                reason: "OK".into()
            }
        );
        assert!(parsed.header("to").expect("to").ends_with(";tag=abc"));
        assert_eq!(parsed.header("call-id"), Some("x1"));
        // A proxy's Record-Route goes back in a dialog-making answer only.
        let routed = [
            &raw[..raw.len() - 2],
            b"Record-Route: <sip:proxy.example;lr>\r\n\r\n",
        ]
        .concat();
        let (routed, _) = parse(&routed).expect("parses");
        let ok = String::from_utf8(routed.response(200, "OK", Some("t"), &[], b"")).expect("utf-8");
        assert!(
            ok.contains("Record-Route: <sip:proxy.example;lr>\r\n"),
            "{ok}"
        );
        let busy = String::from_utf8(routed.response(486, "Busy Here", Some("t"), &[], b""))
            .expect("utf-8");
        assert!(!busy.contains("Record-Route"));
    }

    #[test]
    fn dates() {
        assert!(valid_date("Sat, 13 Nov 2010 23:29:00 GMT"));
        assert!(!valid_date("Fri, 01 Jan 2010 16:00:00 EST"));
    }
}
