//! `dasan kb`: import, export and search the knowledge base, and measure its search.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use dasan_kb::eval;
use dasan_store::Store;
use dasan_store::kb::SaveOutcome;

use crate::settings::{CommonArgs, DEFAULT_DB, Settings};

#[derive(clap::Subcommand, Debug)]
pub enum KbCommand {
    /// Imports articles from a JSON-lines file (`-` for stdin): one object per line
    /// with `id`, `title`, `body`, `category`, optional `tags` and `status`. An id
    /// already stored is updated; an unknown category is filed under `other`, the
    /// given value kept as a tag. Any invalid line stops the import before anything
    /// is stored.
    Import(ImportArgs),
    /// Writes every article as JSON lines to stdout.
    Export(ExportArgs),
    /// Searches the published articles.
    Search(SearchArgs),
    /// Measures search quality on a set of articles and queries with known answers,
    /// beside SQLite FTS5 and plain bigram BM25 run on the same set.
    Eval(EvalArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    pub file: PathBuf,
    /// Who the new versions are recorded as written by.
    #[arg(long, default_value = "import")]
    pub author: String,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    pub query: String,
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Favour articles in this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Prints `{"hits":[...]}` as the API answers.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Articles, JSON lines (`id`, `title`, `body`, `category`, `tags`).
    #[arg(long)]
    pub articles: PathBuf,
    /// Queries, JSON lines (`q`, `expected`, `kind`).
    #[arg(long)]
    pub queries: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: KbCommand) -> anyhow::Result<()> {
    match command {
        KbCommand::Import(args) => import(args).await,
        KbCommand::Export(args) => export(args).await,
        KbCommand::Search(args) => search(args).await,
        KbCommand::Eval(args) => run_eval(args),
    }
}

fn read_input(path: &PathBuf) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        for line in std::io::stdin().lock().lines() {
            text.push_str(&line.context("cannot read stdin")?);
            text.push('\n');
        }
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    if args.author.trim().is_empty() || args.author.chars().count() > 100 {
        anyhow::bail!("--author must be 1 to 100 characters");
    }
    let text = read_input(&args.file)?;
    let settings = Settings::resolve(&args.common, None, DEFAULT_DB)?;
    let store = super::open_store(&settings).await?;
    let taxonomy = store.taxonomy().await.context("cannot read the taxonomy")?;
    let mut articles = Vec::new();
    let mut errors = Vec::new();
    let mut recategorised = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match dasan_web::kb::parse_import_line(line, &taxonomy) {
            Ok((article, moved)) => {
                recategorised += usize::from(moved);
                articles.push(article);
            }
            Err(e) => errors.push(format!("line {}: {e}", n + 1)),
        }
    }
    if !errors.is_empty() {
        for e in errors.iter().take(20) {
            eprintln!("{e}");
        }
        anyhow::bail!("{} invalid lines; nothing was imported", errors.len());
    }
    let now = dasan_core::Timestamp::from_datetime(chrono::Utc::now())?;
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    for article in &articles {
        let (_, outcome) = store
            .save_article(article, &args.author, now, None)
            .await
            .with_context(|| format!("cannot store article {:?}", article.id))?;
        match outcome {
            SaveOutcome::Created => created += 1,
            SaveOutcome::Updated => updated += 1,
            SaveOutcome::Unchanged => unchanged += 1,
        }
    }
    println!(
        "imported {} articles: {created} new, {updated} updated, {unchanged} unchanged",
        articles.len()
    );
    println!(
        "{recategorised} lines had a category that is not a known code and were filed under \"other\" (the given category kept as a tag)"
    );
    if created + updated > 0 {
        eprintln!(
            "a running server searches these after POST /api/v1/kb/rebuild or its next start"
        );
    }
    Ok(())
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args.common, None, DEFAULT_DB)?;
    let store = super::open_store(&settings).await?;
    let articles = store
        .list_articles()
        .await
        .context("cannot read the articles")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for article in &articles {
        serde_json::to_writer(&mut out, &dasan_web::kb::export_line(article))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args.common, None, DEFAULT_DB)?;
    let store = super::open_store(&settings).await?;
    let taxonomy = store.taxonomy().await.context("cannot read the taxonomy")?;
    let category = match args.category.as_deref() {
        Some(c) => Some(
            taxonomy
                .resolve(c)
                .map_err(|_| anyhow::anyhow!("unknown category {c:?}"))?
                .to_string(),
        ),
        None => None,
    };
    if args.limit == 0 {
        anyhow::bail!("--limit must be at least 1 (at most 50 hits are given)");
    }
    let index = dasan_web::kb::load_index(&store, &taxonomy)
        .await
        .context("cannot build the search index")?;
    let hits = index.search_in(&args.query, args.limit, category.as_deref())?;
    if args.json {
        println!("{}", serde_json::json!({ "hits": hits }));
        return Ok(());
    }
    if hits.is_empty() {
        println!("no articles found");
    }
    for (rank, hit) in hits.iter().enumerate() {
        println!(
            "{:>2}. {}  [{}]  {:.2}",
            rank + 1,
            hit.title,
            hit.id,
            hit.score
        );
        let plain = hit.snippet.replace("<mark>", "[").replace("</mark>", "]");
        println!("    {}", html_unescape(&plain));
    }
    Ok(())
}

fn html_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn run_eval(args: EvalArgs) -> anyhow::Result<()> {
    let articles: Vec<eval::EvalArticle> = eval::read_lines(&read_input(&args.articles)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.articles.display()))?;
    let queries: Vec<eval::EvalQuery> = eval::read_lines(&read_input(&args.queries)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.queries.display()))?;
    if queries.is_empty() {
        anyhow::bail!("{} has no queries", args.queries.display());
    }
    let fail = |e: String| anyhow::anyhow!(e);
    let ours = eval::dasan(&articles, &queries, dasan_kb::Synonyms::builtin()).map_err(fail)?;
    let bigrams = eval::plain_bigrams(&articles, &queries).map_err(fail)?;
    let fts5 = eval::fts5(&articles, &queries).map_err(fail)?;
    if args.json {
        let body = serde_json::json!({
            "articles": articles.len(),
            "dasan": ours,
            "plain_bigrams": bigrams,
            "sqlite_fts5": fts5,
        });
        println!("{body}");
        return Ok(());
    }
    println!("{} articles, {} queries", articles.len(), queries.len());
    println!(
        "{:<14} {:>9} {:>9} {:>7}",
        "", "recall@1", "recall@5", "MRR"
    );
    for (name, f) in [
        ("dasan", &ours),
        ("plain bigrams", &bigrams),
        ("sqlite fts5", &fts5),
    ] {
        println!(
            "{name:<14} {:>9.3} {:>9.3} {:>7.3}",
            f.recall_at_1, f.recall_at_5, f.mrr
        );
    }
    for (kind, r) in &ours.recall_at_1_by_kind {
        println!("  dasan recall@1, {kind}: {r:.3}");
    }
    for (q, expected, got) in &ours.misses {
        println!("  not first: {q:?} expected {expected}, first {got}");
    }
    Ok(())
}
