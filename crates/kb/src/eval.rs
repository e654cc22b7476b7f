//! Search quality measured on a set of articles and queries with known answers, for
//! Dasan's search and two baselines run in the same process: SQLite FTS5 with its
//! `unicode61` tokenizer, and plain character-bigram BM25 (tantivy's n-gram tokenizer
//! over title and body, no other analysis).
//!
//! Files are JSON lines: articles `{"id","title","body","category","tags"?}`, queries
//! `{"q","expected","kind"?}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TokenStream;
use tantivy::tokenizer::{LowerCaser, NgramTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument, Term};

use crate::{Article, KbIndex, Synonyms};

#[derive(Debug, Clone, Deserialize)]
pub struct EvalArticle {
    pub id: String,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EvalQuery {
    pub q: String,
    pub expected: String,
    #[serde(default)]
    pub kind: String,
}

/// One system's figures on a query set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub queries: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    /// Mean reciprocal rank over the top 10 (0 when the answer is not in it).
    pub mrr: f64,
    /// Recall@1 per query kind.
    pub recall_at_1_by_kind: BTreeMap<String, f64>,
    /// Queries whose answer was not first: query, expected, what came first.
    pub misses: Vec<(String, String, String)>,
}

/// Reads a JSON-lines file of `T`, naming the line of the first bad one.
pub fn read_lines<T: for<'de> Deserialize<'de>>(text: &str) -> Result<Vec<T>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1)))
        .collect()
}

/// Scores ranked answers (ids, best first) against the queries.
pub fn score(queries: &[EvalQuery], ranked: &[Vec<String>]) -> Figures {
    let mut figures = Figures {
        queries: queries.len(),
        ..Figures::default()
    };
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (query, answers) in queries.iter().zip(ranked) {
        let rank = answers.iter().take(10).position(|id| *id == query.expected);
        let first = rank == Some(0);
        if first {
            figures.recall_at_1 += 1.0;
        } else {
            figures.misses.push((
                query.q.clone(),
                query.expected.clone(),
                answers.first().cloned().unwrap_or_default(),
            ));
        }
        if rank.is_some_and(|r| r < 5) {
            figures.recall_at_5 += 1.0;
        }
        if let Some(r) = rank {
            figures.mrr += 1.0 / (r as f64 + 1.0);
        }
        let kind = kinds.entry(query.kind.clone()).or_default();
        kind.0 += 1;
        kind.1 += usize::from(first);
    }
    let n = queries.len().max(1) as f64;
    figures.recall_at_1 /= n;
    figures.recall_at_5 /= n;
    figures.mrr /= n;
    figures.recall_at_1_by_kind = kinds
        .into_iter()
        .map(|(k, (all, hit))| (k, hit as f64 / all as f64))
        .collect();
    figures
}

/// Dasan's search over the articles (all taken as published).
pub fn dasan(
    articles: &[EvalArticle],
    queries: &[EvalQuery],
    synonyms: Synonyms,
) -> Result<Figures, String> {
    let index = KbIndex::new(synonyms).map_err(|e| e.to_string())?;
    index
        .rebuild(articles.iter().map(|a| Article {
            id: a.id.clone(),
            title: a.title.clone(),
            body: a.body.clone(),
            category: a.category.clone(),
            keywords: a.tags.clone(),
        }))
        .map_err(|e| e.to_string())?;
    let ranked = queries
        .iter()
        .map(|q| {
            index
                .search(&q.q, 10)
                .map(|hits| hits.into_iter().map(|h| h.id).collect())
                .unwrap_or_default()
        })
        .collect::<Vec<Vec<String>>>();
    Ok(score(queries, &ranked))
}

/// SQLite FTS5 with the `unicode61` tokenizer, ranked by its `bm25()`.
pub fn fts5(articles: &[EvalArticle], queries: &[EvalQuery]) -> Result<Figures, String> {
    let db = rusqlite::Connection::open_in_memory().map_err(|e| e.to_string())?;
    db.execute_batch(
        "CREATE VIRTUAL TABLE kb USING fts5(id UNINDEXED, title, body, tokenize = 'unicode61')",
    )
    .map_err(|e| e.to_string())?;
    for a in articles {
        db.execute(
            "INSERT INTO kb (id, title, body) VALUES (?1, ?2, ?3)",
            (&a.id, &a.title, &a.body),
        )
        .map_err(|e| e.to_string())?;
    }
    let mut statement = db
        .prepare("SELECT id FROM kb WHERE kb MATCH ?1 ORDER BY bm25(kb) LIMIT 10")
        .map_err(|e| e.to_string())?;
    let mut ranked = Vec::with_capacity(queries.len());
    for q in queries {
        // Each whitespace-separated word as a quoted phrase, any of them.
        let words: Vec<String> =
            q.q.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| format!("\"{w}\""))
                .collect();
        if words.is_empty() {
            ranked.push(Vec::new());
            continue;
        }
        let ids = statement
            .query_map([words.join(" OR ")], |row| row.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| e.to_string())?;
        ranked.push(ids);
    }
    Ok(score(queries, &ranked))
}

/// Plain character-bigram BM25: tantivy's 2-gram tokenizer over title and body (spaces
/// included, as the n-gram tokenizer sees them), no other analysis.
pub fn plain_bigrams(articles: &[EvalArticle], queries: &[EvalQuery]) -> Result<Figures, String> {
    let mut builder = Schema::builder();
    let options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("bigram")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let id = builder.add_text_field("id", STRING | STORED);
    let title = builder.add_text_field("title", options.clone());
    let body = builder.add_text_field("body", options);
    let index = Index::create_in_ram(builder.build());
    let bigram = NgramTokenizer::new(2, 2, false).map_err(|e| e.to_string())?;
    index.tokenizers().register(
        "bigram",
        TextAnalyzer::builder(bigram.clone())
            .filter(LowerCaser)
            .build(),
    );
    let mut writer = index
        .writer_with_num_threads(1, 20_000_000)
        .map_err(|e| e.to_string())?;
    for a in articles {
        let mut doc = TantivyDocument::default();
        doc.add_text(id, &a.id);
        doc.add_text(title, &a.title);
        doc.add_text(body, &a.body);
        writer.add_document(doc).map_err(|e| e.to_string())?;
    }
    writer.commit().map_err(|e| e.to_string())?;
    let reader = index.reader().map_err(|e| e.to_string())?;
    let searcher = reader.searcher();
    let mut analyzer = TextAnalyzer::builder(bigram).filter(LowerCaser).build();
    let mut ranked = Vec::with_capacity(queries.len());
    for q in queries {
        // Every bigram of the query, in title or body, any of them.
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut stream = analyzer.token_stream(&q.q);
        while let Some(token) = stream.next() {
            for field in [title, body] {
                clauses.push((
                    Occur::Should,
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, &token.text),
                        IndexRecordOption::WithFreqs,
                    )),
                ));
            }
        }
        let query = BooleanQuery::new(clauses);
        let top = searcher
            .search(&query, &TopDocs::with_limit(10).order_by_score())
            .map_err(|e| e.to_string())?;
        let ids = top
            .into_iter()
            .filter_map(|(_, address)| {
                let doc: TantivyDocument = searcher.doc(address).ok()?;
                doc.get_first(id)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .collect();
        ranked.push(ids);
    }
    Ok(score(queries, &ranked))
}
