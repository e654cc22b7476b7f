//! Search quality on the repository's evaluation set (`crates/kb/eval/`): Dasan's
//! search must put the right article first for at least 95% of the queries and in the
//! top five for all of them. The two baselines are measured in the same run and printed
//! beside it (`cargo test -p dasan-kb --test eval -- --nocapture`).

use dasan_kb::Synonyms;
use dasan_kb::eval::{self, EvalArticle, EvalQuery, Figures};

fn load() -> (Vec<EvalArticle>, Vec<EvalQuery>) {
    // Read at run time: a binary built in another checkout sharing the
    // target folder would carry that checkout's path.
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let dir = format!("{root}/eval");
    let articles = std::fs::read_to_string(format!("{dir}/articles.jsonl")).expect("articles");
    let queries = std::fs::read_to_string(format!("{dir}/queries.jsonl")).expect("queries");
    (
        eval::read_lines(&articles).expect("articles parse"),
        eval::read_lines(&queries).expect("queries parse"),
    )
}

fn show(name: &str, f: &Figures) {
    println!(
        "{name:<16} recall@1 {:.3}  recall@5 {:.3}  MRR {:.3}  ({} queries)",
        f.recall_at_1, f.recall_at_5, f.mrr, f.queries
    );
}

#[test]
fn dasan_search_beats_the_baselines_and_meets_the_goal() {
    let (articles, queries) = load();
    assert!(queries.len() >= 60, "the set has {} queries", queries.len());
    let ours = eval::dasan(&articles, &queries, Synonyms::builtin()).expect("dasan");
    let fts5 = eval::fts5(&articles, &queries).expect("fts5");
    let bigrams = eval::plain_bigrams(&articles, &queries).expect("bigrams");
    println!("{} articles", articles.len());
    show("dasan", &ours);
    show("plain bigrams", &bigrams);
    show("sqlite fts5", &fts5);
    for (kind, r) in &ours.recall_at_1_by_kind {
        println!("  dasan recall@1 {kind:<12} {r:.3}");
    }
    for (q, expected, got) in &ours.misses {
        println!("  miss: {q:?} expected {expected}, first {got}");
    }
    assert!(ours.recall_at_1 >= 0.95, "recall@1 {}", ours.recall_at_1);
    assert!(ours.recall_at_5 >= 1.0, "recall@5 {}", ours.recall_at_5);
    assert!(ours.recall_at_1 > bigrams.recall_at_1 && ours.recall_at_1 > fts5.recall_at_1);
}
