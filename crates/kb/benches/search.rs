//! Search speed over 100,000 articles: indexing rate, and query latency p50/p99
//! for Dasan's search beside SQLite FTS5 (`unicode61`) on the same articles and
//! queries in the same run.
//!
//! The articles are made from the evaluation set's 178 (real Korean text): by
//! default each takes one article's title with a word of another's, a district,
//! and five sentences drawn from the whole set ("mixed"); with
//! `DASAN_BENCH_KB_CORPUS=replicated` every base article is copied across the 25
//! districts and numbered editions (hundreds of near-identical copies: the worst
//! case for ranking). `DASAN_BENCH_KB_ARTICLES` changes the count.
//! Run: `cargo bench -p dasan-kb --bench search`.

use std::time::{Duration, Instant};

use dasan_kb::eval::{self, EvalArticle, EvalQuery};
use dasan_kb::{Article, DISTRICTS, KbIndex, Synonyms};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn show(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!(
        "{name:<12} queries {:>5}  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        times.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    p99
}

fn main() {
    let count: usize = std::env::var("DASAN_BENCH_KB_ARTICLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/eval");
    let base: Vec<EvalArticle> = eval::read_lines(
        &std::fs::read_to_string(format!("{dir}/articles.jsonl")).expect("articles"),
    )
    .expect("parse");
    let queries: Vec<EvalQuery> = eval::read_lines(
        &std::fs::read_to_string(format!("{dir}/queries.jsonl")).expect("queries"),
    )
    .expect("parse");
    let replicated = std::env::var("DASAN_BENCH_KB_CORPUS").is_ok_and(|v| v == "replicated");
    let sentences: Vec<&str> = base.iter().flat_map(|a| a.body.lines()).collect();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let articles: Vec<Article> = (0..count)
        .map(|i| {
            let district = DISTRICTS[(i / base.len()) % DISTRICTS.len()].0;
            let edition = i / (base.len() * DISTRICTS.len());
            if replicated {
                // Worst case: every base article in hundreds of near-identical copies.
                let a = &base[i % base.len()];
                let mut lines: Vec<&str> = a.body.lines().collect();
                let turn = edition % lines.len().max(1);
                lines.rotate_left(turn);
                return Article {
                    id: format!("a{i}"),
                    title: format!("{district} {} ({}판)", a.title, edition + 1),
                    body: format!("{district} 안내입니다.\n{}", lines.join("\n")),
                    category: a.category.clone(),
                    keywords: a.tags.clone(),
                };
            }
            // Mixed: a base article's title with another's words, a district, and
            // five sentences drawn from the whole set.
            let a = &base[next(base.len())];
            let b = &base[next(base.len())];
            let extra = b.title.split_whitespace().next().unwrap_or_default();
            let body: Vec<&str> = (0..5).map(|_| sentences[next(sentences.len())]).collect();
            Article {
                id: format!("a{i}"),
                title: format!("{district} {} {extra} {}", a.title, i % 997),
                body: body.join("\n"),
                category: a.category.clone(),
                keywords: a.tags.iter().chain(&b.tags).cloned().collect(),
            }
        })
        .collect();
    let bytes: usize = articles.iter().map(|a| a.title.len() + a.body.len()).sum();
    println!(
        "{count} articles ({}), {:.1} MB of text",
        if replicated { "replicated" } else { "mixed" },
        bytes as f64 / 1e6
    );

    let index = KbIndex::new(Synonyms::builtin()).expect("index");
    let started = Instant::now();
    index.rebuild(articles.iter().cloned()).expect("indexed");
    let took = started.elapsed();
    println!(
        "indexing     {:.1} s, {:.0} articles/s",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
    println!("segments     {}", index.stats().segments);
    let single = Instant::now();
    index.upsert(&articles[0]).expect("upsert");
    println!(
        "one edit     {:.1} ms until searchable",
        single.elapsed().as_secs_f64() * 1e3
    );

    // Each query as asked, and again naming a district: 2 × the query set, twice
    // over (the first pass warms caches and is not counted).
    let asked: Vec<String> = queries
        .iter()
        .flat_map(|q| {
            [
                q.q.clone(),
                format!("{} {}", DISTRICTS[q.q.len() % 25].0, q.q),
            ]
        })
        .collect();
    for q in &asked {
        index.search(q, 10).expect("search");
    }
    let mut ours = Vec::with_capacity(asked.len() * 2);
    for _ in 0..2 {
        for q in &asked {
            let t = Instant::now();
            let hits = index.search(q, 10).expect("search");
            ours.push(t.elapsed());
            std::hint::black_box(hits);
        }
    }

    let db = rusqlite::Connection::open_in_memory().expect("sqlite");
    db.execute_batch(
        "CREATE VIRTUAL TABLE kb USING fts5(id UNINDEXED, title, body, tokenize = 'unicode61')",
    )
    .expect("fts5");
    let started = Instant::now();
    {
        let tx = db.unchecked_transaction().expect("tx");
        let mut insert = tx
            .prepare("INSERT INTO kb (id, title, body) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for a in &articles {
            insert.execute((&a.id, &a.title, &a.body)).expect("insert");
        }
        drop(insert);
        tx.commit().expect("commit");
    }
    println!("fts5 index   {:.1} s", started.elapsed().as_secs_f64());
    let mut statement = db
        .prepare("SELECT id FROM kb WHERE kb MATCH ?1 ORDER BY bm25(kb) LIMIT 10")
        .expect("prepare");
    let mut fts = Vec::with_capacity(asked.len() * 2);
    for pass in 0..3 {
        for q in &asked {
            let words: Vec<String> = q
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| format!("\"{w}\""))
                .collect();
            let t = Instant::now();
            let ids: Vec<String> = statement
                .query_map([words.join(" OR ")], |row| row.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            if pass > 0 {
                fts.push(t.elapsed());
            }
            std::hint::black_box(ids);
        }
    }
    let p99 = show("dasan", ours);
    let fts_p99 = show("sqlite fts5", fts);
    println!(
        "dasan p99 / fts5 p99 = {:.2}; goal p99 < 5 ms: {}",
        p99.as_secs_f64() / fts_p99.as_secs_f64(),
        if p99 < Duration::from_millis(5) {
            "met"
        } else {
            "NOT met"
        }
    );
}
