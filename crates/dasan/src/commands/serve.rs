use anyhow::Context;
use dasan_web::AppState;

use crate::settings::{CommonArgs, DEFAULT_DB, Settings};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on, HOST:PORT (port 0 picks a free one).
    #[arg(long, env = "DASAN_LISTEN")]
    pub listen: Option<String>,
    /// Serve SIP (UDP) on HOST:PORT: the voice front door's IVR.
    #[arg(long, env = "DASAN_SIP")]
    pub sip: Option<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = Settings::resolve(&args.common, args.listen.as_deref(), DEFAULT_DB)?;
    if let Some(sip) = &args.sip {
        let address: std::net::SocketAddr = sip.parse().with_context(|| {
            format!("invalid SIP address `{sip}` (expected HOST:PORT, e.g. 127.0.0.1:5060)")
        })?;
        // The address goes into Contact and SDP: it must be one phones reach.
        if address.ip().is_unspecified() {
            anyhow::bail!(
                "--sip needs the address phones reach (e.g. 192.0.2.10:5060), not {}",
                address.ip()
            );
        }
        settings.sip = Some(address);
    }
    serve(&settings, |_, _| {}).await
}

/// Opens the store, binds, announces the address on stdout and serves until
/// Ctrl-C or SIGTERM. `on_ready` runs after binding (the demo prints there).
pub async fn serve(
    settings: &Settings,
    on_ready: impl FnOnce(std::net::SocketAddr, &AppState),
) -> anyhow::Result<()> {
    let store = super::open_center_store(settings).await?;
    let state = AppState::load(store, settings.time_zone)
        .await
        .context("cannot load reference data")?
        .with_sms(settings.sms.clone())
        .with_care(settings.care.clone(), true)
        .with_video(settings.video.clone());
    let state = match settings.surveys.clone() {
        Some(surveys) => state.with_surveys(surveys),
        None => state,
    };
    let recovered = state
        .recover_text_threads()
        .await
        .context("cannot put open text threads back on the floor")?;
    if recovered > 0 {
        tracing::info!(recovered, "open text threads back on the floor");
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, engine = state.store.engine(), "serving");
    println!(
        "dasan: serving http://{address} ({} database)",
        state.store.engine()
    );
    if let Some(sip) = settings.sip {
        let socket = tokio::net::UdpSocket::bind(sip)
            .await
            .with_context(|| format!("cannot listen for SIP on {sip}"))?;
        let server = dasan_web::voice::start(
            socket,
            state.clone(),
            settings.voice.clone(),
            state.floor.closed(),
        );
        let sip_address = server.local_addr()?;
        // TCP on the same address and port as UDP.
        let tcp = tokio::net::TcpListener::bind(sip_address)
            .await
            .with_context(|| format!("cannot listen for SIP over TCP on {sip_address}"))?;
        dasan_web::voice::start_tcp(tcp, server, state.floor.closed());
        tracing::info!(%sip_address, "serving SIP");
        println!("dasan: serving sip:{sip_address} (UDP and TCP)");
    }
    on_ready(address, &state);
    dasan_web::serve(listener, state, shutdown_signal())
        .await
        .context("server failed")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
