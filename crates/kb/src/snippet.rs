//! The excerpt shown under a hit: the body's line that matches most of the query, cut
//! to a readable length, with the matched syllables in `<mark>`.

use std::collections::HashSet;
use std::ops::Range;

use crate::analysis::{Mode, analyze, squeeze};

/// Characters of an excerpt, at most.
const SNIPPET_CHARS: usize = 140;

/// Lines of a body looked at, at most.
const MAX_LINES: usize = 200;

/// Markdown marks left out of the excerpt.
fn is_markup(c: char) -> bool {
    matches!(c, '*' | '`' | '#' | '_' | '|')
}

pub(crate) fn snippet(body: &str, query_grams: &[String]) -> String {
    let wanted: HashSet<&str> = query_grams.iter().map(String::as_str).collect();
    // The line holding the most of the query's bigrams wins; the first on a tie.
    // Lines are judged by their squeezed text, and only the winner is analysed.
    let mut best: Option<(usize, Range<usize>)> = None;
    let mut start = 0;
    for line in body.split_inclusive('\n').take(MAX_LINES) {
        let range = start..start + line.len();
        start += line.len();
        if line.trim().is_empty() {
            continue;
        }
        let squeezed = squeeze(line);
        let count = wanted.iter().filter(|g| squeezed.contains(**g)).count();
        if best.as_ref().is_none_or(|(c, _)| count > *c) {
            best = Some((count, range));
        }
    }
    let Some((_, line)) = best else {
        return String::new();
    };
    let mut marks: Vec<Range<usize>> = Vec::new();
    for gram in analyze(&body[line.clone()], Mode::Document).grams {
        if wanted.contains(gram.text.as_str()) {
            marks.extend(
                gram.spans
                    .into_iter()
                    .map(|r| r.start + line.start..r.end + line.start),
            );
        }
    }
    marks.sort_by_key(|r| r.start);
    // Centre a long line on its first match.
    let first = marks.first().map_or(line.start, |m| m.start);
    let chars: Vec<(usize, char)> = body[line.clone()]
        .char_indices()
        .map(|(i, c)| (i + line.start, c))
        .collect();
    let at = chars.iter().position(|(i, _)| *i >= first).unwrap_or(0);
    let from = if chars.len() <= SNIPPET_CHARS {
        0
    } else {
        at.saturating_sub(SNIPPET_CHARS / 4)
    };
    let to = (from + SNIPPET_CHARS).min(chars.len());
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut open = false;
    for &(i, c) in &chars[from..to] {
        let marked = marks.iter().any(|m| m.contains(&i));
        if marked != open {
            out.push_str(if marked { "<mark>" } else { "</mark>" });
            open = marked;
        }
        if is_markup(c) {
            continue;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    if open {
        out.push_str("</mark>");
    }
    let mut out = out.trim().trim_start_matches(['-', ' ']).to_string();
    if to < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_best_line_and_escapes_the_rest() {
        let body =
            "# 안내\n수도요금은 매월 부과됩니다.\n- **하수도 사용료**는 <별도>입니다 & 문의 120";
        let s = snippet(body, &["하수".into(), "수도".into(), "사용".into()]);
        assert_eq!(
            s,
            "<mark>하수도</mark> <mark>사용</mark>료는 &lt;별도&gt;입니다 &amp; 문의 120"
        );
        let none = snippet(body, &["없음".into()]);
        assert_eq!(none, "안내");
        assert_eq!(snippet("", &[]), "");
    }

    #[test]
    fn a_long_line_is_cut_around_its_first_match() {
        let body = format!("{}수도요금{}", "가".repeat(300), "나".repeat(300));
        let s = snippet(&body, &["수도".into(), "요금".into()]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("<mark>수도요금</mark>"), "{s}");
        assert!(s.chars().count() < SNIPPET_CHARS + 20);
    }
}
