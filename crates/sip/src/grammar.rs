//! The pieces of RFC 3261's grammar the element checks: name-addr /
//! addr-spec values (From, To, Contact) with their parameters, and Via
//! values. Lenient where the RFC allows linear whitespace, strict where it
//! does not.

/// `token` characters (RFC 3261 §25.1).
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// A From, To or Contact value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display: Option<String>,
    pub uri: String,
    /// Header parameters after the address (`tag`, `expires`, ...).
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Where a quoted string that starts at `start` (a `"`) ends: the index
/// just past its closing quote. Backslash escapes any byte.
fn quoted_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Splits a header value at commas outside quotes and angle brackets.
pub(crate) fn split_commas(value: &str) -> Option<Vec<&str>> {
    let bytes = value.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i, mut angle) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = quoted_end(bytes, i)?;
                continue;
            }
            b'<' => angle = true,
            b'>' => angle = false,
            b',' if !angle => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&value[start..]);
    Some(parts)
}

/// `*( SEMI generic-param )`, with whitespace allowed around `;` and `=`.
pub(crate) fn parse_params(text: &str) -> Option<Vec<(String, Option<String>)>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    let rest = text.strip_prefix(';')?;
    let bytes = rest.as_bytes();
    let mut params = Vec::new();
    let mut pieces = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = quoted_end(bytes, i)?;
                continue;
            }
            b';' => {
                pieces.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    pieces.push(&rest[start..]);
    for piece in pieces {
        let (name, value) = match piece.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (piece.trim(), None),
        };
        if !is_token(name) {
            return None;
        }
        let value = match value {
            None => None,
            Some(v) if v.starts_with('"') => {
                let end = quoted_end(v.as_bytes(), 0)?;
                if end != v.len() {
                    return None;
                }
                Some(v.to_owned())
            }
            Some(v) => {
                // token, host or IPv6 reference
                let ok =
                    !v.is_empty() && v.bytes().all(|b| is_token_byte(b) || b":[]".contains(&b));
                if !ok {
                    return None;
                }
                Some(v.to_owned())
            }
        };
        params.push((name.to_owned(), value));
    }
    Some(params)
}

fn has_scheme(uri: &str) -> bool {
    match uri.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        }
        None => false,
    }
}

/// One name-addr or addr-spec with its parameters; `None` if malformed.
pub fn parse_name_addr(value: &str) -> Option<NameAddr> {
    let value = value.trim();
    let bytes = value.as_bytes();
    let (display, after_display) = if bytes.first() == Some(&b'"') {
        let end = quoted_end(bytes, 0)?;
        (Some(value[..end].to_owned()), &value[end..])
    } else if let Some(open) = value.find('<') {
        let words = value[..open].trim();
        // An unquoted display name is tokens separated by whitespace.
        if !words.split_whitespace().all(is_token) {
            return None;
        }
        (
            (!words.is_empty()).then(|| words.to_owned()),
            &value[open..],
        )
    } else {
        // addr-spec: the URI runs to the first ';'; it may not hold ',' or '?'
        // (those need angle brackets), nor whitespace.
        let (uri, params) = match value.find(';') {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, ""),
        };
        let uri = uri.trim();
        if !has_scheme(uri) || uri.contains([',', '?', ' ', '\t', '<', '>', '"']) {
            return None;
        }
        return Some(NameAddr {
            display: None,
            uri: uri.to_owned(),
            params: parse_params(params)?,
        });
    };
    let rest = after_display.trim_start();
    let inner_and_after = rest.strip_prefix('<')?;
    let close = inner_and_after.find('>')?;
    let inner = &inner_and_after[..close];
    // No whitespace inside the brackets.
    if inner.is_empty() || inner.contains([' ', '\t', '\r', '\n', '<']) || !has_scheme(inner) {
        return None;
    }
    Some(NameAddr {
        display,
        uri: inner.to_owned(),
        params: parse_params(&inner_and_after[close + 1..])?,
    })
}

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, `SCTP`, ...
    pub transport: String,
    /// `host[:port]`.
    pub sent_by: String,
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn has_param(&self, name: &str) -> bool {
        self.params
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// `SIP / 2.0 / transport sent-by *(; param)`, whitespace allowed around the
/// slashes; `None` if malformed.
pub fn parse_via(value: &str) -> Option<Via> {
    let (name, rest) = value.split_once('/')?;
    let (version, rest) = rest.split_once('/')?;
    if !name.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" {
        return None;
    }
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let transport = &rest[..end];
    if !is_token(transport) {
        return None;
    }
    let rest = rest[end..].trim_start();
    let (sent_by, params) = match rest.find(';') {
        Some(i) => (rest[..i].trim(), &rest[i..]),
        None => (rest.trim(), ""),
    };
    let host_ok = !sent_by.is_empty()
        && sent_by
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if !host_ok {
        return None;
    }
    Some(Via {
        transport: transport.to_ascii_uppercase(),
        sent_by: sent_by.to_owned(),
        params: parse_params(params)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addrs() {
        let a = parse_name_addr(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#,
        )
        .expect("quoted with escapes");
        assert_eq!(a.uri, "sip:jdrosen@example.com");
        assert_eq!(a.param("tag"), Some("98asjd8"));
        let b = parse_name_addr("sip:caller@example.net;tag=134161461246").expect("addr-spec");
        assert_eq!(b.param("tag"), Some("134161461246"));
        assert!(parse_name_addr("caller<sip:caller@example.com>;tag=323").is_some());
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "< sip:t.watson@example.org >",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "",
            "<>",
        ] {
            assert!(parse_name_addr(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn vias() {
        let v =
            parse_via("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").expect("folded");
        assert_eq!(
            (v.transport.as_str(), v.sent_by.as_str()),
            ("UDP", "192.0.2.2")
        );
        assert_eq!(v.param("branch"), Some("390skdjuw"));
        assert!(parse_via("SIP/2.0/UDP 192.0.2.15;;").is_none());
        assert!(parse_via("SIP/2.0/UDP").is_none());
        assert!(parse_via("SIP/7.0/UDP c.example.com").is_none());
    }
}
