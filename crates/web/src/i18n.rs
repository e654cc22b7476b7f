//! Every user-facing string of the browser UI, Korean first and English
//! second, behind one lookup: [`t`]. Pages pick the language from `?lang=`,
//! else the `dasan_lang` cookie, else Korean.

use axum::http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// `?lang=` wins, then a `dasan_lang` cookie (the user's switch), else
    /// Korean. The browser's Accept-Language is deliberately not consulted:
    /// the center's screens are Korean unless a person chooses otherwise.
    pub fn choose(query: Option<&str>, headers: &HeaderMap) -> Lang {
        let cookie = crate::session::cookie(headers, "dasan_lang");
        match query.or(cookie) {
            Some("en") => Lang::En,
            _ => Lang::Ko,
        }
    }
}

/// `(key, Korean, English)`.
const MESSAGES: &[(&str, &str, &str)] = &[
    ("reports.title", "상담 통계 보고서", "Consultation reports"),
    ("reports.filters", "조건", "Filters"),
    ("reports.from", "시작일", "From"),
    ("reports.to", "종료일", "To"),
    ("reports.category", "분류", "Category"),
    ("reports.channel", "채널", "Channel"),
    ("reports.any", "전체", "All"),
    ("reports.apply", "적용", "Apply"),
    ("reports.total", "총 상담 건수", "Total consultations"),
    ("reports.period", "기간", "Period"),
    (
        "reports.cumulative",
        "누적 상담 건수와 백만 건 달성일",
        "Cumulative consultations and million milestones",
    ),
    ("reports.milestone", "달성일", "Reached on"),
    (
        "reports.monthly",
        "월별 일평균 상담 건수",
        "Daily average per month",
    ),
    ("reports.categories", "분류별 비중", "Share by category"),
    ("reports.channels", "채널별 비중", "Channel mix"),
    (
        "reports.night",
        "심야(00~06시) 상담 건수",
        "Night consultations (00:00-06:00)",
    ),
    ("reports.heavy", "다수 이용자 구간", "Heavy-user tiers"),
    (
        "reports.heavy_note",
        "이용자별 전체 기간 기준",
        "Over each citizen's whole history",
    ),
    (
        "reports.handle",
        "분류별 평균 상담 시간(초)",
        "Average handle time by category (s)",
    ),
    ("reports.month", "월", "Month"),
    ("reports.count", "건수", "Count"),
    ("reports.share", "비중", "Share"),
    ("reports.average", "평균", "Average"),
    ("reports.seconds", "초", "s"),
    ("reports.tier", "구간", "Tier"),
    ("reports.citizens", "이용자 수", "Citizens"),
    ("reports.download", "내려받기", "Download"),
    ("reports.empty", "자료 없음", "No data"),
    ("signin.title", "다산 상담센터 로그인", "Sign in to Dasan"),
    ("signin.username", "아이디", "Username"),
    ("signin.password", "비밀번호", "Password"),
    ("signin.submit", "로그인", "Sign in"),
    (
        "signin.failed",
        "아이디 또는 비밀번호가 올바르지 않습니다.",
        "Wrong username or password.",
    ),
    (
        "signin.locked",
        "로그인 실패가 반복되어 잠시 잠겼습니다. 15분 뒤 다시 시도하세요.",
        "Too many failed attempts: try again in 15 minutes.",
    ),
    (
        "signin.csrf",
        "페이지가 만료되었습니다. 다시 로그인하세요.",
        "This page has expired: please sign in again.",
    ),
    (
        "signin.bad_form",
        "입력 양식이 올바르지 않습니다.",
        "The form was not filled in correctly.",
    ),
    ("signin.signed_in_as", "로그인 사용자:", "Signed in as"),
    ("signin.signout", "로그아웃", "Sign out"),
    ("lang.switch", "English", "한국어"),
];

/// The message for `key` in `lang`; the key itself if it is missing (a test
/// checks that none is).
pub fn t(lang: Lang, key: &str) -> &'static str {
    MESSAGES
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, ko, en)| match lang {
            Lang::Ko => *ko,
            Lang::En => *en,
        })
        .unwrap_or("?")
}

/// Every key the UI uses, for the completeness test.
pub fn keys() -> impl Iterator<Item = &'static str> {
    MESSAGES.iter().map(|(k, _, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_and_keys_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (key, ko, en) in MESSAGES {
            assert!(seen.insert(key), "duplicate {key}");
            assert!(!ko.is_empty() && !en.is_empty(), "{key}");
            // Korean text really is Korean (Hangul), except the language
            // switch, which names the other language.
            if *key != "lang.switch" {
                assert!(
                    ko.chars().any(|c| ('가'..='힣').contains(&c)),
                    "{key}: {ko}"
                );
            }
        }
        assert_eq!(t(Lang::En, "reports.title"), "Consultation reports");
        assert_eq!(t(Lang::Ko, "no.such.key"), "?");
    }

    #[test]
    fn the_language_follows_the_query_then_the_cookie_and_is_korean_otherwise() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::choose(None, &headers), Lang::Ko);
        headers.insert(
            axum::http::header::ACCEPT_LANGUAGE,
            "en-US,en;q=0.9".parse().expect("header"),
        );
        assert_eq!(Lang::choose(None, &headers), Lang::Ko, "not the browser's");
        headers.insert(
            axum::http::header::COOKIE,
            "dasan_lang=en".parse().expect("header"),
        );
        assert_eq!(Lang::choose(None, &headers), Lang::En);
        assert_eq!(Lang::choose(Some("ko"), &headers), Lang::Ko);
        assert_eq!(Lang::choose(Some("fr"), &HeaderMap::new()), Lang::Ko);
    }
}
