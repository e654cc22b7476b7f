//! The tantivy index: schema, tokenizers over [`crate::analysis`], indexing and search.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::analysis::{Analysis, Mode, analyze, squeeze};
use crate::snippet::snippet;
use crate::synonyms::Synonyms;

/// What the index needs of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub body: String,
    /// Taxonomy code (`water.bill`).
    pub category: String,
    /// Words that describe the article beyond its text: tags and the category's names.
    pub keywords: Vec<String>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub id: String,
    pub title: String,
    pub category: String,
    pub score: f32,
    /// An excerpt of the body with the matched syllables in `<mark>`; everything else
    /// HTML-escaped, so it can be shown as HTML.
    pub snippet: String,
}

/// A query that cannot be searched.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query is empty")]
    Empty,
    #[error("the query is longer than {max} characters")]
    TooLong { max: usize },
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// Index size figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub articles: u64,
    pub segments: usize,
}

/// Term weights: a title match counts most, then tags and category names, then body.
const W_TITLE_GRAM: f32 = 3.0;
const W_TITLE_WORD: f32 = 2.0;
const W_KEYWORD_GRAM: f32 = 1.5;
const W_BODY_GRAM: f32 = 1.0;
/// Weight of words brought in by a synonym, relative to the query's own.
const W_SYNONYM: f32 = 0.5;
/// Weight of a predicate's stem, relative to a noun.
const W_WEAK: f32 = 0.3;
/// Boost for an article in the contact's category, when suggesting.
const W_CATEGORY: f32 = 2.0;

/// How many of the best BM25 matches are re-ranked by query coverage.
const RERANK_POOL: usize = 32;
/// How strongly covering every query word counts against matching some words often.
const COVERAGE_POWER: f32 = 2.0;
/// Weight of an identifier mixing letters and digits (N26), relative to a word.
const W_IDENTIFIER: f32 = 2.0;

/// Terms a query sends to the BM25 stage, at most: its strongest by weight × idf.
/// Without a cap a long spoken question costs a term scorer per bigram and field.
const MAX_CLAUSES: usize = 10;

const GRAMS: &str = "dasan_grams";
const WORDS: &str = "dasan_words";

#[derive(Clone)]
struct Fields {
    id: Field,
    title: Field,
    body: Field,
    /// Title and body squeezed (folded, letters and digits only), for coverage.
    squeezed: Field,
    category: Field,
    /// The category and each of its parents, for suggestions.
    category_path: Field,
    title_grams: Field,
    title_words: Field,
    body_grams: Field,
    keyword_grams: Field,
}

/// The analysis as a tantivy tokenizer; `words` picks which half of it.
#[derive(Clone)]
struct DasanTokenizer {
    words: bool,
}

struct VecTokens {
    tokens: Vec<Token>,
    at: usize,
}

impl TokenStream for VecTokens {
    fn advance(&mut self) -> bool {
        if self.at < self.tokens.len() {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn token(&self) -> &Token {
        &self.tokens[self.at - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.at - 1]
    }
}

impl Tokenizer for DasanTokenizer {
    type TokenStream<'a> = VecTokens;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokens {
        let Analysis { grams, words } = analyze(text, Mode::Document);
        let terms = if self.words { words } else { grams };
        let tokens = terms
            .into_iter()
            .enumerate()
            .map(|(position, term)| Token {
                offset_from: term.spans.first().map_or(0, |r| r.start),
                offset_to: term.spans.last().map_or(0, |r| r.end),
                position,
                text: term.text,
                position_length: 1,
            })
            .collect();
        VecTokens { tokens, at: 0 }
    }
}

/// What a query is searched with.
#[derive(Default)]
struct Plan {
    weights: HashMap<(Field, String), f32>,
    concepts: Vec<Concept>,
    grams: Vec<String>,
}

/// One word of a query and the ways an article may say it.
struct Concept {
    /// Bigram sets: the word's own first, then its synonyms'.
    alternatives: Vec<Vec<String>>,
    /// Less for a predicate's stem than for a noun.
    weight: f32,
}

impl Concept {
    /// How much of the word an article has: the best share of any alternative's
    /// bigrams present.
    fn covered(&self, present: impl Fn(&str) -> bool) -> f32 {
        self.alternatives
            .iter()
            .filter(|a| !a.is_empty())
            .map(|a| a.iter().filter(|g| present(g)).count() as f32 / a.len() as f32)
            .fold(0.0, f32::max)
    }
}

/// Seoul's 25 districts: full name, and the short name callers also use. Many
/// services have one article per district; an article for a district the caller did
/// not name should not outrank the city-wide one.
#[rustfmt::skip]
pub const DISTRICTS: &[(&str, &str)] = &[
    ("종로구", "종로"), ("중구", "중구"), ("용산구", "용산"), ("성동구", "성동"),
    ("광진구", "광진"), ("동대문구", "동대문"), ("중랑구", "중랑"), ("성북구", "성북"),
    ("강북구", "강북"), ("도봉구", "도봉"), ("노원구", "노원"), ("은평구", "은평"),
    ("서대문구", "서대문"), ("마포구", "마포"), ("양천구", "양천"), ("강서구", "강서"),
    ("구로구", "구로"), ("금천구", "금천"), ("영등포구", "영등포"), ("동작구", "동작"),
    ("관악구", "관악"), ("서초구", "서초"), ("강남구", "강남"), ("송파구", "송파"),
    ("강동구", "강동"),
];

/// Weight of an article whose title names a district the query does not.
const W_OTHER_DISTRICT: f32 = 0.5;

/// The districts a title names (by full name) or a query names (either name).
fn districts_in(text: &str, short_names: bool) -> Vec<usize> {
    let text = squeeze(text);
    DISTRICTS
        .iter()
        .enumerate()
        .filter(|(_, (full, short))| text.contains(full) || (short_names && text.contains(short)))
        .map(|(i, _)| i)
        .collect()
}

/// How much a query term counts: less for a predicate's stem, more for an identifier
/// that mixes letters and digits (a bus route such as N26).
fn term_factor(term: &crate::analysis::Term) -> f32 {
    let t = &term.text;
    if term.weak {
        W_WEAK
    } else if t.chars().any(|c| c.is_ascii_digit()) && t.chars().any(|c| c.is_alphabetic()) {
        W_IDENTIFIER
    } else {
        1.0
    }
}

/// The bigrams (or the single syllable, or the Latin/digit token) of one word.
fn word_grams(word: &str) -> Vec<String> {
    analyze(word, Mode::Query)
        .grams
        .into_iter()
        .map(|t| t.text)
        .collect()
}

/// The knowledge base's in-memory search index.
pub struct KbIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    synonyms: RwLock<Synonyms>,
}

impl KbIndex {
    /// The longest query searched; longer ones are refused rather than cut.
    pub const MAX_QUERY_CHARS: usize = 1_000;
    pub const MAX_LIMIT: usize = 50;

    pub fn new(synonyms: Synonyms) -> Result<Self, tantivy::TantivyError> {
        let mut builder = Schema::builder();
        let analysed = |tokenizer: &str| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(tokenizer)
                    .set_index_option(IndexRecordOption::WithFreqs),
            )
        };
        let fields = Fields {
            id: builder.add_text_field("id", STRING | STORED),
            title: builder.add_text_field("title", STORED),
            body: builder.add_text_field("body", STORED),
            squeezed: builder.add_text_field("squeezed", STORED),
            category: builder.add_text_field("category", STORED),
            category_path: builder.add_text_field("category_path", STRING),
            title_grams: builder.add_text_field("title_grams", analysed(GRAMS)),
            title_words: builder.add_text_field("title_words", analysed(WORDS)),
            body_grams: builder.add_text_field("body_grams", analysed(GRAMS)),
            keyword_grams: builder.add_text_field("keyword_grams", analysed(GRAMS)),
        };
        let index = Index::create_in_ram(builder.build());
        index
            .tokenizers()
            .register(GRAMS, DasanTokenizer { words: false });
        index
            .tokenizers()
            .register(WORDS, DasanTokenizer { words: true });
        let writer = index.writer_with_num_threads(1, 50_000_000)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            reader,
            writer: Mutex::new(writer),
            fields,
            synonyms: RwLock::new(synonyms),
        })
    }

    fn document(&self, article: &Article) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &article.id);
        doc.add_text(f.title, &article.title);
        doc.add_text(f.body, &article.body);
        doc.add_text(
            f.squeezed,
            squeeze(&format!("{}\n{}", article.title, article.body)),
        );
        doc.add_text(f.category, &article.category);
        let mut path = article.category.as_str();
        loop {
            doc.add_text(f.category_path, path);
            match path.rfind('.') {
                Some(at) => path = &path[..at],
                None => break,
            }
        }
        doc.add_text(f.title_grams, &article.title);
        doc.add_text(f.title_words, &article.title);
        doc.add_text(f.body_grams, &article.body);
        doc.add_text(f.keyword_grams, article.keywords.join("\n"));
        doc
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds or replaces one article and makes it searchable before returning.
    pub fn upsert(&self, article: &Article) -> Result<(), tantivy::TantivyError> {
        let mut writer = self.writer();
        writer.delete_term(Term::from_field_text(self.fields.id, &article.id));
        writer.add_document(self.document(article))?;
        writer.commit()?;
        self.reader.reload()
    }

    /// Takes one article out of the search (deleted, or back to draft).
    pub fn remove(&self, id: &str) -> Result<(), tantivy::TantivyError> {
        let mut writer = self.writer();
        writer.delete_term(Term::from_field_text(self.fields.id, id));
        writer.commit()?;
        self.reader.reload()
    }

    /// Replaces the whole index with these articles, in one commit.
    pub fn rebuild<I: IntoIterator<Item = Article>>(
        &self,
        articles: I,
    ) -> Result<u64, tantivy::TantivyError> {
        let mut writer = self.writer();
        writer.delete_all_documents()?;
        let mut count = 0;
        for article in articles {
            writer.add_document(self.document(&article))?;
            count += 1;
        }
        writer.commit()?;
        self.reader.reload()?;
        Ok(count)
    }

    pub fn set_synonyms(&self, synonyms: Synonyms) {
        *self.synonyms.write().unwrap_or_else(|p| p.into_inner()) = synonyms;
    }

    pub fn synonyms(&self) -> Synonyms {
        self.synonyms
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn stats(&self) -> Stats {
        let searcher = self.reader.searcher();
        Stats {
            articles: searcher.num_docs(),
            segments: searcher.segment_readers().len(),
        }
    }

    /// Searches the published articles; at most `limit` hits (clamped to 1..=50).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, SearchError> {
        self.search_in(query, limit, None)
    }

    /// Like [`Self::search`], favouring articles in `category` (or under it): the
    /// suggestions for a contact from its category and text.
    pub fn search_in(
        &self,
        query: &str,
        limit: usize,
        category: Option<&str>,
    ) -> Result<Vec<Hit>, SearchError> {
        if query.chars().count() > Self::MAX_QUERY_CHARS {
            return Err(SearchError::TooLong {
                max: Self::MAX_QUERY_CHARS,
            });
        }
        if query.trim().is_empty() && category.is_none() {
            return Err(SearchError::Empty);
        }
        let limit = limit.clamp(1, Self::MAX_LIMIT);
        let plan = self.plan(query);
        let f = &self.fields;
        let searcher = self.reader.searcher();
        // Each term with what it can add at most (weight × idf); a term no article
        // has cannot change the ranking. A long query keeps its strongest terms
        // for the BM25 stage (all of its words still count in the re-ranking).
        let docs = searcher.num_docs() as f32;
        let mut terms: Vec<(Term, f32, f32)> = plan
            .weights
            .iter()
            .filter_map(|((field, text), weight)| {
                let term = Term::from_field_text(*field, text);
                let df = searcher.doc_freq(&term).unwrap_or(0) as f32;
                (df > 0.0).then(|| {
                    let idf = (1.0 + (docs - df + 0.5) / (df + 0.5)).ln();
                    (term, *weight, weight * idf)
                })
            })
            .collect();
        terms.sort_by(|a, b| b.2.total_cmp(&a.2));
        terms.truncate(MAX_CLAUSES);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .into_iter()
            .map(|(term, weight, _)| {
                let term = TermQuery::new(term, IndexRecordOption::WithFreqs);
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(term), weight)) as Box<dyn Query>,
                )
            })
            .collect();
        if let Some(category) = category {
            let term = TermQuery::new(
                Term::from_field_text(f.category_path, category),
                IndexRecordOption::Basic,
            );
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(term), W_CATEGORY)),
            ));
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let pool = limit.max(RERANK_POOL);
        let top = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(pool).order_by_score(),
        )?;
        // Weigh each query word by how rare its bigrams are.
        let docs = searcher.num_docs() as f32;
        let idf = |gram: &str| -> Option<f32> {
            let df = searcher
                .doc_freq(&Term::from_field_text(f.body_grams, gram))
                .ok()? as f32;
            let df_title = searcher
                .doc_freq(&Term::from_field_text(f.title_grams, gram))
                .ok()? as f32;
            let df = df.max(df_title);
            (df > 0.0).then(|| (1.0 + (docs - df + 0.5) / (df + 0.5)).ln())
        };
        let concept_weights: Vec<f32> = plan
            .concepts
            .iter()
            .map(|c| {
                let idfs: Vec<f32> = c.alternatives[0].iter().filter_map(|g| idf(g)).collect();
                let idf = if idfs.is_empty() {
                    1.0
                } else {
                    idfs.iter().sum::<f32>() / idfs.len() as f32
                };
                idf * c.weight
            })
            .collect();
        let total: f32 = concept_weights.iter().sum();
        let asked_districts = districts_in(query, true);
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let (title, body) = (text(f.title), text(f.body));
            // A bigram is in the article when its squeezed text contains it.
            let squeezed = text(f.squeezed);
            let present = |gram: &str| squeezed.contains(gram);
            let cover = || {
                if total > 0.0 {
                    plan.concepts
                        .iter()
                        .zip(&concept_weights)
                        .map(|(c, w)| w * c.covered(present))
                        .sum::<f32>()
                        / total
                } else {
                    1.0
                }
            };
            let mut coverage = cover();
            let title_districts = districts_in(&title, false);
            if !title_districts.is_empty()
                && !title_districts.iter().any(|d| asked_districts.contains(d))
            {
                coverage *= W_OTHER_DISTRICT;
            }
            let doc_category = text(f.category);
            let in_category = category.is_some_and(|c| {
                doc_category == c
                    || doc_category
                        .strip_prefix(c)
                        .is_some_and(|r| r.starts_with('.'))
            });
            let lift = if in_category { W_CATEGORY } else { 1.0 };
            hits.push((
                score * coverage.powf(COVERAGE_POWER) * lift,
                title,
                body,
                text(f.id),
                doc_category,
            ));
        }
        hits.sort_by(|a, b| b.0.total_cmp(&a.0));
        hits.truncate(limit);
        let out: Vec<Hit> = hits
            .into_iter()
            .map(|(score, title, body, id, category)| Hit {
                id,
                title,
                category,
                score,
                snippet: snippet(&body, &plan.grams),
            })
            .collect();
        Ok(out)
    }

    /// A query's weighted terms per field (with its synonyms), its concepts for the
    /// coverage re-ranking, and its bigrams for the snippet.
    fn plan(&self, query: &str) -> Plan {
        let f = &self.fields;
        let mut plan = Plan::default();
        let add = |plan: &mut Plan, analysis: Analysis, factor: f32| {
            for gram in analysis.grams {
                let factor = factor * term_factor(&gram);
                for (field, weight) in [
                    (f.title_grams, W_TITLE_GRAM),
                    (f.body_grams, W_BODY_GRAM),
                    (f.keyword_grams, W_KEYWORD_GRAM),
                ] {
                    let w = plan
                        .weights
                        .entry((field, gram.text.clone()))
                        .or_insert(0.0);
                    *w = w.max(weight * factor);
                }
                plan.grams.push(gram.text);
            }
            for word in analysis.words {
                // A Hangul word of two syllables is its own one bigram: the gram
                // fields have it already.
                if word.text.chars().count() <= 2 && word.text.chars().all(|c| !c.is_ascii()) {
                    continue;
                }
                let factor = factor * term_factor(&word);
                let w = plan
                    .weights
                    .entry((f.title_words, word.text))
                    .or_insert(0.0);
                *w = w.max(W_TITLE_WORD * factor);
            }
        };
        let analysis = analyze(query, Mode::Query);
        // One concept per query word: its own bigrams, and those of the synonyms of any
        // group whose matched text overlaps it.
        let synonyms = self.synonyms.read().unwrap_or_else(|p| p.into_inner());
        let expansions = synonyms.expansions(query);
        for word in &analysis.words {
            let own = word_grams(&word.text);
            if own.is_empty() {
                continue;
            }
            let key = squeeze(&word.text);
            let mut alternatives = vec![own];
            for e in &expansions {
                if e.matched.contains(&key) || key.contains(&e.matched) {
                    alternatives.extend(e.words.iter().map(|w| word_grams(w)));
                }
            }
            let weight = term_factor(word);
            plan.concepts.push(Concept {
                alternatives,
                weight,
            });
        }
        add(&mut plan, analysis, 1.0);
        for e in &expansions {
            if let Some(canonical) = &e.canonical {
                add(&mut plan, analyze(canonical, Mode::Query), W_SYNONYM);
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, body: &str, category: &str) -> Article {
        Article {
            id: id.into(),
            title: title.into(),
            body: body.into(),
            category: category.into(),
            keywords: Vec::new(),
        }
    }

    #[test]
    fn a_district_article_wins_only_when_its_district_is_named() {
        let index = KbIndex::new(Synonyms::builtin()).expect("index");
        index
            .rebuild([
                article(
                    "all",
                    "대형폐기물 배출 방법",
                    "대형폐기물은 신고 후 스티커를 붙여 버립니다.",
                    "waste",
                ),
                article(
                    "mapo",
                    "마포구 대형폐기물 배출 신고",
                    "마포구 대형폐기물은 앱으로 신고합니다. 대형폐기물 수수료",
                    "waste",
                ),
                article(
                    "nowon",
                    "노원구 대형폐기물 배출 신고",
                    "노원구 대형폐기물은 구청에 신고합니다. 대형폐기물 수수료",
                    "waste",
                ),
            ])
            .expect("indexed");
        let first = |q: &str| index.search(q, 3).expect("search")[0].id.clone();
        assert_eq!(first("대형폐기물 버리는 법"), "all");
        assert_eq!(first("마포구 대형폐기물"), "mapo");
        assert_eq!(first("노원 장롱 버리기"), "nowon");
    }

    #[test]
    fn edits_show_at_once_and_bad_queries_are_refused() {
        let index = KbIndex::new(Synonyms::builtin()).expect("index");
        index
            .upsert(&article(
                "a",
                "수도요금 조회",
                "고객번호로 조회",
                "water.bill",
            ))
            .expect("added");
        assert_eq!(index.search("수도세", 5).expect("search").len(), 1);
        index
            .upsert(&article("a", "여권 발급", "구청에서 발급", "documents"))
            .expect("replaced");
        assert!(index.search("수도세", 5).expect("search").is_empty());
        assert_eq!(index.stats().articles, 1);
        index.remove("a").expect("removed");
        assert!(index.search("여권", 5).expect("search").is_empty());
        assert!(matches!(index.search("  ", 5), Err(SearchError::Empty)));
        let ten_kb = "수도요금 ".repeat(2_000);
        assert!(matches!(
            index.search(&ten_kb, 5),
            Err(SearchError::TooLong { .. })
        ));
        assert!(
            index
                .search("*:(\")^~\u{0}", 5)
                .expect("only text")
                .is_empty()
        );
    }
}
