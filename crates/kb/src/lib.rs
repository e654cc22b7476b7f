//! Dasan's knowledge-base search.
//!
//! Articles live in the store; this crate keeps a tantivy index of the published ones
//! in memory and answers queries over it. The analysis ([`analysis`]) is Korean-aware:
//! particles and endings stripped from queries, space-insensitive syllable bigrams, whole
//! words, and a synonym list ([`Synonyms`]) applied at query time. Titles weigh more
//! than tags, tags more than bodies.
//!
//! The index follows edits at once ([`KbIndex::upsert`], [`KbIndex::remove`], each a
//! commit) and is rebuilt from the store at start ([`KbIndex::rebuild`]).

pub mod analysis;
pub mod eval;
mod index;
mod snippet;
mod synonyms;

pub use index::{Article, DISTRICTS, Hit, KbIndex, SearchError, Stats};
pub use synonyms::{Expansion, SynonymError, Synonyms};

/// The evaluation set's articles (JSON lines in the import format): the demo
/// center's knowledge base.
pub const DEMO_ARTICLES: &str = include_str!("../eval/articles.jsonl");
