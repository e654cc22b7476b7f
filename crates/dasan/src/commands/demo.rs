use std::io::IsTerminal;

use anyhow::Context;
use dasan_core::Role;
use dasan_demo::DemoConfig;
use dasan_store::Store;

use crate::settings::{CommonArgs, DEFAULT_DEMO_DB, Settings};

/// The demo's history when it seeds an empty database: enough for every
/// screen and statistic to look alive, generated in seconds. The full
/// 10-million history is `dasan demo generate`.
pub const DEMO_CONSULTATIONS: u64 = 300_000;
pub const DEMO_SEED: u64 = 120;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub action: Option<DemoAction>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on, HOST:PORT.
    #[arg(long, env = "DASAN_LISTEN")]
    pub listen: Option<String>,
    /// How much history to seed an empty demo database with.
    #[arg(long, default_value_t = DEMO_CONSULTATIONS)]
    pub consultations: u64,
    /// A demo citizen contacts the center about every this many seconds
    /// (while fewer than three wait), so the desktop and the wallboard have
    /// something to show; 0 turns it off.
    #[arg(long, default_value_t = 20)]
    pub traffic_seconds: u64,
}

#[derive(clap::Subcommand, Debug)]
pub enum DemoAction {
    /// Generates the model center's synthetic history into an empty database.
    Generate(GenerateArgs),
}

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// How many consultations; without it, the full history 2007-01-01..2009-11-10.
    #[arg(long)]
    pub consultations: Option<u64>,
    /// Seed of the generator: the same seed gives the same data.
    #[arg(long, default_value_t = DEMO_SEED)]
    pub seed: u64,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    match args.action {
        Some(DemoAction::Generate(generate)) => run_generate(generate).await,
        None => {
            run_demo(
                args.common,
                args.listen,
                args.consultations,
                args.traffic_seconds,
            )
            .await
        }
    }
}

async fn run_generate(args: GenerateArgs) -> anyhow::Result<()> {
    if args.consultations == Some(0) {
        anyhow::bail!("--consultations must be at least 1");
    }
    let settings = Settings::resolve(&args.common, None, DEFAULT_DEMO_DB)?;
    let store = super::open_center_store(&settings).await?;
    let summary = super::demo_generate::generate(
        &store,
        DemoConfig {
            seed: args.seed,
            consultations: args.consultations,
        },
        std::io::stderr().is_terminal(),
    )
    .await?;
    println!("{summary}");
    Ok(())
}

async fn run_demo(
    common: CommonArgs,
    listen: Option<String>,
    consultations: u64,
    traffic_seconds: u64,
) -> anyhow::Result<()> {
    if consultations == 0 {
        anyhow::bail!("--consultations must be at least 1");
    }
    let settings = Settings::resolve(&common, listen.as_deref(), DEFAULT_DEMO_DB)?;
    let store = super::open_center_store(&settings).await?;
    if store.count_consultations().await? == 0 {
        eprintln!("dasan demo: seeding {consultations} consultations of demo history...");
        let summary = super::demo_generate::generate(
            &store,
            DemoConfig {
                seed: DEMO_SEED,
                consultations: Some(consultations),
            },
            std::io::stderr().is_terminal(),
        )
        .await?;
        eprintln!("{summary}");
    }
    if store.list_articles().await?.is_empty() {
        let taxonomy = store.taxonomy().await?;
        let at = dasan_core::Timestamp::from_datetime(chrono::Utc::now())?;
        let mut count = 0;
        for line in dasan_kb::DEMO_ARTICLES
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let (article, _) = dasan_web::kb::parse_import_line(line, &taxonomy)
                .map_err(|e| anyhow::anyhow!("demo article: {e}"))?;
            store.save_article(&article, "demo", at, None).await?;
            count += 1;
        }
        eprintln!("dasan demo: {count} knowledge-base articles added");
    }
    let admin = super::token::create(&store, Role::Admin, "demo admin")
        .await
        .context("cannot create the demo token")?;
    let supervisor = super::token::create(&store, Role::Supervisor, "demo supervisor").await?;
    let agent = super::token::create(&store, Role::Agent, "demo agent").await?;
    let mut accounts = Vec::new();
    for (username, name, role) in [
        ("admin", "관리자", Role::Admin),
        ("supervisor", "김감독", Role::Supervisor),
        ("agent", "이상담", Role::Agent),
        ("coordinator", "박조정", Role::Coordinator),
        ("signer", "최수어", Role::Agent),
    ] {
        let password = dasan_web::session::demo_account(&store, username, name, role)
            .await
            .map_err(|e| anyhow::anyhow!("cannot set up the demo account {username}: {e}"))?;
        if username == "signer" {
            signing_agent(&store, username, name).await?;
        }
        accounts.push(format!("    {username:<11} {password}"));
    }
    let accounts = accounts.join("\n");
    drop(store);
    let where_data = format!("{:?}", settings.db);
    super::serve::serve(&settings, move |address, state| {
        let care = state.clone();
        tokio::spawn(async move {
            match dasan_web::care::api::seed_demo(&care).await {
                Ok(0) => {}
                Ok(n) => eprintln!("dasan demo: {n} seniors enrolled in the care-call programme"),
                Err(error) => eprintln!("dasan demo: the care roster was not seeded: {}", error.message),
            }
        });
        if traffic_seconds > 0 {
            tokio::spawn(demo_traffic(state.clone(), traffic_seconds));
        }
        println!(
            "\nDasan demo center is up.\n\
             \n  health:      http://{address}/healthz\
             \n  API docs:    http://{address}/api/v1/openapi.json\
             \n  statistics:  curl -H 'Authorization: Bearer {admin}' http://{address}/api/v1/stats\
             \n  records:     curl -H 'Authorization: Bearer {admin}' 'http://{address}/api/v1/consultations?limit=5'\
             \n  search:      curl -H 'Authorization: Bearer {agent}' 'http://{address}/api/v1/kb/search?q=%EC%88%98%EB%8F%84%EC%84%B8'\
             \n\n  tokens (shown once):\n    admin       {admin}\n    supervisor  {supervisor}\n    agent       {agent}\n\
             \n  sign-language video for citizens: http://{address}/sign (the `signer` account answers)\
             \n  browser sign-in at http://{address}/ (username, password; new at each start):\n{accounts}\n\
             \nPress Ctrl-C to stop. The data stays in {where_data}."
        );
    })
    .await
}

/// The demo's signing agent: its agent record carries the sign-language
/// skill, so the `/sign` page's video calls are offered to it.
async fn signing_agent(
    store: &dasan_store::AnyStore,
    username: &str,
    name: &str,
) -> anyhow::Result<()> {
    use dasan_core::{AgentId, Channel, NewAgent, Skill};
    let user = store
        .find_user(username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo account {username} vanished"))?;
    if store.get_agent(AgentId(user.id)).await?.is_none() {
        let agent = NewAgent::new(name, [Skill::SignLanguage], Channel::ALL)?;
        store.create_agent(&agent, AgentId(user.id)).await?;
    }
    Ok(())
}

/// Demo citizens calling, texting and writing in: one contact about every
/// `seconds` while fewer than three are open, from citizens of the seeded
/// history (so the desktop shows their earlier consultations).
async fn demo_traffic(state: dasan_web::AppState, seconds: u64) {
    use dasan_core::{Channel, rng::Rng};
    use dasan_web::floor::NewInteraction;
    let recent = match state
        .store
        .list_consultations(&dasan_store::ConsultationFilter::default(), None, 200)
        .await
    {
        Ok(page) => page.items,
        Err(error) => {
            tracing::warn!(%error, "demo traffic: no history to draw citizens from");
            return;
        }
    };
    if recent.is_empty() {
        return;
    }
    let mut rng = Rng::seed(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(120, |d| d.as_secs()),
    );
    loop {
        let pause = rng
            .exponential(seconds as f64)
            .clamp(1.0, seconds as f64 * 4.0);
        tokio::time::sleep(std::time::Duration::from_secs_f64(pause)).await;
        if state.floor.open_interactions() >= 3 {
            continue;
        }
        let earlier = &recent[rng.below(recent.len() as u64) as usize].record;
        let channel = match rng.below(10) {
            0 => Channel::Sms,
            1 => Channel::Web,
            _ => Channel::Voice,
        };
        let category = dasan_core::CategoryCode::parse(earlier.category.top_level()).ok();
        let added = state.floor.add_interaction(NewInteraction {
            id: None,
            channel,
            citizen_phone: earlier.citizen_phone.clone(),
            category,
            required_skills: Vec::new(),
            priority: 0,
        });
        if let Err(error) = added {
            tracing::warn!(%error, "demo traffic: not queued");
        }
    }
}
