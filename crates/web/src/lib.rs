//! Dasan's HTTP edge. [`app`] builds the router from an [`AppState`];
//! [`serve`] runs it on a bound listener until a shutdown future resolves, so
//! tests can bind port 0 and most of them go through `oneshot` instead.
//!
//! Only this crate knows HTTP. Handlers turn requests into domain values,
//! call the store, and answer JSON; every error has the shape in [`error`].

pub mod auth;
pub mod care;
pub mod charts;
mod consultations;
pub mod error;
mod exports;
pub mod feed;
pub mod floor;
pub mod i18n;
pub mod kb;
mod live;
pub mod media;
mod observability;
pub mod openapi;
pub mod outbox;
mod pages;
mod reference;
mod reports;
pub mod reuse;
pub mod session;
pub mod sms;
mod statistics;
pub mod survey;
pub mod video;
pub mod voice;
pub mod web_survey;

use std::{future::Future, sync::Arc};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{StatusCode, header},
    middleware,
    response::IntoResponse,
    routing::get,
};
use chrono_tz::Tz;
use dasan_core::Taxonomy;
use dasan_store::AnyStore;

pub use error::ApiError;
pub use exports::REPORTS;

/// Largest request body the API reads (consultation summaries are at most
/// 4,000 characters, so this leaves ample room).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The current time as the domain's timestamp.
pub(crate) fn now() -> dasan_core::Timestamp {
    dasan_core::Timestamp::from_datetime(chrono::Utc::now()).unwrap_or_else(|_| {
        dasan_core::Timestamp::from_millis(0).expect("the epoch is a valid timestamp")
    })
}

/// What follows a stored consultation, whichever path stored it: the
/// wallboard's chart is redrawn and its survey scheduled. The consultation
/// is already durable, so nothing here may turn its answer into an error.
pub(crate) async fn consultation_stored(state: &AppState, consultation: &dasan_core::Consultation) {
    state.floor.consultation_recorded();
    if let Err(error) = survey::consultation_recorded(state, consultation).await {
        tracing::error!(error = %error.message, "the survey of a stored consultation was not scheduled");
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: AnyStore,
    /// The category taxonomy, loaded from the store at start-up.
    pub taxonomy: Arc<Taxonomy>,
    /// The center's time zone for day and night buckets.
    pub zone: Tz,
    /// The live routing floor (queues, agents, offers).
    pub floor: floor::Floor,
    /// The SMS edge's settings (gateways, secrets, prices).
    pub sms: Arc<sms::SmsConfig>,
    /// Wakes the outbox when a message is queued.
    pub outbox: Arc<tokio::sync::Notify>,
    /// Satisfaction surveys, when on (`with_surveys`).
    pub surveys: Option<Arc<survey::SurveyConfig>>,
    /// Wakes the survey task when a survey is scheduled.
    pub survey_signal: Arc<tokio::sync::Notify>,
    /// The knowledge base's search index, built from the store at start.
    pub kb: Arc<kb::KnowledgeBase>,
    /// The care-call programme's settings and clock.
    pub care: Arc<care::CareConfig>,
    /// Wakes the care task (an outcome queued a webhook delivery).
    pub care_signal: Arc<tokio::sync::Notify>,
    /// Sign-language video sessions (`with_video` starts their timers).
    pub video: Arc<video::Sessions>,
    /// The voice front door, once started (video relays call out through
    /// it).
    pub voice: Arc<std::sync::OnceLock<voice::SipServer>>,
}

impl AppState {
    /// Loads the taxonomy and starts the floor with its default policy.
    /// Needs a tokio runtime (the floor's timer runs on it).
    pub async fn load(store: AnyStore, zone: Tz) -> Result<Self, dasan_store::StoreError> {
        Self::load_with(store, zone, floor::FloorConfig::default()).await
    }

    pub async fn load_with(
        store: AnyStore,
        zone: Tz,
        floor_config: floor::FloorConfig,
    ) -> Result<Self, dasan_store::StoreError> {
        use dasan_store::Store;
        let taxonomy = Arc::new(store.taxonomy().await?);
        let floor = floor::Floor::start(floor_config, taxonomy.clone(), zone, store.clone())
            .map_err(|e| dasan_store::StoreError::Database(format!("the routing floor: {e}")))?;
        let kb = Arc::new(kb::KnowledgeBase::new(
            kb::load_index(&store, &taxonomy).await?,
        ));
        Ok(AppState {
            store,
            taxonomy,
            zone,
            floor,
            sms: Arc::new(sms::SmsConfig::new()),
            outbox: outbox::signal(),
            surveys: None,
            survey_signal: survey::signal(),
            kb,
            care: Arc::new(care::CareConfig::default()),
            care_signal: Arc::new(tokio::sync::Notify::new()),
            video: Arc::new(video::Sessions::new(video::VideoConfig::default())),
            voice: Arc::new(std::sync::OnceLock::new()),
        })
    }

    /// Turns post-contact surveys on (they go out through the SMS outbox,
    /// so `with_sms` with an outbound URL comes first) and starts the task
    /// that sends them. Call once, on a tokio runtime.
    pub fn with_surveys(mut self, config: survey::SurveyConfig) -> Self {
        let config = Arc::new(config);
        self.surveys = Some(config.clone());
        if self.sms.outbound_url.is_some() {
            tokio::spawn(survey::run(self.clone(), config));
        }
        self
    }

    /// Sets the care programme's policy and clock; with `timers`, starts the
    /// task that plans, releases due calls to the floor, re-sends
    /// unacknowledged escalations and delivers webhooks (tests without it
    /// call `care::tick` and `care::webhook::deliver_due` themselves).
    /// Call once, on a tokio runtime.
    pub fn with_care(mut self, config: care::CareConfig, timers: bool) -> Self {
        self.care = Arc::new(config);
        if timers {
            tokio::spawn(care::run(self.clone()));
        }
        self
    }

    /// Sets up sign-language video sessions and starts the task that ends
    /// abandoned ones and stores their records. Call once, on a tokio
    /// runtime.
    pub fn with_video(mut self, config: video::VideoConfig) -> Self {
        self.video = Arc::new(video::Sessions::new(config));
        tokio::spawn(video::run(self.clone()));
        self
    }

    /// Puts back on the floor the text threads a restart took off it: those
    /// with an inbound message in the last day and no consultation yet
    /// (with their ids, so their messages stay threaded). Answers how many.
    pub async fn recover_text_threads(&self) -> Result<usize, dasan_store::StoreError> {
        use dasan_store::Store;
        let since = dasan_core::Timestamp::from_millis(now().millis() - 24 * 3600 * 1000)?;
        let mut recovered = 0;
        for thread in self.store.open_text_threads(since).await? {
            if self.floor.interaction(thread.interaction_id).is_some() {
                continue;
            }
            let category = sms::suggest_category(&thread.first_body)
                .and_then(|c| dasan_core::CategoryCode::parse(c).ok());
            let added = self.floor.add_interaction(floor::NewInteraction {
                id: Some(thread.interaction_id),
                channel: if thread.mms {
                    dasan_core::Channel::Mms
                } else {
                    dasan_core::Channel::Sms
                },
                citizen_phone: thread.citizen_phone,
                category,
                required_skills: Vec::new(),
                priority: 0,
            });
            match added {
                Ok(_) => recovered += 1,
                Err(error) => tracing::warn!(%error, "a text thread could not be put back"),
            }
        }
        Ok(recovered)
    }

    /// Sets up the SMS edge; with an outbound URL, starts the outbox that
    /// delivers queued messages there. Call once, on a tokio runtime.
    pub fn with_sms(mut self, config: sms::SmsConfig) -> Self {
        let url = config.outbound_url.clone();
        self.sms = Arc::new(config);
        if let Some(url) = url {
            tokio::spawn(outbox::run(self.clone(), outbox::HttpProvider::new(url)));
        }
        self
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    observability::install();
    let api = Router::new()
        .merge(consultations::routes())
        .merge(reference::routes())
        .merge(statistics::routes())
        .merge(exports::routes())
        .merge(live::routes())
        .merge(sms::api_routes())
        .merge(media::routes())
        .merge(kb::routes())
        .merge(web_survey::api_routes())
        .merge(reuse::routes())
        .merge(care::api::routes())
        .merge(voice::calls::routes())
        .merge(video::routes())
        .route("/openapi.json", get(openapi::document));
    Router::new()
        .nest("/api/v1", api)
        .merge(reports::routes())
        .merge(session::routes())
        .merge(pages::routes())
        .merge(sms::routes())
        .merge(web_survey::routes())
        .merge(video::page::routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(observability::metrics))
        // A route layer sees the matched route pattern, which it logs
        // instead of the raw URI.
        .route_layer(middleware::from_fn(observability::track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    use dasan_store::Store;
    // Ready means the database answers, not merely that the process runs.
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            format!(r#"{{"status":"ok","engine":"{}"}}"#, state.store.engine()),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "health check failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database does not answer",
            )
            .into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then lets
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let floor = state.floor.clone();
    // Live events are small writes that must leave at once: no Nagle delay.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Live streams never end on their own; end them so that the
            // requests in flight can finish.
            floor.close();
        })
        .await
}
