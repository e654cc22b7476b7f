//! `dasan demo generate`: the model center's synthetic history, streamed
//! from the pure generator (`dasan-demo`) into the store in large batches.
//!
//! This module refers to nothing else in the binary, so that the benchmark
//! (`benches/demo_generate.rs`) can include it as it is.

use std::{fmt, time::Duration, time::Instant};

use anyhow::Context;
use dasan_demo::{DemoConfig, DemoGenerator, demo_agents};
use dasan_store::{AnyStore, Store};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Records per insert transaction: large enough that per-commit costs
/// (fsync, WAL checkpoint) vanish, small enough to keep memory modest.
pub const BATCH_SIZE: usize = 500_000;

/// What a generation run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    pub seed: u64,
    pub agents_created: usize,
    pub agents_existing: usize,
    pub consultations: u64,
    pub elapsed: Duration,
}

impl GenerateSummary {
    pub fn records_per_second(&self) -> f64 {
        self.consultations as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for GenerateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "generated {} consultations (seed {}) in {:.1} s ({:.0}/s); agents: {} created, {} already present",
            self.consultations,
            self.seed,
            self.elapsed.as_secs_f64(),
            self.records_per_second(),
            self.agents_created,
            self.agents_existing,
        )
    }
}

/// Inserts the demo floor (skipping agents that exist) and then the history,
/// in time order. Refuses a database that already holds consultations: the
/// history's figures only mean something on their own.
pub async fn generate(
    store: &AnyStore,
    config: DemoConfig,
    progress: bool,
) -> anyhow::Result<GenerateSummary> {
    let started = Instant::now();
    let existing = store
        .count_consultations()
        .await
        .context("cannot count the stored consultations")?;
    if existing > 0 {
        anyhow::bail!(
            "the database already holds {existing} consultations; demo generate needs an empty one (use a new --db)"
        );
    }

    let mut agents_created = 0;
    let mut agents_existing = 0;
    for (id, agent) in demo_agents(config.seed) {
        if store.get_agent(id).await?.is_some() {
            agents_existing += 1;
        } else {
            store
                .create_agent(&agent, id)
                .await
                .context("cannot store a demo agent")?;
            agents_created += 1;
        }
    }

    let mut generator = DemoGenerator::new(config);
    let total = generator.total();
    let bar = if progress {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:40}] {human_pos}/{human_len} consultations ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );

    // Generation runs on its own thread, one batch ahead of the inserts, so
    // that the CPU work overlaps the database's.
    let (sender, mut receiver) = tokio::sync::mpsc::channel(2);
    let producer = tokio::task::spawn_blocking(move || {
        while let Some(batch) = generator.next_batch(BATCH_SIZE) {
            if sender.blocking_send(batch).is_err() {
                // The consumer stopped on an error; it reports it.
                return;
            }
        }
    });
    // Secondary indexes are built once, sorted, after the load: inserting
    // into them in random key order is what makes a large load slow.
    store
        .begin_bulk_load()
        .await
        .context("cannot prepare the bulk load")?;
    let mut inserted = 0u64;
    while let Some(batch) = receiver.recv().await {
        let size = batch.len() as u64;
        let surveys = demo_surveys(&batch);
        if let Err(error) = store.record_consultations_bulk(batch).await {
            bar.abandon();
            return Err(error).with_context(|| {
                format!(
                    "cannot store consultations {}..{}",
                    inserted + 1,
                    inserted + size
                )
            });
        }
        store
            .record_surveys_bulk(surveys)
            .await
            .context("cannot store the demo's survey answers")?;
        inserted += size;
        bar.set_position(inserted);
    }
    producer.await.context("the demo generator failed")?;
    let loaded = started.elapsed();
    bar.set_message("building indexes");
    store
        .finish_bulk_load()
        .await
        .context("cannot build the indexes after the load")?;
    tracing::info!(
        load_seconds = loaded.as_secs_f64(),
        index_seconds = (started.elapsed() - loaded).as_secs_f64(),
        "demo history stored"
    );
    bar.finish_and_clear();
    if inserted != total {
        anyhow::bail!("generated {inserted} consultations, expected {total}");
    }
    Ok(GenerateSummary {
        seed: config.seed,
        agents_created,
        agents_existing,
        consultations: inserted,
        elapsed: started.elapsed(),
    })
}

/// The satisfaction surveys of a batch of demo consultations (see
/// `dasan_demo::survey`): sent five minutes after the contact, answered ten
/// minutes later when answered at all.
fn demo_surveys(batch: &[dasan_core::NewConsultation]) -> Vec<dasan_store::SurveyRecord> {
    use dasan_demo::survey::{SurveyOutcome, survey_outcome};
    batch
        .iter()
        .filter_map(|record| {
            let outcome = survey_outcome(record)?;
            let sent =
                dasan_core::Timestamp::from_millis(record.ended_at.millis() + 300_000).ok()?;
            let (status, score, answered_at) = match outcome {
                SurveyOutcome::Unanswered => ("sent", None, None),
                SurveyOutcome::Answered(score) => (
                    "answered",
                    Some(i64::from(score)),
                    dasan_core::Timestamp::from_millis(sent.millis() + 600_000).ok(),
                ),
            };
            Some(dasan_store::SurveyRecord {
                consultation_id: record.id.0,
                citizen_phone: record.citizen_phone.clone(),
                channel: record.channel,
                category: record.category.to_string(),
                agent_id: record.agent_id.map(|a| a.0),
                consultation_at: record.started_at,
                due_at: sent,
                status: status.into(),
                message_id: None,
                sent_at: Some(sent),
                score,
                answered_at,
                skip_reason: None,
            })
        })
        .collect()
}
