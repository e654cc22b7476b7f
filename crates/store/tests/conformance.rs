//! One backend-agnostic conformance suite, run against every real engine:
//! SQLite in a temporary folder, and PostgreSQL when `DASAN_TEST_PG_URL`
//! names a server (each test then gets a database of its own). With
//! `DASAN_REQUIRE_PG=1` (set by the test script) a missing server fails the
//! run instead of skipping.

use std::collections::BTreeMap;

use dasan_core::{
    AgentId, Channel, ConsultationId, NewAgent, NewConsultation, Outcome, PhoneNumber, Role, Skill,
    Taxonomy, Timestamp,
};
use dasan_store::{
    AnyStore, AuditEntry, ConsultationFilter, DatabaseUrl, SessionRecord, StatsSource, Store,
    StoreError, TokenRecord, UserRecord,
};

struct TestDb {
    store: AnyStore,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = DatabaseUrl::Sqlite(dir.path().join("nested/dasan.db"));
    TestDb {
        store: AnyStore::open(&url).await.expect("open sqlite"),
        _dir: Some(dir),
    }
}

async fn postgres() -> Option<TestDb> {
    let Ok(admin_url) = std::env::var("DASAN_TEST_PG_URL") else {
        if std::env::var("DASAN_REQUIRE_PG").is_ok() {
            panic!("DASAN_REQUIRE_PG is set but DASAN_TEST_PG_URL is not");
        }
        eprintln!("SKIPPED: PostgreSQL conformance (set DASAN_TEST_PG_URL to run it)");
        return None;
    };
    let url = dasan_store::postgres::create_test_database(&admin_url)
        .await
        .expect("create test database");
    Some(TestDb {
        store: AnyStore::open(&DatabaseUrl::Postgres(url))
            .await
            .expect("open postgres"),
        _dir: None,
    })
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::sqlite().await;
                    super::$name(&db.store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = super::postgres().await {
                        super::$name(&db.store).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    a_recorded_consultation_reads_back_identically,
    a_duplicate_id_is_a_conflict_and_changes_nothing,
    listing_filters_and_pages_without_gaps_or_repeats,
    a_failed_bulk_insert_stores_nothing,
    an_unknown_agent_or_category_is_refused,
    taxonomy_is_seeded,
    agents_tokens_and_audit_round_trip,
    statistics_aggregates_match_the_records,
    rollups_match_a_full_recomputation_after_random_inserts,
    users_sign_in_state_and_sessions_round_trip,
    reopening_migrates_idempotently,
    concurrent_writes_each_get_their_own_answer,
    a_bulk_load_defers_and_rebuilds_indexes,
    an_interrupted_bulk_load_is_repaired_at_the_next_open,
    counts_per_interval_match_the_records,
    messages_are_idempotent_threaded_and_an_outbox,
    surveys_are_scheduled_once_and_counted_by_month,
    articles_keep_their_versions_and_refuse_stale_edits,
    a_web_survey_is_answered_once_and_counted,
    survey_outcomes_are_counted_per_agent,
    a_reuse_campaign_samples_citizens_and_counts_answers_once,
    care_records_insert_once_and_update_only_from_the_version_read,
    sip_accounts_are_set_replaced_and_read,
    call_records_are_kept_once_newest_first_and_by_interaction,
    video_sessions_are_kept_once_newest_first_and_by_id,
);

fn ts(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).expect("valid time")
}

fn consultation(
    n: u64,
    phone: &str,
    category: &str,
    channel: Channel,
    start: Timestamp,
) -> NewConsultation {
    let mut random = [0u8; 10];
    random[2..].copy_from_slice(&n.to_be_bytes());
    let taxonomy = Taxonomy::seed();
    NewConsultation::from_parts(
        ConsultationId::v7(start, random),
        channel,
        taxonomy.resolve(category).expect("known category"),
        PhoneNumber::parse(phone).expect("valid phone"),
        None,
        start,
        Timestamp::from_millis(start.millis() + 190_000).expect("valid"),
        format!("상담 {n}: 줄바꿈\n탭\t역슬래시\\ 따옴표\"'"),
        Outcome::Answered,
        None,
    )
    .expect("valid consultation")
}

async fn a_recorded_consultation_reads_back_identically(store: &AnyStore) {
    let agent = store
        .create_agent(
            &NewAgent::new("김상담", [Skill::SignLanguage], [Channel::Video]).expect("valid"),
            AgentId(uuid::Uuid::now_v7()),
        )
        .await
        .expect("agent");
    let mut record = consultation(
        1,
        "010-1234-5678",
        "water.bill",
        Channel::Sms,
        ts("2026-11-28T10:00:00.123+09:00"),
    );
    record.agent_id = Some(agent.id);
    record.outcome = Outcome::Transferred;
    record.department = Some(dasan_core::DepartmentCode::parse("waterworks").expect("valid"));
    let stored = store.record_consultation(&record).await.expect("stored");
    assert_eq!(stored.record, record);
    let read = store
        .get_consultation(record.id)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(read.record, record);
    assert_eq!(read.recorded_at, stored.recorded_at);
    let missing = ConsultationId(uuid::Uuid::now_v7());
    assert!(
        store
            .get_consultation(missing)
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(store.count_consultations().await.expect("count"), 1);
}

fn message(
    n: u8,
    direction: dasan_store::Direction,
    gateway_id: Option<&str>,
) -> dasan_store::MessageRecord {
    let at = ts("2026-11-28T10:00:00+09:00");
    dasan_store::MessageRecord {
        id: uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n)),
        gateway: "twilio".into(),
        gateway_message_id: gateway_id.map(str::to_owned),
        direction,
        citizen_phone: PhoneNumber::parse("010-2222-1200").expect("phone"),
        center_number: "+8212".into(),
        body: format!("문자 {n}"),
        media_json: "[]".into(),
        interaction_id: None,
        status: "received".into(),
        kind: "sms".into(),
        cost_won: 0,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        created_at: Timestamp::from_millis(at.millis() + i64::from(n) * 1000).expect("time"),
        updated_at: at,
    }
}

async fn messages_are_idempotent_threaded_and_an_outbox(store: &AnyStore) {
    use dasan_store::{DeliveryUpdate, Direction};
    let thread = uuid::Uuid::now_v7();
    let mut first = message(1, Direction::Inbound, Some("SM1"));
    first.interaction_id = Some(thread);
    assert!(store.insert_message(&first).await.expect("insert"));
    // The gateway retries the same webhook: recognised, nothing changes.
    let mut retry = message(2, Direction::Inbound, Some("SM1"));
    retry.body = "다른 내용".into();
    assert!(!store.insert_message(&retry).await.expect("retry"));
    assert_eq!(
        store.find_message(first.id).await.expect("find"),
        Some(first.clone())
    );
    assert_eq!(
        store
            .find_message_by_gateway_id("twilio", "SM1")
            .await
            .expect("find"),
        Some(first.clone())
    );
    assert!(store.find_message(retry.id).await.expect("find").is_none());

    // An outbound reply waits in the outbox until it is due.
    let mut reply = message(3, Direction::Outbound, None);
    reply.gateway = "outbound".into();
    reply.interaction_id = Some(thread);
    reply.status = "queued".into();
    reply.next_attempt_at = Some(ts("2026-11-28T10:00:05+09:00"));
    reply.cost_won = 20;
    assert!(store.insert_message(&reply).await.expect("insert"));
    let mut other = message(4, Direction::Outbound, None);
    other.gateway = "outbound".into();
    other.status = "queued".into();
    other.next_attempt_at = Some(ts("2026-11-28T11:00:00+09:00"));
    assert!(
        store
            .insert_message(&other)
            .await
            .expect("two outbound without ids coexist")
    );
    assert_eq!(
        store.next_outbound_due().await.expect("next"),
        reply.next_attempt_at
    );
    assert!(
        store
            .due_outbound(ts("2026-11-28T10:00:04+09:00"), 10)
            .await
            .expect("due")
            .is_empty()
    );
    let due = store
        .due_outbound(ts("2026-11-28T10:30:00+09:00"), 10)
        .await
        .expect("due");
    assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), vec![reply.id]);
    store
        .update_delivery(
            reply.id,
            &DeliveryUpdate {
                status: "sent".into(),
                gateway_message_id: Some("GW-9".into()),
                attempts: 1,
                next_attempt_at: None,
                last_error: None,
                at: ts("2026-11-28T10:00:06+09:00"),
            },
        )
        .await
        .expect("sent");
    assert!(
        store
            .due_outbound(ts("2026-11-28T10:30:00+09:00"), 10)
            .await
            .expect("due")
            .is_empty()
    );
    assert!(
        store
            .set_status_by_gateway_id("GW-9", "delivered", ts("2026-11-28T10:00:09+09:00"))
            .await
            .expect("report")
    );
    assert!(
        !store
            .set_status_by_gateway_id("GW-unknown", "delivered", ts("2026-11-28T10:00:09+09:00"))
            .await
            .expect("report")
    );

    store
        .set_message_media(first.id, r#"[{"status":"stored"}]"#)
        .await
        .expect("media");
    assert_eq!(
        store
            .find_message(first.id)
            .await
            .expect("find")
            .expect("message")
            .media_json,
        r#"[{"status":"stored"}]"#
    );
    let thread_messages = store
        .messages_for_interaction(thread)
        .await
        .expect("thread");
    assert_eq!(thread_messages.len(), 2);
    assert_eq!(thread_messages[0].id, first.id, "oldest first");
    assert_eq!(thread_messages[1].status, "delivered");
    assert_eq!(
        thread_messages[1].gateway_message_id.as_deref(),
        Some("GW-9")
    );
    assert_eq!(thread_messages[1].attempts, 1);
    let citizen = PhoneNumber::parse("010-2222-1200").expect("phone");
    assert_eq!(
        store
            .messages_for_citizen(&citizen, 10)
            .await
            .expect("citizen")
            .len(),
        3
    );
    let newest_two = store
        .messages_for_citizen(&citizen, 2)
        .await
        .expect("citizen");
    assert_eq!(
        newest_two.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![reply.id, other.id]
    );

    let totals = store.message_totals(None, None).await.expect("totals");
    let outbound_sms = totals
        .iter()
        .find(|t| t.direction == "outbound" && t.kind == "sms")
        .expect("outbound sms");
    assert_eq!((outbound_sms.messages, outbound_sms.cost_won), (2, 20));
    let inbound: u64 = totals
        .iter()
        .filter(|t| t.direction == "inbound")
        .map(|t| t.messages)
        .sum();
    assert_eq!(inbound, 1);
    assert!(
        store
            .message_totals(Some(ts("2026-11-29T00:00:00+09:00")), None)
            .await
            .expect("totals")
            .is_empty()
    );
    // The thread is open until its consultation is stored.
    let open = store
        .open_text_threads(ts("2026-11-28T09:00:00+09:00"))
        .await
        .expect("open threads");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].interaction_id, thread);
    assert_eq!(open[0].first_body, "문자 1");
    assert!(!open[0].mms);
    assert!(
        store
            .open_text_threads(ts("2026-11-28T11:00:00+09:00"))
            .await
            .expect("open threads")
            .is_empty(),
        "older than the cut-off"
    );
    let mut closing = consultation(
        90,
        "010-2222-1200",
        "water.bill",
        Channel::Sms,
        ts("2026-11-28T10:05:00+09:00"),
    );
    closing.id = ConsultationId(thread);
    store.record_consultation(&closing).await.expect("stored");
    assert!(
        store
            .open_text_threads(ts("2026-11-28T09:00:00+09:00"))
            .await
            .expect("open threads")
            .is_empty(),
        "closed by its consultation"
    );

    assert!(!store.is_opted_out(&citizen).await.expect("opt-out"));
    store
        .set_opt_out(&citizen, true, ts("2026-11-28T10:01:00+09:00"))
        .await
        .expect("opt out");
    store
        .set_opt_out(&citizen, true, ts("2026-11-28T10:02:00+09:00"))
        .await
        .expect("twice is fine");
    assert!(store.is_opted_out(&citizen).await.expect("opt-out"));
    store
        .set_opt_out(&citizen, false, ts("2026-11-28T10:03:00+09:00"))
        .await
        .expect("opt in");
    assert!(!store.is_opted_out(&citizen).await.expect("opt-out"));
}

async fn surveys_are_scheduled_once_and_counted_by_month(store: &AnyStore) {
    use dasan_store::SurveyRecord;
    let survey = |n: u8, at: &str, due: &str| SurveyRecord {
        consultation_id: uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_9000_0000_0000_0000 | u128::from(n),
        ),
        citizen_phone: PhoneNumber::parse(&format!("010-3000-{n:04}")).expect("phone"),
        channel: Channel::Voice,
        category: "water.bill".into(),
        agent_id: None,
        consultation_at: ts(at),
        due_at: ts(due),
        status: "scheduled".into(),
        message_id: None,
        sent_at: None,
        score: None,
        answered_at: None,
        skip_reason: None,
    };
    let october = survey(1, "2009-11-01T00:30:00+09:00", "2009-11-01T00:40:00+09:00");
    let november = survey(2, "2009-11-02T10:00:00+09:00", "2009-11-02T10:05:00+09:00");
    let unsent = survey(3, "2009-11-03T10:00:00+09:00", "2009-11-03T10:05:00+09:00");
    for s in [&october, &november, &unsent] {
        assert!(store.schedule_survey(s).await.expect("schedule"));
    }
    assert!(
        !store.schedule_survey(&october).await.expect("again"),
        "one per consultation"
    );
    let due = store
        .due_surveys(ts("2009-11-02T12:00:00+09:00"), 10)
        .await
        .expect("due");
    assert_eq!(
        due.iter().map(|s| s.consultation_id).collect::<Vec<_>>(),
        vec![october.consultation_id, november.consultation_id]
    );
    assert_eq!(due[0], october, "reads back identically");
    let mut answered = october.clone();
    answered.status = "answered".into();
    answered.sent_at = Some(ts("2009-11-01T00:10:00+09:00"));
    answered.score = Some(5);
    answered.answered_at = Some(ts("2009-11-01T00:12:00+09:00"));
    store.update_survey(&answered).await.expect("answered");
    let mut sent = november.clone();
    sent.status = "sent".into();
    sent.sent_at = Some(ts("2009-11-02T10:05:00+09:00"));
    store.update_survey(&sent).await.expect("sent");
    assert_eq!(
        store
            .last_survey_for(&october.citizen_phone)
            .await
            .expect("last"),
        Some(answered.clone())
    );
    let months = store
        .survey_months(&ConsultationFilter::default(), dasan_core::time::SEOUL)
        .await
        .expect("months");
    // Counted by the consultation's local month: 00:30 on 1 November in
    // Seoul is still 31 October in UTC.
    assert_eq!(months.len(), 1, "{months:?}");
    assert_eq!(
        (
            months[0].month.as_str(),
            months[0].sent,
            months[0].responses,
            months[0].satisfied
        ),
        ("2009-11", 2, 1, 1)
    );
    let in_utc = store
        .survey_months(&ConsultationFilter::default(), chrono_tz::UTC)
        .await
        .expect("months");
    assert_eq!(
        in_utc.iter().map(|m| m.month.as_str()).collect::<Vec<_>>(),
        vec!["2009-10", "2009-11"]
    );
    let filter = ConsultationFilter {
        channel: Some(Channel::Sms),
        ..ConsultationFilter::default()
    };
    assert!(
        store
            .survey_months(&filter, dasan_core::time::SEOUL)
            .await
            .expect("months")
            .is_empty()
    );
    let filter = ConsultationFilter {
        category: Some(Taxonomy::seed().resolve("water").expect("code")),
        ..ConsultationFilter::default()
    };
    let water = store
        .survey_months(&filter, dasan_core::time::SEOUL)
        .await
        .expect("months");
    assert_eq!(water.len(), 1);
    assert_eq!(water[0].sent, 2, "water.bill is under water");
    // Re-bucketed with the rollups: after a rebuild in UTC the grouped path
    // answers in UTC too.
    store
        .rebuild_rollups(chrono_tz::UTC)
        .await
        .expect("rebuild");
    let rebuilt = store
        .survey_months(&ConsultationFilter::default(), chrono_tz::UTC)
        .await
        .expect("months");
    assert_eq!(rebuilt, in_utc, "the grouped path agrees with the row path");
    store
        .rebuild_rollups(dasan_core::time::SEOUL)
        .await
        .expect("rebuild back");
    assert_eq!(
        store
            .survey_months(&ConsultationFilter::default(), dasan_core::time::SEOUL)
            .await
            .expect("months"),
        months
    );
    // The bulk path (the demo's) keeps the same sums, and a repeated
    // survey is not counted twice.
    let mut bulk = survey(4, "2009-11-05T10:00:00+09:00", "2009-11-05T10:05:00+09:00");
    bulk.status = "answered".into();
    bulk.sent_at = Some(bulk.due_at);
    bulk.score = Some(2);
    bulk.answered_at = Some(bulk.due_at);
    store
        .record_surveys_bulk(vec![bulk.clone(), answered.clone()])
        .await
        .expect("bulk");
    let after_bulk = store
        .survey_months(&ConsultationFilter::default(), dasan_core::time::SEOUL)
        .await
        .expect("months");
    assert_eq!(
        (
            after_bulk[0].sent,
            after_bulk[0].responses,
            after_bulk[0].satisfied,
            after_bulk[0].score_sum
        ),
        (3, 2, 1, 7)
    );
    let one_day = ConsultationFilter {
        from: Some(ts("2009-11-05T00:00:00+09:00")),
        to: Some(ts("2009-11-06T00:00:00+09:00")),
        ..ConsultationFilter::default()
    };
    let ranged = store
        .survey_months(&one_day, dasan_core::time::SEOUL)
        .await
        .expect("months");
    assert_eq!(
        (ranged[0].sent, ranged[0].responses),
        (1, 1),
        "a range reads the rows"
    );
    // Later updates still flow into the sums (the trigger is back).
    let mut changed = bulk.clone();
    changed.score = Some(5);
    store.update_survey(&changed).await.expect("update");
    let updated = store
        .survey_months(&ConsultationFilter::default(), dasan_core::time::SEOUL)
        .await
        .expect("months");
    assert_eq!((updated[0].satisfied, updated[0].score_sum), (2, 10));

    // The statistics carry them.
    let (aggregates, _) = store
        .statistics(&ConsultationFilter::default(), dasan_core::time::SEOUL)
        .await
        .expect("statistics");
    let stats =
        dasan_store::compute_statistics(&aggregates, &Taxonomy::seed(), dasan_core::time::SEOUL);
    assert_eq!(stats.satisfaction.responses, 2);
    assert_eq!(stats.satisfaction.satisfied_share, Some(1.0));
    assert_eq!(stats.satisfaction.response_rate, Some(2.0 / 3.0));
    assert_eq!(stats.satisfaction_by_month.len(), 1);
}

async fn counts_per_interval_match_the_records(store: &AnyStore) {
    let day = ts("2026-11-28T00:00:00+09:00");
    let at = |minutes: i64| Timestamp::from_millis(day.millis() + minutes * 60_000).expect("valid");
    // Two in the first half hour (one on its very first millisecond), one at
    // the boundary (belongs to the second), one in the last half hour, one
    // just outside the day on each side.
    let minutes = [0, 29, 30, 23 * 60 + 59, -1, 24 * 60];
    for (n, minute) in minutes.into_iter().enumerate() {
        let record = consultation(
            n as u64 + 1,
            "010-1234-5678",
            "transport",
            Channel::Voice,
            at(minute),
        );
        store.record_consultation(&record).await.expect("stored");
    }
    let half_hour = 30 * 60_000;
    let counts = store
        .consultation_counts(day, at(24 * 60), half_hour)
        .await
        .expect("counts");
    assert_eq!(counts.len(), 48);
    assert_eq!((counts[0], counts[1], counts[47]), (2, 1, 1));
    assert_eq!(counts.iter().sum::<u64>(), 4, "{counts:?}");
    // A partial last interval still has its slot.
    let counts = store
        .consultation_counts(day, at(45), half_hour)
        .await
        .expect("counts");
    assert_eq!(counts, vec![2, 1]);
    // Nonsense ranges answer nothing instead of failing or allocating.
    assert!(
        store
            .consultation_counts(at(60), day, half_hour)
            .await
            .expect("reversed")
            .is_empty()
    );
    assert!(
        store
            .consultation_counts(day, at(60), 0)
            .await
            .expect("zero")
            .is_empty()
    );
    assert!(
        store
            .consultation_counts(day, at(10_000_000), 1)
            .await
            .expect("huge")
            .is_empty()
    );
}

async fn a_duplicate_id_is_a_conflict_and_changes_nothing(store: &AnyStore) {
    let record = consultation(
        1,
        "010-1234-5678",
        "transport",
        Channel::Voice,
        ts("2026-11-28T10:00:00+09:00"),
    );
    store.record_consultation(&record).await.expect("first");
    let mut again = record.clone();
    again.summary = "changed".into();
    let err = store
        .record_consultation(&again)
        .await
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let read = store
        .get_consultation(record.id)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(read.record.summary, record.summary);
}

async fn listing_filters_and_pages_without_gaps_or_repeats(store: &AnyStore) {
    let base = ts("2026-11-01T00:00:00+09:00").millis();
    let categories = ["transport.taxi", "transport", "water.bill", "welfare"];
    let mut records = Vec::new();
    for n in 0..53u64 {
        // Several records share a start time, so the cursor must break ties by id.
        let start = Timestamp::from_millis(base + (n / 3) as i64 * 3_600_000).expect("valid");
        let phone = if n % 5 == 0 {
            "010-5555-0000"
        } else {
            "02-120-0000"
        };
        let channel = if n % 2 == 0 {
            Channel::Voice
        } else {
            Channel::Sms
        };
        records.push(consultation(
            n,
            phone,
            categories[n as usize % 4],
            channel,
            start,
        ));
    }
    store
        .record_consultations_bulk(records.clone())
        .await
        .expect("bulk");

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_consultations(&ConsultationFilter::default(), cursor, 10)
            .await
            .expect("page");
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|c| c.record.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<_> = records.iter().map(|r| (r.started_at, r.id)).collect();
    expected.sort();
    expected.reverse();
    assert_eq!(seen, expected.iter().map(|(_, id)| *id).collect::<Vec<_>>());

    let count = |filter: ConsultationFilter| async move {
        store
            .list_consultations(&filter, None, 1000)
            .await
            .expect("list")
            .items
            .len()
    };
    let transport = Taxonomy::seed().resolve("transport").expect("known");
    assert_eq!(
        count(ConsultationFilter {
            category: Some(transport),
            ..Default::default()
        })
        .await,
        records
            .iter()
            .filter(|r| r.category.top_level() == "transport")
            .count()
    );
    assert_eq!(
        count(ConsultationFilter {
            channel: Some(Channel::Sms),
            ..Default::default()
        })
        .await,
        records.iter().filter(|r| r.channel == Channel::Sms).count()
    );
    let phone = PhoneNumber::parse("01055550000").expect("valid");
    assert_eq!(
        count(ConsultationFilter {
            citizen_phone: Some(phone.clone()),
            ..Default::default()
        })
        .await,
        records.iter().filter(|r| r.citizen_phone == phone).count()
    );
    let from = Timestamp::from_millis(base + 3 * 3_600_000).expect("valid");
    let to = Timestamp::from_millis(base + 6 * 3_600_000).expect("valid");
    assert_eq!(
        count(ConsultationFilter {
            from: Some(from),
            to: Some(to),
            ..Default::default()
        })
        .await,
        records
            .iter()
            .filter(|r| r.started_at >= from && r.started_at < to)
            .count()
    );
}

async fn a_failed_bulk_insert_stores_nothing(store: &AnyStore) {
    let first = consultation(
        1,
        "010-1234-5678",
        "transport",
        Channel::Voice,
        ts("2026-11-28T10:00:00+09:00"),
    );
    let second = consultation(
        2,
        "010-1234-5678",
        "transport",
        Channel::Voice,
        ts("2026-11-28T11:00:00+09:00"),
    );
    let err = store
        .record_consultations_bulk(vec![first.clone(), second, first])
        .await
        .expect_err("duplicate inside the batch");
    assert!(
        matches!(err, StoreError::Conflict(_) | StoreError::Database(_)),
        "{err:?}"
    );
    assert_eq!(store.count_consultations().await.expect("count"), 0);

    // The same inside a large batch (written many rows per statement), with
    // the same id at another start time too.
    let base = ts("2026-11-28T12:00:00+09:00").millis();
    let mut batch: Vec<_> = (0..300u64)
        .map(|n| {
            let start = Timestamp::from_millis(base + n as i64 * 1000).expect("valid");
            consultation(n + 10, "010-1234-5678", "water", Channel::Sms, start)
        })
        .collect();
    let mut twin = batch[5].clone();
    twin.started_at = Timestamp::from_millis(base - 1).expect("valid");
    batch.insert(150, twin);
    let err = store
        .record_consultations_bulk(batch.clone())
        .await
        .expect_err("duplicate id inside a large batch");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.count_consultations().await.expect("count"), 0);
    batch.remove(150);
    store
        .record_consultations_bulk(batch)
        .await
        .expect("valid batch");
    assert_eq!(store.count_consultations().await.expect("count"), 300);
    let (stats, _) = store
        .statistics(&ConsultationFilter::default(), dasan_core::time::SEOUL)
        .await
        .expect("stats");
    assert_eq!(stats.days.iter().map(|d| d.consultations).sum::<u64>(), 300);
}

async fn an_unknown_agent_or_category_is_refused(store: &AnyStore) {
    let mut record = consultation(
        1,
        "010-1234-5678",
        "transport",
        Channel::Voice,
        ts("2026-11-28T10:00:00+09:00"),
    );
    record.agent_id = Some(AgentId(uuid::Uuid::now_v7()));
    assert!(store.record_consultation(&record).await.is_err());
    assert_eq!(store.count_consultations().await.expect("count"), 0);

    // The bulk path checks references its own way; it must refuse the same.
    let good = consultation(
        2,
        "010-1234-5678",
        "transport",
        Channel::Voice,
        ts("2026-11-28T10:01:00+09:00"),
    );
    let err = store
        .record_consultations_bulk(vec![good.clone(), record.clone()])
        .await
        .expect_err("unknown agent in a batch");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let mut unknown_category = consultation(
        3,
        "010-1234-5678",
        "transport",
        Channel::Voice,
        ts("2026-11-28T10:02:00+09:00"),
    );
    unknown_category.category =
        dasan_core::CategoryCode::parse("nosuch.code").expect("well-formed code");
    let err = store
        .record_consultations_bulk(vec![good.clone(), unknown_category])
        .await
        .expect_err("unknown category in a batch");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.count_consultations().await.expect("count"), 0);

    // After a batch, the single-record path still enforces references.
    store
        .record_consultations_bulk(vec![good])
        .await
        .expect("valid batch");
    assert!(store.record_consultation(&record).await.is_err());
    assert_eq!(store.count_consultations().await.expect("count"), 1);
}

async fn taxonomy_is_seeded(store: &AnyStore) {
    let taxonomy = store.taxonomy().await.expect("taxonomy");
    assert_eq!(taxonomy, Taxonomy::seed());
}

async fn agents_tokens_and_audit_round_trip(store: &AnyStore) {
    let new = NewAgent::new(
        "이수어",
        [Skill::SignLanguage, Skill::Language("en".into())],
        [Channel::Video, Channel::Voice],
    )
    .expect("valid");
    let id = AgentId(uuid::Uuid::now_v7());
    let agent = store.create_agent(&new, id).await.expect("create");
    assert_eq!(store.get_agent(id).await.expect("get"), Some(agent.clone()));
    assert_eq!(store.list_agents().await.expect("list"), vec![agent]);

    let token = TokenRecord {
        id: uuid::Uuid::now_v7(),
        role: Role::Supervisor,
        label: "wallboard".into(),
        created_at: ts("2026-11-28T10:00:00Z"),
    };
    store.create_token(&token, b"hash-1").await.expect("token");
    assert_eq!(
        store.find_token(b"hash-1").await.expect("find"),
        Some(token)
    );
    assert_eq!(store.find_token(b"hash-2").await.expect("find"), None);

    for n in 0..3 {
        store
            .append_audit(&AuditEntry {
                at: ts("2026-11-28T10:00:00Z"),
                actor: "token:1".into(),
                action: "consultation.read".into(),
                subject: format!("c{n}"),
            })
            .await
            .expect("audit");
    }
    let entries = store.audit_entries(2).await.expect("entries");
    assert_eq!(
        entries
            .iter()
            .map(|e| e.subject.as_str())
            .collect::<Vec<_>>(),
        ["c2", "c1"]
    );
}

async fn statistics_aggregates_match_the_records(store: &AnyStore) {
    let base = ts("2009-10-01T00:00:00+09:00").millis();
    let mut records = Vec::new();
    // One heavy citizen with 120 consultations, others with few.
    for n in 0..300u64 {
        let phone = if n < 120 {
            "010-9999-0001".to_owned()
        } else {
            format!("010-2000-{:04}", n % 37)
        };
        let category = ["transport.transit", "water.payment", "health"][n as usize % 3];
        let channel = [Channel::Voice, Channel::Sms, Channel::Video][n as usize % 3 / 2];
        let start = Timestamp::from_millis(base + n as i64 * 1_234_567).expect("valid");
        records.push(consultation(n, &phone, category, channel, start));
    }
    store
        .record_consultations_bulk(records.clone())
        .await
        .expect("bulk");
    let zone = dasan_core::time::SEOUL;
    let (buckets, source) = store
        .statistics(&ConsultationFilter::default(), zone)
        .await
        .expect("statistics");
    assert_eq!(source, StatsSource::Rollups);
    assert_eq!(
        buckets,
        store
            .statistics_exact(&ConsultationFilter::default(), zone)
            .await
            .expect("exact")
    );
    assert_eq!(
        buckets.days.iter().map(|d| d.consultations).sum::<u64>(),
        300
    );
    assert_eq!(buckets.heavy_citizen_counts, vec![120]);
    assert_eq!(buckets.max_per_citizen, 120);
    let mut by_category = BTreeMap::<String, (u64, i64)>::new();
    for r in &records {
        let entry = by_category.entry(r.category.to_string()).or_default();
        entry.0 += 1;
        entry.1 += r.ended_at.millis() - r.started_at.millis();
    }
    assert_eq!(
        buckets
            .by_category
            .iter()
            .map(|(code, t)| (code.clone(), (t.consultations, t.handle_ms)))
            .collect::<Vec<_>>(),
        by_category.into_iter().collect::<Vec<_>>()
    );

    let filter = ConsultationFilter {
        channel: Some(Channel::Sms),
        ..Default::default()
    };
    let (filtered, _) = store.statistics(&filter, zone).await.expect("filtered");
    assert_eq!(
        filtered.days.iter().map(|d| d.consultations).sum::<u64>(),
        records.iter().filter(|r| r.channel == Channel::Sms).count() as u64
    );
    // A citizen filter is answered exactly (rollups are not per citizen).
    let by_citizen = ConsultationFilter {
        citizen_phone: Some(PhoneNumber::parse("010-9999-0001").expect("phone")),
        ..Default::default()
    };
    let (one, source) = store.statistics(&by_citizen, zone).await.expect("citizen");
    assert_eq!(source, StatsSource::Exact);
    assert_eq!(one.days.iter().map(|d| d.consultations).sum::<u64>(), 120);
}

/// The rollups, kept on every write path, equal a full recomputation by
/// plain GROUP BY for random records, random filters and random ranges; and
/// so do they after a rebuild, in the same zone and in another.
async fn rollups_match_a_full_recomputation_after_random_inserts(store: &AnyStore) {
    let mut rng = dasan_core::rng::Rng::seed(0x5eed);
    let codes = [
        "transport",
        "transport.transit",
        "transport.taxi",
        "water.bill",
        "water.moving",
        "welfare",
        "health",
        "other",
    ];
    let channels = [Channel::Voice, Channel::Sms, Channel::Web, Channel::Video];
    let base = ts("2026-03-05T00:00:00Z").millis();
    let span = 9 * 86_400_000i64;
    let mut n = 0u64;
    let mut next = |rng: &mut dasan_core::rng::Rng| {
        n += 1;
        // One citizen is a heavy user; the others share a small pool.
        let phone = if rng.below(3) == 0 {
            "010-7777-0001".to_owned()
        } else {
            format!("010-3000-{:04}", rng.below(40))
        };
        let start = Timestamp::from_millis(base + rng.below(span as u64) as i64).expect("valid");
        let mut record = consultation(
            n,
            &phone,
            codes[rng.below(codes.len() as u64) as usize],
            channels[rng.below(channels.len() as u64) as usize],
            start,
        );
        record.ended_at =
            Timestamp::from_millis(start.millis() + rng.below(1_800_000) as i64).expect("valid");
        record
    };

    // A bulk load into the empty table defers the citizen counts...
    assert!(store.begin_bulk_load().await.expect("begin"));
    for _ in 0..3 {
        let batch: Vec<_> = (0..120).map(|_| next(&mut rng)).collect();
        store.record_consultations_bulk(batch).await.expect("bulk");
    }
    // ...and single writes during the load as well.
    for _ in 0..20 {
        store
            .record_consultation(&next(&mut rng))
            .await
            .expect("single");
    }
    store.finish_bulk_load().await.expect("finish");
    // Concurrent single writes (group commit on SQLite), a refused
    // duplicate and a refused batch leave the rollups as they were.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let record = next(&mut rng);
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.record_consultation(&record).await.map(|_| ())
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("single write");
    }
    let again = next(&mut rng);
    store.record_consultation(&again).await.expect("first");
    assert!(store.record_consultation(&again).await.is_err());
    let good = next(&mut rng);
    assert!(
        store
            .record_consultations_bulk(vec![good, again.clone()])
            .await
            .is_err()
    );
    for _ in 0..2 {
        let batch: Vec<_> = (0..90).map(|_| next(&mut rng)).collect();
        store.record_consultations_bulk(batch).await.expect("bulk");
    }

    let zone = dasan_core::time::SEOUL;
    let compare = |filter: ConsultationFilter, zone: chrono_tz::Tz| async move {
        let (rolled, source) = store.statistics(&filter, zone).await.expect("rollups");
        assert_eq!(source, StatsSource::Rollups);
        let exact = store.statistics_exact(&filter, zone).await.expect("exact");
        assert_eq!(rolled, exact, "{filter:?}");
        rolled
    };
    let all = compare(ConsultationFilter::default(), zone).await;
    let total = store.count_consultations().await.expect("count");
    assert_eq!(total, 3 * 120 + 20 + 40 + 1 + 2 * 90);
    assert_eq!(all.days.iter().map(|d| d.consultations).sum::<u64>(), total);
    assert!(all.max_per_citizen >= 100, "a heavy user exists");
    assert_eq!(all.heavy_citizen_counts, vec![all.max_per_citizen]);

    let random_filter = |rng: &mut dasan_core::rng::Rng| {
        let bound = |rng: &mut dasan_core::rng::Rng| {
            // Whole days, whole hours and odd milliseconds, open or not.
            let t = base - 86_400_000 + rng.below((span + 2 * 86_400_000) as u64) as i64;
            match rng.below(4) {
                0 => None,
                1 => Some(t - t.rem_euclid(3_600_000)),
                2 => Some(t - (t + 9 * 3_600_000).rem_euclid(86_400_000)),
                _ => Some(t),
            }
        };
        let (a, b) = (bound(rng), bound(rng));
        let taxonomy = Taxonomy::seed();
        ConsultationFilter {
            from: a.map(|t| Timestamp::from_millis(t).expect("valid")),
            to: b.map(|t| Timestamp::from_millis(t).expect("valid")),
            category: match rng.below(3) {
                0 => Some(
                    taxonomy
                        .resolve(codes[rng.below(codes.len() as u64) as usize])
                        .expect("code"),
                ),
                _ => None,
            },
            channel: match rng.below(3) {
                0 => Some(channels[rng.below(channels.len() as u64) as usize]),
                _ => None,
            },
            citizen_phone: None,
        }
    };
    for _ in 0..40 {
        compare(random_filter(&mut rng), zone).await;
    }

    // A rebuild in the same zone changes nothing; one into another zone
    // re-buckets days and night slots there.
    assert_eq!(store.rebuild_rollups(zone).await.expect("rebuild"), total);
    assert_eq!(compare(ConsultationFilter::default(), zone).await, all);
    let new_york: chrono_tz::Tz = "America/New_York".parse().expect("zone");
    store.rebuild_rollups(new_york).await.expect("rebuild");
    assert_eq!(store.rollup_zone().await.expect("zone"), new_york);
    let (_, source) = store
        .statistics(&ConsultationFilter::default(), zone)
        .await
        .expect("seoul after the move");
    assert_eq!(source, StatsSource::Exact);
    // Written after the move, bucketed in the new zone (DST began on
    // 2026-03-08 in New York, inside the span).
    store
        .record_consultation(&next(&mut rng))
        .await
        .expect("single");
    for _ in 0..20 {
        compare(random_filter(&mut rng), new_york).await;
    }
}

async fn reopening_migrates_idempotently(store: &AnyStore) {
    let record = consultation(
        1,
        "010-1234-5678",
        "transport",
        Channel::Voice,
        ts("2026-11-28T10:00:00+09:00"),
    );
    store.record_consultation(&record).await.expect("stored");
    let url = match store {
        AnyStore::Sqlite(s) => DatabaseUrl::Sqlite(s.path().to_path_buf()),
        AnyStore::Postgres(s) => DatabaseUrl::Postgres(s.url().to_owned()),
    };
    let reopened = AnyStore::open(&url).await.expect("reopen");
    assert!(
        reopened
            .get_consultation(record.id)
            .await
            .expect("read")
            .is_some()
    );
    assert_eq!(
        reopened.taxonomy().await.expect("taxonomy"),
        Taxonomy::seed()
    );
}

async fn concurrent_writes_each_get_their_own_answer(store: &AnyStore) {
    // Many writers at once (the SQLite engine commits them in groups): each
    // is answered for its own record, and a duplicate among them is refused
    // without taking the others down.
    let base = ts("2026-11-28T10:00:00+09:00").millis();
    let records: Vec<_> = (0..64u64)
        .map(|n| {
            let start = Timestamp::from_millis(base + n as i64 * 1000).expect("valid");
            consultation(n, "010-1234-5678", "transport", Channel::Voice, start)
        })
        .collect();
    let mut writes = Vec::new();
    // Call records share the consultations' commits.
    let calls: Vec<_> = (0..16u128)
        .map(|n| call(1000 + n, None, base + n as i64))
        .collect();
    let mut call_writes = Vec::new();
    for (n, record) in records
        .iter()
        .cloned()
        .chain([records[7].clone()])
        .enumerate()
    {
        let writer = store.clone();
        writes.push(tokio::spawn(async move {
            writer.record_consultation(&record).await
        }));
        if let Some(call) = calls.get(n / 4).filter(|_| n % 4 == 0) {
            let store = store.clone();
            let call = call.clone();
            call_writes.push(tokio::spawn(async move { store.record_call(&call).await }));
        }
    }
    let mut ok = 0;
    let mut conflicts = 0;
    for write in writes {
        match write.await.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!((ok, conflicts), (64, 1));
    for write in call_writes {
        write.await.expect("task").expect("call stored");
    }
    // The same call again is harmless (the first is kept).
    let mut repeat = calls[3].clone();
    repeat.outcome = "failed".into();
    store
        .record_call(&repeat)
        .await
        .expect("a repeat is harmless");
    let mut stored = store.calls(None, 100).await.expect("calls");
    stored.sort_by_key(|c| c.id);
    assert_eq!(stored, calls, "every call kept, once, as first written");
    assert_eq!(store.count_consultations().await.expect("count"), 64);
    for record in &records {
        let read = store
            .get_consultation(record.id)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(&read.record, record);
    }
}

async fn a_bulk_load_defers_and_rebuilds_indexes(store: &AnyStore) {
    assert!(
        store.begin_bulk_load().await.expect("begin"),
        "empty table: indexes dropped"
    );
    let base = ts("2009-01-01T00:00:00+09:00").millis();
    let records: Vec<_> = (0..200u64)
        .map(|n| {
            // One heavy user (120), the others spread over 17 numbers.
            let phone = if n % 5 < 3 {
                "010-3000-9999".to_owned()
            } else {
                format!("010-3000-{:04}", n % 17)
            };
            let start = Timestamp::from_millis(base + n as i64 * 60_000).expect("valid");
            consultation(n, &phone, "water", Channel::Voice, start)
        })
        .collect();
    for half in records.chunks(100) {
        store
            .record_consultations_bulk(half.to_vec())
            .await
            .expect("bulk");
    }
    store.finish_bulk_load().await.expect("finish");
    // The per-citizen counts deferred by the load are complete at its end.
    let zone = dasan_core::time::SEOUL;
    let rolled = store
        .statistics_from_rollups(&ConsultationFilter::default())
        .await
        .expect("rollups");
    assert_eq!(rolled.heavy_citizen_counts, vec![120]);
    assert_eq!(
        rolled,
        store
            .statistics_exact(&ConsultationFilter::default(), zone)
            .await
            .expect("exact")
    );
    // A second load into a table with data leaves the indexes alone.
    assert!(!store.begin_bulk_load().await.expect("begin again"));
    store.finish_bulk_load().await.expect("finish again");
    let phone = PhoneNumber::parse("010-3000-0003").expect("valid");
    let page = store
        .list_consultations(
            &ConsultationFilter {
                citizen_phone: Some(phone.clone()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .expect("list");
    assert_eq!(
        page.items.len(),
        records.iter().filter(|r| r.citizen_phone == phone).count()
    );
}

async fn index_exists(store: &AnyStore, name: &str) -> bool {
    match store {
        AnyStore::Sqlite(s) => {
            let conn = rusqlite::Connection::open(s.path()).expect("open");
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1)",
                [name],
                |row| row.get(0),
            )
            .expect("query")
        }
        AnyStore::Postgres(s) => sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = $1)",
        )
        .bind(name)
        .fetch_one(s.pool())
        .await
        .expect("query"),
    }
}

async fn an_interrupted_bulk_load_is_repaired_at_the_next_open(store: &AnyStore) {
    assert!(index_exists(store, "consultations_by_citizen").await);
    assert!(store.begin_bulk_load().await.expect("begin"));
    assert!(!index_exists(store, "consultations_by_citizen").await);
    let record = consultation(
        1,
        "010-1234-5678",
        "transport",
        Channel::Voice,
        ts("2026-11-28T10:00:00+09:00"),
    );
    store
        .record_consultations_bulk(vec![record])
        .await
        .expect("bulk");
    // The process "dies" here: no finish_bulk_load. The next open repairs.
    let url = match store {
        AnyStore::Sqlite(s) => DatabaseUrl::Sqlite(s.path().to_path_buf()),
        AnyStore::Postgres(s) => DatabaseUrl::Postgres(s.url().to_owned()),
    };
    let reopened = AnyStore::open(&url).await.expect("reopen");
    assert!(index_exists(&reopened, "consultations_by_citizen").await);
}

async fn users_sign_in_state_and_sessions_round_trip(store: &AnyStore) {
    let user = UserRecord {
        id: uuid::Uuid::now_v7(),
        username: "kim.supervisor".into(),
        display_name: "김감독".into(),
        role: Role::Supervisor,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        failed_attempts: 0,
        locked_until: None,
        created_at: ts("2026-11-28T09:00:00+09:00"),
        language: None,
    };
    store.create_user(&user).await.expect("create");
    assert_eq!(
        store.find_user("kim.supervisor").await.expect("find"),
        Some(user.clone())
    );
    assert_eq!(store.find_user("KIM.SUPERVISOR").await.expect("find"), None);
    let twin = UserRecord {
        id: uuid::Uuid::now_v7(),
        ..user.clone()
    };
    assert!(matches!(
        store.create_user(&twin).await,
        Err(StoreError::Conflict(_))
    ));

    let locked = ts("2026-11-28T09:15:00+09:00");
    store
        .set_sign_in_state(user.id, 5, Some(locked))
        .await
        .expect("lock");
    let found = store
        .find_user("kim.supervisor")
        .await
        .expect("find")
        .expect("user");
    assert_eq!(
        (found.failed_attempts, found.locked_until),
        (5, Some(locked))
    );
    store
        .set_user_language(user.id, Some("en"))
        .await
        .expect("language");
    let found = store
        .find_user("kim.supervisor")
        .await
        .expect("find")
        .expect("user");
    assert_eq!(found.language.as_deref(), Some("en"));

    let session = SessionRecord {
        id_hash: vec![7; 32],
        user_id: user.id,
        csrf_token: "csrf-1".into(),
        expires_at: ts("2026-11-28T17:00:00+09:00"),
    };
    store.create_session(&session).await.expect("session");
    let before_expiry = ts("2026-11-28T16:59:59+09:00");
    let (found_session, found_user) = store
        .find_session(&session.id_hash, before_expiry)
        .await
        .expect("find")
        .expect("live session");
    assert_eq!(found_session, session);
    assert_eq!(found_user.id, user.id);
    assert_eq!(found_user.language.as_deref(), Some("en"));
    assert_eq!(
        store
            .find_session(&session.id_hash, session.expires_at)
            .await
            .expect("find"),
        None,
        "expired at its expiry instant"
    );
    assert_eq!(
        store
            .find_session(&[8; 32], before_expiry)
            .await
            .expect("find"),
        None
    );
    store
        .delete_session(&session.id_hash)
        .await
        .expect("delete");
    assert_eq!(
        store
            .find_session(&session.id_hash, before_expiry)
            .await
            .expect("find"),
        None
    );
}

async fn articles_keep_their_versions_and_refuse_stale_edits(store: &AnyStore) {
    use dasan_store::kb::{ArticleInput, ArticleStatus, SaveOutcome};
    let mut article = ArticleInput {
        id: "kb-water-bill".into(),
        title: "수도요금 조회".into(),
        body: "## 조회\n서울시 **아리수** 누리집에서 \"조회\"합니다.\n탭\t역슬래시\\".into(),
        category: "water.bill".into(),
        tags: vec!["수도세".into(), "요금".into()],
        status: ArticleStatus::Draft,
    };
    let t1 = ts("2026-11-29T09:00:00+09:00");
    let (first, outcome) = store
        .save_article(&article, "kim", t1, None)
        .await
        .expect("create");
    assert_eq!((first.version, outcome), (1, SaveOutcome::Created));
    assert_eq!(
        store.get_article("kb-water-bill").await.expect("get"),
        Some(first.clone())
    );

    // The same content again (a re-import) stores nothing new.
    let t2 = ts("2026-11-29T09:05:00+09:00");
    let (same, outcome) = store
        .save_article(&article, "lee", t2, None)
        .await
        .expect("same");
    assert_eq!((same.version, outcome), (1, SaveOutcome::Unchanged));
    assert_eq!(same.updated_by, "kim");

    // A change adds a version with its author and time; created_at stays.
    article.status = ArticleStatus::Published;
    article.tags.push("물값".into());
    let (second, outcome) = store
        .save_article(&article, "lee", t2, Some(1))
        .await
        .expect("edit");
    assert_eq!((second.version, outcome), (2, SaveOutcome::Updated));
    assert_eq!((second.created_at, second.updated_at), (t1, t2));

    // An edit based on version 1 is now stale; nothing changes.
    article.title = "오래된 편집".into();
    let stale = store.save_article(&article, "park", t2, Some(1)).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let stored = store
        .get_article("kb-water-bill")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.content.title, "수도요금 조회");
    assert_eq!(stored.version, 2);
    let missing = store
        .save_article(
            &ArticleInput {
                id: "kb-new".into(),
                ..article.clone()
            },
            "park",
            t2,
            Some(3),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::Conflict(_))),
        "{missing:?}"
    );
    assert_eq!(store.get_article("kb-new").await.expect("get"), None);

    let versions = store
        .article_versions("kb-water-bill")
        .await
        .expect("versions");
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.author.as_str()))
            .collect::<Vec<_>>(),
        vec![(2, "lee"), (1, "kim")]
    );
    assert_eq!(versions[1].content.status, ArticleStatus::Draft);
    assert_eq!(versions[0].content.tags, vec!["수도세", "요금", "물값"]);

    // Listing is by id; deleting keeps the history and a re-created id continues it.
    let other = ArticleInput {
        id: "kb-a".into(),
        ..versions[0].content.clone()
    };
    store
        .save_article(&other, "kim", t2, None)
        .await
        .expect("other");
    let ids: Vec<String> = store
        .list_articles()
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.content.id)
        .collect();
    assert_eq!(ids, vec!["kb-a", "kb-water-bill"]);
    assert!(store.delete_article("kb-water-bill").await.expect("delete"));
    assert!(
        !store
            .delete_article("kb-water-bill")
            .await
            .expect("delete again")
    );
    assert_eq!(store.get_article("kb-water-bill").await.expect("get"), None);
    assert_eq!(
        store
            .article_versions("kb-water-bill")
            .await
            .expect("versions")
            .len(),
        2
    );
    let (again, outcome) = store
        .save_article(&versions[1].content, "kim", t2, None)
        .await
        .expect("re-create");
    assert_eq!((again.version, outcome), (3, SaveOutcome::Created));

    // Settings round-trip and overwrite.
    assert_eq!(store.kb_setting("synonyms").await.expect("setting"), None);
    store
        .set_kb_setting("synonyms", "[[\"a\",\"b\"]]")
        .await
        .expect("set");
    store
        .set_kb_setting("synonyms", "[[\"수도세\",\"수도요금\"]]")
        .await
        .expect("set");
    assert_eq!(
        store
            .kb_setting("synonyms")
            .await
            .expect("setting")
            .as_deref(),
        Some("[[\"수도세\",\"수도요금\"]]")
    );
}

async fn a_web_survey_is_answered_once_and_counted(store: &AnyStore) {
    use dasan_store::SurveyRecord;
    let id = uuid::Uuid::from_u128(0x0190_0000_0000_7000_9000_0000_0000_0077);
    let opened = SurveyRecord {
        consultation_id: id,
        citizen_phone: PhoneNumber::parse("010-3000-0077").expect("phone"),
        channel: Channel::Web,
        category: "water.bill".into(),
        agent_id: None,
        consultation_at: ts("2026-11-29T10:00:00+09:00"),
        due_at: ts("2026-11-29T10:05:00+09:00"),
        status: "sent".into(),
        message_id: None,
        sent_at: Some(ts("2026-11-29T10:05:00+09:00")),
        score: None,
        answered_at: None,
        skip_reason: None,
    };
    assert_eq!(store.survey_for_consultation(id).await.expect("read"), None);
    assert!(store.schedule_survey(&opened).await.expect("opened"));
    assert_eq!(
        store.survey_for_consultation(id).await.expect("read"),
        Some(opened.clone())
    );
    let at = ts("2026-11-29T10:07:00+09:00");
    assert!(store.answer_survey_once(id, 2, at).await.expect("answer"));
    assert!(
        !store
            .answer_survey_once(id, 5, at)
            .await
            .expect("second answer"),
        "once only"
    );
    let unknown = uuid::Uuid::from_u128(1);
    assert!(
        !store
            .answer_survey_once(unknown, 5, at)
            .await
            .expect("none")
    );
    let answered = store
        .survey_for_consultation(id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (
            answered.status.as_str(),
            answered.score,
            answered.answered_at
        ),
        ("answered", Some(2), Some(at))
    );
    // The rollup counts it once, with the first score.
    let filter = ConsultationFilter::default();
    let months = store
        .survey_months(&filter, dasan_core::time::SEOUL)
        .await
        .expect("months");
    let month = months
        .iter()
        .find(|m| m.month == "2026-11")
        .expect("november");
    assert_eq!(
        (month.responses, month.satisfied, month.score_sum),
        (1, 0, 2)
    );
}

async fn survey_outcomes_are_counted_per_agent(store: &AnyStore) {
    use dasan_store::{SurveyAgent, SurveyRecord};
    let kim = uuid::Uuid::from_u128(0xA1);
    let lee = uuid::Uuid::from_u128(0xB2);
    let survey =
        |n: u8, agent: Option<uuid::Uuid>, channel: Channel, status: &str, score: Option<i64>| {
            SurveyRecord {
                consultation_id: uuid::Uuid::from_u128(
                    0x0190_0000_0000_7000_9000_0000_0000_1000 | u128::from(n),
                ),
                citizen_phone: PhoneNumber::parse(&format!("010-3100-{n:04}")).expect("phone"),
                channel,
                category: "water.bill".into(),
                agent_id: agent,
                consultation_at: ts("2026-11-20T10:00:00+09:00"),
                due_at: ts("2026-11-20T10:05:00+09:00"),
                status: status.into(),
                message_id: None,
                sent_at: Some(ts("2026-11-20T10:05:00+09:00")),
                score,
                answered_at: score.map(|_| ts("2026-11-20T10:09:00+09:00")),
                skip_reason: None,
            }
        };
    for s in [
        survey(1, Some(kim), Channel::Voice, "answered", Some(5)),
        survey(2, Some(kim), Channel::Voice, "answered", Some(2)),
        survey(3, Some(kim), Channel::Sms, "sent", None),
        survey(4, Some(lee), Channel::Voice, "answered", Some(4)),
        survey(5, Some(lee), Channel::Voice, "skipped", None),
        survey(6, None, Channel::Web, "answered", Some(3)),
    ] {
        assert!(store.schedule_survey(&s).await.expect("stored"));
    }
    let mut all = store
        .survey_agents(&ConsultationFilter::default())
        .await
        .expect("agents");
    all.sort_by_key(|a| a.agent_id);
    assert_eq!(
        all,
        vec![
            SurveyAgent {
                agent_id: None,
                sent: 1,
                responses: 1,
                satisfied: 0,
                score_sum: 3
            },
            SurveyAgent {
                agent_id: Some(kim),
                sent: 3,
                responses: 2,
                satisfied: 1,
                score_sum: 7
            },
            SurveyAgent {
                agent_id: Some(lee),
                sent: 1,
                responses: 1,
                satisfied: 1,
                score_sum: 4
            },
        ]
    );
    let voice = ConsultationFilter {
        channel: Some(Channel::Voice),
        ..ConsultationFilter::default()
    };
    let mut by_voice = store.survey_agents(&voice).await.expect("agents");
    by_voice.sort_by_key(|a| a.agent_id);
    assert_eq!(
        by_voice
            .iter()
            .map(|a| (a.agent_id, a.sent))
            .collect::<Vec<_>>(),
        vec![(Some(kim), 2), (Some(lee), 1)]
    );
    let later = ConsultationFilter {
        from: Some(ts("2026-11-21T00:00:00+09:00")),
        ..ConsultationFilter::default()
    };
    assert!(
        store
            .survey_agents(&later)
            .await
            .expect("agents")
            .is_empty()
    );
}

async fn a_reuse_campaign_samples_citizens_and_counts_answers_once(store: &AnyStore) {
    use dasan_store::reuse::{ReuseCampaign, ReuseCounts};
    let start = ts("2026-11-28T10:00:00+09:00");
    for (n, phone) in [
        "010-6000-0001",
        "010-6000-0002",
        "010-6000-0001",
        "010-6000-0003",
    ]
    .iter()
    .enumerate()
    {
        let at = Timestamp::from_millis(start.millis() + n as i64 * 60_000).expect("t");
        store
            .record_consultation(&consultation(
                900 + n as u64,
                phone,
                "water",
                Channel::Voice,
                at,
            ))
            .await
            .expect("stored");
    }
    let outside = consultation(
        999,
        "010-6000-0009",
        "water",
        Channel::Voice,
        ts("2026-11-30T10:00:00+09:00"),
    );
    store.record_consultation(&outside).await.expect("stored");
    let (day, night) = (
        ts("2026-11-28T00:00:00+09:00"),
        ts("2026-11-29T00:00:00+09:00"),
    );
    let (population, mut citizens) = store
        .sample_citizens(day, night, 10, 7)
        .await
        .expect("citizens");
    assert_eq!(population, 3);
    citizens.sort_by_key(|p| p.e164().to_owned());
    let expected: Vec<PhoneNumber> = ["010-6000-0001", "010-6000-0002", "010-6000-0003"]
        .iter()
        .map(|p| PhoneNumber::parse(p).expect("phone"))
        .collect();
    assert_eq!(
        citizens, expected,
        "each citizen once, only from the period"
    );
    // Two of three, the same two for the same seed, each once.
    let (_, two) = store
        .sample_citizens(day, night, 2, 7)
        .await
        .expect("sample");
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    assert_eq!(
        store
            .sample_citizens(day, night, 2, 7)
            .await
            .expect("again")
            .1,
        two
    );
    let empty = store
        .sample_citizens(night, ts("2026-11-29T01:00:00+09:00"), 5, 7)
        .await
        .expect("none");
    assert_eq!(empty, (0, vec![]));

    let campaign = ReuseCampaign {
        id: uuid::Uuid::from_u128(0xCA),
        created_at: ts("2026-11-29T09:00:00+09:00"),
        created_by: "코디네이터".into(),
        period_from: ts("2026-11-28T00:00:00+09:00"),
        period_to: ts("2026-11-29T00:00:00+09:00"),
        population: 3,
        question: "다음에도 이용하시겠습니까?".into(),
    };
    let members = vec![
        (expected[0].clone(), false),
        (expected[1].clone(), false),
        (expected[2].clone(), true),
    ];
    store
        .create_reuse_campaign(&campaign, &members)
        .await
        .expect("created");
    let sent_at = ts("2026-11-29T09:01:00+09:00");
    for (phone, _) in &members[..2] {
        store
            .mark_reuse_sent(campaign.id, phone, sent_at)
            .await
            .expect("sent");
    }
    let since = ts("2026-11-22T09:00:00+09:00");
    let at = ts("2026-11-29T09:30:00+09:00");
    assert!(
        store
            .answer_reuse(&expected[0], true, since, at)
            .await
            .expect("answer")
    );
    assert!(
        !store
            .answer_reuse(&expected[0], false, since, at)
            .await
            .expect("again"),
        "answered once"
    );
    assert!(
        !store
            .answer_reuse(&expected[2], true, since, at)
            .await
            .expect("skipped"),
        "never asked"
    );
    let late = ts("2026-11-29T09:02:00+09:00");
    assert!(
        !store
            .answer_reuse(&expected[1], true, late, at)
            .await
            .expect("old question"),
        "outside the window"
    );
    let (stored, counts) = store
        .reuse_campaign(campaign.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored, campaign);
    assert_eq!(
        counts,
        ReuseCounts {
            sampled: 3,
            skipped: 1,
            sent: 2,
            responses: 1,
            yes: 1
        }
    );
    assert_eq!(
        store
            .reuse_campaign(uuid::Uuid::from_u128(1))
            .await
            .expect("read"),
        None
    );
}

async fn care_records_insert_once_and_update_only_from_the_version_read(store: &AnyStore) {
    use dasan_store::care::{CareCommit, CareKind, CareQuery, CareRecord, CareWrite};
    let call = |id: &str, senior: &str, at: i64, status: &str| CareRecord {
        kind: CareKind::Call,
        id: id.to_owned(),
        owner: senior.to_owned(),
        status: status.to_owned(),
        at,
        version: 1,
        body: format!(r#"{{"id":"{id}","note":"줄바꿈\n따옴표\""}}"#),
    };
    let plan = CareWrite {
        updates: vec![],
        inserts: vec![
            call("c1", "s1", 3_000, "open"),
            call("c2", "s1", 1_000, "open"),
            call("c3", "s2", 2_000, "done"),
        ],
    };
    assert_eq!(
        store.care_commit(&plan).await.expect("plan"),
        CareCommit::Done { inserted: 3 }
    );
    // The same plan again inserts nothing and changes nothing.
    let mut changed = plan.clone();
    changed.inserts[0].status = "done".into();
    assert_eq!(
        store.care_commit(&changed).await.expect("again"),
        CareCommit::Done { inserted: 0 }
    );
    let stored = store
        .care_get(CareKind::Call, "c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored, plan.inserts[0]);
    assert_eq!(
        store.care_get(CareKind::Senior, "c1").await.expect("get"),
        None
    );

    // Lists: by time, by owner, by status, in a window, newest first.
    let ids = |records: Vec<CareRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = store
        .care_list(&CareQuery::all(CareKind::Call))
        .await
        .expect("list");
    assert_eq!(ids(all), ["c2", "c3", "c1"]);
    let mut query = CareQuery::all(CareKind::Call);
    query.owner = Some("s1".into());
    query.descending = true;
    assert_eq!(
        ids(store.care_list(&query).await.expect("owner")),
        ["c1", "c2"]
    );
    let mut query = CareQuery::all(CareKind::Call);
    query.statuses = vec!["open".into()];
    query.from = Some(1_000);
    query.to = Some(3_000);
    assert_eq!(ids(store.care_list(&query).await.expect("window")), ["c2"]);
    query.limit = 0;
    assert_eq!(store.care_list(&query).await.expect("limit").len(), 1);

    // An update with the version read succeeds once; a second writer that
    // read the same version changes nothing, not even its inserts.
    let mut done = stored.clone();
    done.status = "done".into();
    let retry = call("c1.r", "s1", 9_000, "open");
    let outcome = CareWrite {
        updates: vec![(done.clone(), 1)],
        inserts: vec![retry.clone()],
    };
    assert_eq!(
        store.care_commit(&outcome).await.expect("first"),
        CareCommit::Done { inserted: 1 }
    );
    let mut other = stored.clone();
    other.status = "cancelled".into();
    let late = CareWrite {
        updates: vec![(other, 1)],
        inserts: vec![call("c9", "s9", 1, "open")],
    };
    assert_eq!(
        store.care_commit(&late).await.expect("second"),
        CareCommit::Stale
    );
    assert_eq!(
        store.care_get(CareKind::Call, "c9").await.expect("get"),
        None
    );
    let now = store
        .care_get(CareKind::Call, "c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((now.status.as_str(), now.version), ("done", 2));
}

async fn sip_accounts_are_set_replaced_and_read(store: &AnyStore) {
    use dasan_store::sip::SipAccount;
    let mut account = SipAccount {
        username: "lee".into(),
        user_id: uuid::Uuid::from_u128(7),
        realm: "dasan".into(),
        ha1: "0123456789abcdef0123456789abcdef".into(),
    };
    assert_eq!(store.sip_account("lee").await.expect("read"), None);
    store.set_sip_account(&account).await.expect("set");
    assert_eq!(
        store.sip_account("lee").await.expect("read"),
        Some(account.clone())
    );
    account.ha1 = "fedcba9876543210fedcba9876543210".into();
    store.set_sip_account(&account).await.expect("replace");
    assert_eq!(store.sip_account("lee").await.expect("read"), Some(account));
    assert_eq!(
        store.sip_account("LEE").await.expect("read"),
        None,
        "case-sensitive"
    );
}

/// A finished call's record (answered when it has an interaction).
fn call(n: u128, interaction: Option<u128>, started_at: i64) -> dasan_store::sip::CallRecord {
    dasan_store::sip::CallRecord {
        id: uuid::Uuid::from_u128(n),
        interaction_id: interaction.map(uuid::Uuid::from_u128),
        caller: Some("+821022221200".into()),
        dialled: "120".into(),
        queue: Some("water".into()),
        started_at,
        queued_at: Some(started_at + 4_000),
        answered_at: interaction.map(|_| started_at + 10_000),
        ended_at: started_at + 70_000,
        outcome: if interaction.is_some() {
            "answered"
        } else {
            "abandoned"
        }
        .into(),
        ended_by: "caller".into(),
        agent_id: interaction.map(|_| uuid::Uuid::from_u128(99)),
        agents_rung: 1,
        packets_from_caller: 3_000,
        packets_from_agent: 2_990,
        lost_from_caller: 0,
        lost_from_agent: 10,
        survey_score: None,
    }
}

async fn call_records_are_kept_once_newest_first_and_by_interaction(store: &AnyStore) {
    let first = call(1, Some(100), 1_000_000);
    let second = call(2, None, 2_000_000);
    store.record_call(&first).await.expect("stored");
    store.record_call(&second).await.expect("stored");
    let mut changed = first.clone();
    changed.outcome = "failed".into();
    store
        .record_call(&changed)
        .await
        .expect("a repeat is harmless");
    let all = store.calls(None, 10).await.expect("read");
    assert_eq!(
        all,
        vec![second.clone(), first.clone()],
        "newest first, kept once"
    );
    assert_eq!(
        store.calls(None, 1).await.expect("read"),
        vec![second.clone()]
    );
    let of = store
        .calls(Some(uuid::Uuid::from_u128(100)), 10)
        .await
        .expect("read");
    assert_eq!(of, vec![first.clone()]);
    assert_eq!(first.wait_seconds(), Some(6.0));
    assert_eq!(first.talk_seconds(), Some(60.0));
    assert_eq!(second.wait_seconds(), Some(66.0));
    assert_eq!(second.talk_seconds(), None);
}

async fn video_sessions_are_kept_once_newest_first_and_by_id(store: &AnyStore) {
    use dasan_store::video::{VideoQuality, VideoRelay, VideoSessionRecord};
    let session = |n: u128, started_at: i64, measured: bool| VideoSessionRecord {
        id: uuid::Uuid::from_u128(n),
        started_at,
        accepted_at: Some(started_at + 30_000),
        connected_at: Some(started_at + 31_500),
        ended_at: started_at + 600_000,
        outcome: "completed".into(),
        ended_by: "citizen".into(),
        agent_id: Some(uuid::Uuid::from_u128(7)),
        chat_from_citizen: 3,
        chat_from_agent: 2,
        citizen_quality: measured.then_some(VideoQuality {
            rtt_ms: Some(0.8),
            frames_decoded: 17_000,
            packets_lost: 4,
            packets_received: 40_000,
            connect_ms: Some(31_900),
        }),
        agent_quality: None,
        relays: vec![VideoRelay {
            callee: "+8221200000".into(),
            placed_at: started_at + 60_000,
            answered_at: Some(started_at + 65_000),
            ended_at: Some(started_at + 200_000),
            outcome: "answered".into(),
            packets_to_callee: 6_700,
            packets_to_agent: 6_650,
        }],
    };
    let first = session(1, 1_000_000, true);
    let second = session(2, 2_000_000, false);
    store.record_video_session(&first).await.expect("stored");
    store.record_video_session(&second).await.expect("stored");
    let mut changed = first.clone();
    changed.outcome = "failed".into();
    store
        .record_video_session(&changed)
        .await
        .expect("a repeat is harmless");
    assert_eq!(
        store.video_sessions(None, 10).await.expect("read"),
        vec![second.clone(), first.clone()],
        "newest first, kept once"
    );
    assert_eq!(
        store.video_sessions(None, 1).await.expect("read"),
        vec![second.clone()]
    );
    assert_eq!(
        store
            .video_sessions(Some(uuid::Uuid::from_u128(1)), 10)
            .await
            .expect("read"),
        vec![first.clone()]
    );
    // The citizen's own measure wins; without it, the server's.
    assert_eq!(first.setup_ms(), Some(31_900));
    assert_eq!(second.setup_ms(), Some(31_500));
}
