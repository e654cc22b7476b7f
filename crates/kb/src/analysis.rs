//! The Korean-aware analysis shared by indexing and querying.
//!
//! Korean defeats whitespace tokenizers three ways, and each step here answers one:
//!
//! - **Particles and endings** attach to words (수도요금**을**, 냈**는지**): each Hangul word
//!   loses its longest known trailing particle or verb ending ([`stem`]); words that are
//!   nothing but a question frame (어떻게, 알려주세요) are dropped.
//! - **Spacing varies** (택시불편신고 / 택시 불편 신고): the stems of a run of Hangul words
//!   are joined without their spaces and cut into overlapping syllable bigrams, so both
//!   spellings give the same terms (택시, 시불, 불편, 편신, 신고); a compound such as
//!   주민등록등본 contains the bigram of its part 등본.
//! - **Whole words** still matter for precision: the stems and the Latin/digit tokens
//!   (`n26`, `120`) are also kept as word terms.
//!
//! Colloquial words (수도세 for 수도요금) are handled at query time by the synonym list
//! ([`crate::Synonyms`]), so an edit to it needs no re-indexing.
//!
//! Offsets are byte ranges in the original text, so snippets can highlight what matched.

use std::ops::Range;
use std::sync::LazyLock;

/// One term with the byte ranges of the original text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub text: String,
    pub spans: Vec<Range<usize>>,
    /// A predicate's stem (나왔 from 나왔는지, 맞히 from 맞히려면): in a query it says
    /// less about the topic than the nouns around it.
    pub weak: bool,
}

/// The terms of one text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Space-insensitive syllable bigrams over the stems (single syllables when a run
    /// has only one).
    pub grams: Vec<Term>,
    /// Stems of Hangul words and lower-cased Latin/digit tokens.
    pub words: Vec<Term>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Hangul syllables and CJK ideographs: cut into bigrams.
    Syllabic,
    /// Latin letters and digits (and other alphabets): kept as whole tokens.
    Alnum,
    /// Whitespace: joins the Hangul words on either side into one run.
    Space,
    /// Punctuation, symbols, control characters: ends a run.
    Break,
}

fn classify(c: char) -> Class {
    if is_syllabic(c) {
        Class::Syllabic
    } else if c.is_alphanumeric() {
        Class::Alnum
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Break
    }
}

fn is_syllabic(c: char) -> bool {
    matches!(c,
        '\u{AC00}'..='\u{D7A3}'   // Hangul syllables
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs (Hanja)
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}')
}

/// Folds full-width ASCII (５, Ｎ) to ASCII and lower-cases.
fn fold(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    };
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else if ('\u{AC00}'..='\u{D7A3}').contains(&c) {
        fold_vowel(c)
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

/// Most speakers no longer tell ㅐ from ㅔ (nor ㅒ/ㅖ, ㅙ/ㅚ/ㅞ) apart, and spell them
/// interchangeably (치메 for 치매): one vowel stands for each pair on both sides.
fn fold_vowel(c: char) -> char {
    let index = c as u32 - 0xAC00;
    let (initial, medial, last) = (index / 588, (index % 588) / 28, index % 28);
    let medial = match medial {
        5 => 1,        // ㅔ → ㅐ
        7 => 3,        // ㅖ → ㅒ
        11 | 15 => 10, // ㅚ, ㅞ → ㅙ
        m => m,
    };
    char::from_u32(0xAC00 + initial * 588 + medial * 28 + last).unwrap_or(c)
}

/// A word: its folded characters with each one's byte range in the original.
#[derive(Debug, Clone)]
struct Word {
    class: Class,
    chars: Vec<(char, Range<usize>)>,
    /// Whether a Break (not only spaces) separated it from the previous word.
    after_break: bool,
}

fn words(text: &str) -> Vec<Word> {
    let mut out: Vec<Word> = Vec::new();
    let mut pending_break = true;
    for (at, raw) in text.char_indices() {
        let c = fold(raw);
        let range = at..at + raw.len_utf8();
        match classify(c) {
            Class::Space => {
                if out.last().is_some_and(|w| !w.chars.is_empty()) {
                    out.push(Word {
                        class: Class::Space,
                        chars: Vec::new(),
                        after_break: false,
                    });
                }
            }
            Class::Break => pending_break = true,
            class => {
                let continues = matches!(out.last(), Some(w) if w.class == class && !pending_break);
                if continues {
                    if let Some(w) = out.last_mut() {
                        w.chars.push((c, range));
                    }
                } else {
                    // A script change inside a word (n26번) starts a new word; Latin/digit
                    // words end a Hangul run by themselves.
                    out.push(Word {
                        class,
                        chars: vec![(c, range)],
                        after_break: pending_break,
                    });
                }
                pending_break = false;
            }
        }
    }
    out.retain(|w| w.class != Class::Space);
    out
}

/// Trailing particles and endings, longest first within each length. A suffix of one
/// syllable is stripped only when two syllables remain (버스는 → 버스, but 마을 stays);
/// longer ones when at least one remains (냈는지 → 냈).
#[rustfmt::skip]
const SUFFIXES: &[&str] = &[
    // question frames and polite endings glued to a noun (신청하려면, 발급받는법)
    "하려고하는데", "하고싶은데요", "하고싶어요", "받고싶어요", "알려주세요", "하고싶은데",
    "할수있나요", "할수있어요", "하는방법은", "받는방법은", "해야하나요", "해야되나요",
    "했는데요", "하려는데", "받으려면", "받을려면", "하려면요", "하는방법", "받는방법",
    "되었는데", "하는곳은", "해주세요", "했는지", "했는데", "하려면", "할려면", "하려고",
    "하는지", "하는데", "하는법", "받는법", "받는곳", "하는곳", "되나요", "되는지", "됐는데",
    "됐어요", "인가요", "있나요", "없나요", "있어요", "없어요", "싶어요", "주세요", "합니다",
    "입니다", "했어요", "하나요", "뗄려면", "떼려면", "떼는법", "떼는곳", "인데요", "는데요",
    "에서는", "에서도", "에게서", "으로는", "으로도", "이에요", "으려면", "해요", "예요",
    "인지", "는지", "인데", "는데", "나요", "려면", "하면", "해야", "하고", "할때", "되면",
    "에서", "에게", "한테", "께서", "으로", "로는", "까지", "부터", "마다", "처럼", "보다",
    "이랑", "에는", "에도", "이나", "이요",
    // one syllable: particles and the polite 요
    "요", "을", "를", "은", "는", "이", "가", "의", "에", "도", "만", "와", "과", "로", "랑",
    "나",
];

/// Words that only frame a question and name nothing to look for.
#[rustfmt::skip]
const FRAME_WORDS: &[&str] = &[
    "어떻게", "어떡해", "어떡하죠", "어디서", "어디", "어디로", "어디에", "언제", "언제까지",
    "뭐", "뭔가요", "무엇", "무엇인가요", "좀", "알려주세요", "알려줘", "궁금해요", "궁금합니다",
    "문의", "문의드려요", "하고", "싶어요", "하고싶어요", "있나요", "있어요", "해요", "하나요",
    "되나요", "되요", "돼요", "할", "수", "있을까요", "하는", "건가요", "거", "건", "것",
    "그", "저", "제가", "저희", "우리", "혹시", "그냥", "지금", "요", "네", "좀요", "하려면",
    "해야", "해야하나요", "됩니까", "합니까", "입니까", "인가요", "알고", "알수", "싶은데",
    "있는데", "없는데", "하는데", "했는데", "데", "때", "때문에", "같은데", "같아요",
];

/// The suffixes as characters, longest first.
/// The suffixes as folded strings, with whether each is verbal; and the longest length.
static SUFFIX_SET: LazyLock<(std::collections::HashMap<Vec<char>, bool>, usize)> =
    LazyLock::new(|| {
        let all: std::collections::HashMap<Vec<char>, bool> = SUFFIXES
            .iter()
            .map(|s| (s.chars().map(fold).collect(), VERBAL.contains(s)))
            .collect();
        let longest = all.keys().map(Vec::len).max().unwrap_or(0);
        (all, longest)
    });

/// The frame words as the analysis sees them (folded).
static FRAMES: LazyLock<std::collections::HashSet<String>> = LazyLock::new(|| {
    FRAME_WORDS
        .iter()
        .map(|w| w.chars().map(fold).collect())
        .collect()
});

/// Endings that attach to a verb's stem rather than to a noun: what they leave is a
/// predicate (나왔는지 → 나왔), unlike 신청하려면 → 신청 where the verb is in the suffix.
const VERBAL: &[&str] = &["는지", "는데", "는데요", "려면", "으려면", "나요"];

/// Strips up to two trailing particles or endings (보려면요 → 보); returns the stem's
/// length in syllables and whether the stem is a predicate's.
pub fn stem(syllables: &[char]) -> (usize, bool) {
    let (suffixes, longest) = &*SUFFIX_SET;
    let mut n = syllables.len();
    let mut verbal = false;
    for _ in 0..2 {
        // The longest suffix that leaves enough of a stem.
        let found = (1..=(*longest).min(n)).rev().find_map(|len| {
            let keep = if len == 1 { 2 } else { 1 };
            if n < len + keep {
                return None;
            }
            suffixes.get(&syllables[n - len..n]).map(|v| (len, *v))
        });
        let Some((len, is_verbal)) = found else {
            break;
        };
        verbal |= is_verbal;
        n -= len;
    }
    (n, verbal)
}

fn is_frame(word: &str) -> bool {
    FRAMES.contains(word)
}

/// Which side of the search a text is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An article: bigrams over the words as written (a particle adds a bigram that
    /// simply matches nothing), so a word that merely looks like it ends in a particle
    /// (하수도) keeps all its bigrams.
    Document,
    /// A query: bigrams over the stems, question-frame words dropped, so the endings of
    /// a spoken question add no noise.
    Query,
}

/// Analyses a text into bigram and word terms.
pub fn analyze(text: &str, mode: Mode) -> Analysis {
    let mut analysis = Analysis::default();
    // The current run of Hangul syllables, as (syllable, range).
    let mut run: Vec<(char, Range<usize>)> = Vec::new();
    let flush = |run: &mut Vec<(char, Range<usize>)>, grams: &mut Vec<Term>| {
        grams.extend(bigrams(run, false));
        run.clear();
    };
    for word in words(text) {
        match word.class {
            Class::Syllabic => {
                if word.after_break {
                    flush(&mut run, &mut analysis.grams);
                }
                let chars: Vec<char> = word.chars.iter().map(|(c, _)| *c).collect();
                let whole: String = chars.iter().collect();
                let (len, verbal) = stem(&chars);
                let kept = &word.chars[..len];
                let text: String = kept.iter().map(|(c, _)| *c).collect();
                let frame = is_frame(&whole) || is_frame(&text);
                if !frame {
                    let span = kept[0].1.start..kept[len - 1].1.end;
                    analysis.words.push(Term {
                        text,
                        spans: vec![span],
                        weak: verbal,
                    });
                }
                match mode {
                    Mode::Document => run.extend(word.chars.iter().cloned()),
                    Mode::Query if frame => {}
                    // A predicate's stem stands alone, marked weak.
                    Mode::Query if verbal => analysis.grams.extend(bigrams(kept, true)),
                    Mode::Query => run.extend(kept.iter().cloned()),
                }
            }
            Class::Alnum => {
                flush(&mut run, &mut analysis.grams);
                let text: String = word.chars.iter().map(|(c, _)| *c).collect();
                let span = word.chars[0].1.start..word.chars[word.chars.len() - 1].1.end;
                // Whole in both halves: `n62` weighs like a Hangul word's bigrams.
                analysis.grams.push(Term {
                    text: text.clone(),
                    spans: vec![span.clone()],
                    weak: false,
                });
                analysis.words.push(Term {
                    text,
                    spans: vec![span],
                    weak: false,
                });
            }
            Class::Space | Class::Break => {}
        }
    }
    flush(&mut run, &mut analysis.grams);
    analysis
}

/// The bigrams of a run of syllables; its one syllable when it has only one.
fn bigrams(run: &[(char, Range<usize>)], weak: bool) -> Vec<Term> {
    if run.len() == 1 {
        return vec![Term {
            text: run[0].0.to_string(),
            spans: vec![run[0].1.clone()],
            weak,
        }];
    }
    run.windows(2)
        .map(|pair| Term {
            text: [pair[0].0, pair[1].0].iter().collect(),
            spans: vec![pair[0].1.clone(), pair[1].1.clone()],
            weak,
        })
        .collect()
}

/// The text with everything but syllables, letters and digits removed, folded: what
/// synonym terms are matched against, so spacing and particles do not hide them.
pub fn squeeze(text: &str) -> String {
    text.chars()
        .map(fold)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(text: &str) -> Vec<String> {
        analyze(text, Mode::Query)
            .grams
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    fn words_of(text: &str) -> Vec<String> {
        analyze(text, Mode::Query)
            .words
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn vowels_spelled_alike_are_one() {
        assert_eq!(grams("치메 검사"), grams("치매 검사"));
        assert_eq!(grams("외국인"), grams("웨국인"));
        assert_ne!(grams("치마"), grams("치매"));
    }

    #[test]
    fn spacing_does_not_change_the_bigrams() {
        assert_eq!(grams("택시불편신고"), grams("택시 불편 신고"));
        assert_eq!(
            grams("택시불편신고"),
            vec!["택시", "시불", "불편", "편신", "신고"]
        );
    }

    #[test]
    fn particles_and_endings_are_stripped() {
        assert_eq!(words_of("수도요금을 냈는지"), vec!["수도요금", "냈"]);
        assert_eq!(words_of("버스는 어디서 타나요"), vec!["버스", "타"]);
        assert_eq!(words_of("등본 발급하려면"), vec!["등본", "발급"]);
        // A one-syllable particle keeps two syllables of stem.
        assert_eq!(words_of("마을"), vec!["마을"]);
        assert_eq!(
            grams("수도요금을 냈는지 알려주세요"),
            grams("수도요금 냈는지")
        );
        // 냈 is a predicate's stem: its own weak term, not part of the noun run.
        let analysis = analyze("수도요금을 냈는지", Mode::Query);
        assert_eq!(analysis.grams[0].text, "냈");
        assert!(analysis.grams[0].weak && !analysis.grams[1].weak);
    }

    #[test]
    fn documents_keep_every_bigram_of_what_is_written() {
        let doc: Vec<String> = analyze("하수도 사용료는", Mode::Document)
            .grams
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(doc, vec!["하수", "수도", "도사", "사용", "용료", "료는"]);
        // Words are stemmed on both sides alike.
        let words: Vec<String> = analyze("하수도 사용료는", Mode::Document)
            .words
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(words, words_of("하수도 사용료는"));
    }

    #[test]
    fn latin_and_digits_are_whole_words_and_break_runs() {
        assert_eq!(words_of("N26번 버스"), vec!["n26", "번", "버스"]);
        assert_eq!(grams("N26번 버스"), vec!["n26", "번버", "버스"]);
        assert_eq!(words_of("ＮＩＧＨＴ ５번"), vec!["night", "5", "번"]);
    }

    #[test]
    fn punctuation_ends_a_run_and_offsets_point_into_the_original() {
        let text = "수도요금. 하수도";
        let analysis = analyze(text, Mode::Document);
        let texts: Vec<&str> = analysis.grams.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, vec!["수도", "도요", "요금", "하수", "수도"]);
        for term in &analysis.grams {
            let original: String = term.spans.iter().map(|r| &text[r.clone()]).collect();
            assert_eq!(original, term.text);
        }
    }

    #[test]
    fn hostile_text_gives_terms_or_nothing_and_never_panics() {
        for mode in [Mode::Document, Mode::Query] {
            assert_eq!(analyze("", mode), Analysis::default());
            assert_eq!(analyze("*:()\"[]{}^~\u{0}\u{7}", mode), Analysis::default());
            let long = "다".repeat(10_000);
            assert_eq!(analyze(&long, mode).grams.len(), 9_999);
        }
        assert_eq!(squeeze("주민 등록-등본!"), "주민등록등본");
    }
}
