//! One typed configuration: defaults < TOML file < environment < flags.
//!
//! The file is the one named by `--config` (or `DASAN_CONFIG`), else
//! `./dasan.toml` when it exists. Unknown keys in it are refused, so a typo
//! never passes silently. Environment variables and flags are read by clap
//! (`DASAN_DB`, `DASAN_LISTEN`, `DASAN_TIME_ZONE`).

use std::{fmt, net::SocketAddr, path::PathBuf};

use anyhow::{Context, bail};
use chrono_tz::Tz;
use dasan_store::DatabaseUrl;
use serde::Deserialize;

/// The defaults: an embedded SQLite file under `./dasan-data/`, loopback HTTP
/// on port 8120, and the model center's time zone.
pub const DEFAULT_DB: &str = "sqlite://dasan-data/dasan.db";
pub const DEFAULT_DEMO_DB: &str = "sqlite://dasan-data/demo.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8120";
pub const DEFAULT_TIME_ZONE: &str = "Asia/Seoul";

/// The keys a configuration file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    db: Option<String>,
    listen: Option<String>,
    time_zone: Option<String>,
    /// The URL gateways reach the center at (webhook signatures cover it).
    public_url: Option<String>,
    sms: Option<SmsFile>,
    survey: Option<SurveyFile>,
    care: Option<CareFile>,
    voice: Option<VoiceFile>,
    video: Option<VideoFile>,
}

/// `[video]` in the configuration file: sign-language video sessions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VideoFile {
    /// STUN/TURN servers for both browsers, as RTCIceServer JSON
    /// (`[{"urls": ["stun:stun.example.org"]}]`); none by default.
    ice_servers: Option<String>,
    /// Seconds without a signing agent before a callback is offered.
    callback_after_seconds: Option<u64>,
    /// Sessions open at once.
    max_sessions: Option<usize>,
}

/// `[voice]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoiceFile {
    /// The IVR menu: `1=transport,2=water,3=other,0=` (empty: an agent).
    menu: Option<String>,
    /// Ask callers for a 1–5 keypad score when the agent hangs up first.
    phone_survey: Option<bool>,
    /// A folder of the center's own recorded prompts (`greeting.wav`,
    /// `queue.wav`, `survey.wav`, `thanks.wav`; any missing one stays the
    /// shipped recording).
    prompts: Option<PathBuf>,
    /// The carrier's trunks (addresses or networks) calls are accepted
    /// from without authentication; none: loopback only.
    trunks: Option<Vec<String>>,
    /// Where calls out go (`host:port` of a carrier trunk or proxy): the
    /// relay calls of sign-language video consultations.
    outbound: Option<String>,
}

/// `[care]` in the configuration file: the care-call programme.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CareFile {
    /// Public holidays, `YYYY-MM-DD`: a call planned on one moves.
    holidays: Option<Vec<String>>,
    retry_after_minutes: Option<u32>,
    max_tries_per_day: Option<u32>,
    escalate_after_failures: Option<u32>,
    resend_after_minutes: Option<i64>,
    release_to_floor: Option<bool>,
}

/// `[survey]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SurveyFile {
    enabled: Option<bool>,
    channels: Option<Vec<String>>,
    delay_seconds: Option<u64>,
    quiet_hours: Option<String>,
    period_days: Option<i64>,
    reply_window_hours: Option<i64>,
    text: Option<String>,
    web_channels: Option<Vec<String>>,
    link_ttl_hours: Option<i64>,
    link_secret: Option<String>,
}

/// `[sms]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsFile {
    twilio_auth_token: Option<String>,
    native_secret: Option<String>,
    outbound_url: Option<String>,
    center_number: Option<String>,
    thread_window_minutes: Option<u32>,
    auto_ack: Option<String>,
    sms_max_bytes: Option<usize>,
    lms_max_bytes: Option<usize>,
    cost_sms_won: Option<i64>,
    cost_lms_won: Option<i64>,
    cost_mms_won: Option<i64>,
    media_dir: Option<PathBuf>,
    media_max_bytes: Option<usize>,
}

/// Flags shared by every command that touches data.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Database URL: sqlite://PATH (an absolute PATH gives three slashes) or postgres://...
    #[arg(long, env = "DASAN_DB", hide_env_values = true)]
    pub db: Option<String>,
    /// Configuration file (TOML); default ./dasan.toml when it exists.
    #[arg(long, env = "DASAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Time zone for days, months and the night slot (IANA name).
    #[arg(long, env = "DASAN_TIME_ZONE")]
    pub time_zone: Option<String>,
}

#[derive(Clone)]
pub struct Settings {
    pub db: DatabaseUrl,
    pub listen: SocketAddr,
    pub time_zone: Tz,
    /// The SMS edge (its Debug hides the secrets).
    pub sms: dasan_web::sms::SmsConfig,
    /// Post-contact surveys, unless turned off (they need the SMS outbox).
    pub surveys: Option<dasan_web::survey::SurveyConfig>,
    /// The care-call programme's policy and holidays.
    pub care: dasan_web::care::CareConfig,
    /// Where the SIP front door listens (UDP), if anywhere.
    pub sip: Option<SocketAddr>,
    /// The front door's menu (`[voice] menu`, or `DASAN_SIP_MENU`), prompts
    /// (`[voice] prompts`, or `DASAN_SIP_PROMPTS`) and keypad survey after
    /// the agent's hang-up (`[voice] phone_survey`, or
    /// `DASAN_SIP_PHONE_SURVEY=1`/`0`), and trunks (`[voice] trunks`, or
    /// `DASAN_SIP_TRUNKS=ADDR,NET/PREFIX`).
    pub voice: dasan_web::voice::VoiceOptions,
    /// Sign-language video (`[video]`; `DASAN_VIDEO_ICE_SERVERS` overrides
    /// the ICE server list).
    pub video: dasan_web::video::VideoConfig,
}

/// The database URL may hold a password: Debug shows it redacted.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("db", &self.db)
            .field("listen", &self.listen)
            .field("time_zone", &self.time_zone.name())
            .field("sms", &self.sms)
            .field("surveys", &self.surveys)
            .field("care_holidays", &self.care.holidays)
            .finish()
    }
}

impl Settings {
    /// Resolves the settings of one command. `listen` is the command's flag
    /// (already merged with `DASAN_LISTEN` by clap); `default_db` differs
    /// between the live center and the demo.
    pub fn resolve(
        common: &CommonArgs,
        listen: Option<&str>,
        default_db: &str,
    ) -> anyhow::Result<Self> {
        let file = load_file(common.config.as_ref())?;
        let db = common
            .db
            .clone()
            .or(file.db)
            .unwrap_or_else(|| default_db.to_owned());
        let db = DatabaseUrl::parse(&db).map_err(|e| anyhow::anyhow!("{e}"))?;
        let listen = listen
            .map(str::to_owned)
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen.parse().with_context(|| {
            format!("invalid listen address `{listen}` (expected HOST:PORT, e.g. 127.0.0.1:8120)")
        })?;
        let zone = common
            .time_zone
            .clone()
            .or(file.time_zone)
            .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
        let time_zone: Tz = zone.parse().map_err(|_| {
            anyhow::anyhow!("unknown time zone `{zone}` (expected an IANA name such as Asia/Seoul)")
        })?;
        // Photos live beside an SQLite database, else under ./dasan-data.
        let default_media = match &db {
            DatabaseUrl::Sqlite(path) => path
                .parent()
                .map_or_else(|| PathBuf::from("media"), |p| p.join("media")),
            _ => PathBuf::from("dasan-data/media"),
        };
        let sms = sms_settings(file.public_url, file.sms.unwrap_or_default(), default_media)?;
        let surveys = survey_settings(file.survey.unwrap_or_default())?;
        let care = care_settings(file.care.unwrap_or_default())?;
        let voice = file.voice.unwrap_or_default();
        let sip_phone_survey = match std::env::var("DASAN_SIP_PHONE_SURVEY").ok().as_deref() {
            None => voice.phone_survey.unwrap_or(false),
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            Some(other) => anyhow::bail!("DASAN_SIP_PHONE_SURVEY is 1 or 0, not `{other}`"),
        };
        let menu = std::env::var("DASAN_SIP_MENU").ok().or(voice.menu);
        let menu = match menu {
            Some(text) => dasan_web::voice::Menu::parse(&text)
                .map_err(|e| anyhow::anyhow!("the IVR menu: {e}"))?,
            None => dasan_web::voice::Menu::default(),
        };
        let prompts = std::env::var_os("DASAN_SIP_PROMPTS")
            .map(PathBuf::from)
            .or(voice.prompts);
        let trunks = match std::env::var("DASAN_SIP_TRUNKS").ok() {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            None => voice.trunks.unwrap_or_default(),
        };
        let trunks = trunks
            .iter()
            .map(|t| dasan_web::voice::Network::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("a SIP trunk: {e}"))?;
        let outbound =
            match std::env::var("DASAN_SIP_OUTBOUND").ok().or(voice.outbound) {
                Some(text) => Some(text.trim().parse::<SocketAddr>().map_err(|_| {
                    anyhow::anyhow!("the outbound SIP trunk `{text}` is not IP:PORT")
                })?),
                None => None,
            };
        let prompts = match prompts {
            Some(dir) => dasan_web::voice::Prompts::from_dir(&dir)
                .map_err(|e| anyhow::anyhow!("the IVR prompts: {e}"))?,
            None => dasan_web::voice::Prompts::default(),
        };
        let video = video_settings(file.video.unwrap_or_default())?;
        Ok(Settings {
            db,
            listen,
            time_zone,
            video,
            sms,
            surveys,
            care,
            sip: None,
            voice: dasan_web::voice::VoiceOptions {
                menu,
                prompts,
                phone_survey: sip_phone_survey,
                trunks,
                outbound,
            },
        })
    }
}

/// Sign-language video: the file's `[video]` over the defaults (no ICE
/// servers, a callback offered after two minutes, 10,000 sessions).
fn video_settings(file: VideoFile) -> anyhow::Result<dasan_web::video::VideoConfig> {
    let mut config = dasan_web::video::VideoConfig::default();
    if let Some(text) = std::env::var("DASAN_VIDEO_ICE_SERVERS")
        .ok()
        .or(file.ice_servers)
    {
        config.ice_servers = dasan_web::video::VideoConfig::parse_ice_servers(&text)
            .map_err(|e| anyhow::anyhow!("[video] {e}"))?;
    }
    if let Some(seconds) = file.callback_after_seconds {
        anyhow::ensure!(
            (10..=3600).contains(&seconds),
            "[video] callback_after_seconds: 10 to 3600"
        );
        config.callback_after = std::time::Duration::from_secs(seconds);
    }
    if let Some(max) = file.max_sessions {
        anyhow::ensure!(
            (1..=1_000_000).contains(&max),
            "[video] max_sessions: 1 to 1000000"
        );
        config.max_sessions = max;
    }
    Ok(config)
}

/// The care programme: the file's `[care]` over the defaults (no holidays;
/// retry after two hours, at most three tries a day, escalate after three
/// failures; re-send an unacknowledged escalation after four hours).
fn care_settings(file: CareFile) -> anyhow::Result<dasan_web::care::CareConfig> {
    let mut config = dasan_web::care::CareConfig::default();
    for day in file.holidays.unwrap_or_default() {
        let date = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
            .map_err(|_| anyhow::anyhow!("[care] holidays: `{day}` is not YYYY-MM-DD"))?;
        config.holidays.insert(date);
    }
    let policy = &mut config.policy;
    if let Some(minutes) = file.retry_after_minutes {
        anyhow::ensure!(
            (10..=1440).contains(&minutes),
            "[care] retry_after_minutes: 10 to 1440"
        );
        policy.retry_after_minutes = minutes;
    }
    if let Some(tries) = file.max_tries_per_day {
        anyhow::ensure!(
            (1..=10).contains(&tries),
            "[care] max_tries_per_day: 1 to 10"
        );
        policy.max_tries_per_day = tries;
    }
    if let Some(failures) = file.escalate_after_failures {
        anyhow::ensure!(
            (1..=20).contains(&failures),
            "[care] escalate_after_failures: 1 to 20"
        );
        policy.escalate_after_failures = failures;
    }
    if let Some(minutes) = file.resend_after_minutes {
        anyhow::ensure!(
            (10..=10_080).contains(&minutes),
            "[care] resend_after_minutes: 10 to 10080"
        );
        config.resend_after_minutes = minutes;
    }
    if let Some(release) = file.release_to_floor {
        config.release_to_floor = release;
    }
    Ok(config)
}

/// Surveys: the file's `[survey]`, then `DASAN_SURVEY_DELAY_SECONDS`,
/// `DASAN_SURVEY_QUIET_HOURS` (`00-07`, or `none`) and
/// `DASAN_SURVEY_LINK_SECRET` (signs web survey links; without it a random one
/// per start, so links end at a restart).
fn survey_settings(file: SurveyFile) -> anyhow::Result<Option<dasan_web::survey::SurveyConfig>> {
    if file.enabled == Some(false) {
        return Ok(None);
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = dasan_web::survey::SurveyConfig::default();
    if let Some(channels) = file.channels {
        config.channels = channels
            .iter()
            .map(|c| c.parse::<dasan_core::Channel>())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("[survey] channels: {e}"))?;
    }
    if let Some(delay) = env("DASAN_SURVEY_DELAY_SECONDS") {
        config.delay_seconds = delay.parse().map_err(|_| {
            anyhow::anyhow!("DASAN_SURVEY_DELAY_SECONDS is a number of seconds, not {delay:?}")
        })?;
    } else if let Some(delay) = file.delay_seconds {
        config.delay_seconds = delay;
    }
    if let Some(quiet) = env("DASAN_SURVEY_QUIET_HOURS").or(file.quiet_hours) {
        config.quiet_hours =
            dasan_web::survey::parse_quiet_hours(&quiet).map_err(|e| anyhow::anyhow!(e))?;
    }
    if let Some(days) = file.period_days {
        config.period_days = days.max(0);
    }
    if let Some(hours) = file.reply_window_hours {
        config.reply_window_hours = hours.max(1);
    }
    if let Some(text) = file.text {
        config.text = text;
    }
    if let Some(channels) = file.web_channels {
        config.web_channels = channels
            .iter()
            .map(|c| c.parse::<dasan_core::Channel>())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("[survey] web_channels: {e}"))?;
    }
    if let Some(hours) = file.link_ttl_hours {
        config.link_ttl_hours = hours.max(1);
    }
    if let Some(secret) = env("DASAN_SURVEY_LINK_SECRET").or(file.link_secret) {
        if secret.len() < 16 {
            anyhow::bail!("the survey link secret needs at least 16 characters");
        }
        config.link_secret = dasan_web::web_survey::LinkSecret::new(secret.into_bytes());
    }
    Ok(Some(config))
}

/// The SMS edge: the file's `[sms]`, then `DASAN_SMS_*` / `DASAN_PUBLIC_URL`
/// from the environment.
fn sms_settings(
    public_url: Option<String>,
    file: SmsFile,
    default_media: PathBuf,
) -> anyhow::Result<dasan_web::sms::SmsConfig> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = dasan_web::sms::SmsConfig::new();
    config.twilio_auth_token = env("DASAN_SMS_TWILIO_AUTH_TOKEN").or(file.twilio_auth_token);
    config.native_secret = env("DASAN_SMS_NATIVE_SECRET").or(file.native_secret);
    config.public_url = env("DASAN_PUBLIC_URL").or(public_url);
    config.outbound_url = env("DASAN_SMS_OUTBOUND_URL").or(file.outbound_url);
    config.auto_ack = env("DASAN_SMS_AUTO_ACK").or(file.auto_ack);
    if let Some(number) = env("DASAN_SMS_CENTER_NUMBER").or(file.center_number) {
        config.center_number = number;
    }
    if let Some(minutes) = file.thread_window_minutes {
        config.thread_window_millis = i64::from(minutes) * 60_000;
    }
    if let Some(bytes) = file.sms_max_bytes {
        config.sms_max_bytes = bytes;
    }
    if let Some(bytes) = file.lms_max_bytes {
        config.lms_max_bytes = bytes;
    }
    config.cost_sms_won = file.cost_sms_won.unwrap_or(config.cost_sms_won);
    config.cost_lms_won = file.cost_lms_won.unwrap_or(config.cost_lms_won);
    config.cost_mms_won = file.cost_mms_won.unwrap_or(config.cost_mms_won);
    config.media_dir = Some(
        env("DASAN_MEDIA_DIR")
            .map(PathBuf::from)
            .or(file.media_dir)
            .unwrap_or(default_media),
    );
    if let Some(bytes) = file.media_max_bytes {
        config.media_max_bytes = bytes;
    }
    if let Some(url) = &config.outbound_url
        && !url.starts_with("http://")
    {
        bail!(
            "the SMS outbound URL must be http:// (reach an https gateway through a local TLS proxy): {url}"
        );
    }
    if let Some(url) = &config.public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!("the public URL must start with http:// or https://: {url}");
    }
    if config.sms_max_bytes == 0 || config.lms_max_bytes < config.sms_max_bytes {
        bail!("[sms] sms_max_bytes must be at least 1 and lms_max_bytes at least as large");
    }
    Ok(config)
}

fn load_file(explicit: Option<&PathBuf>) -> anyhow::Result<FileSettings> {
    let path = match explicit {
        Some(path) => path.clone(),
        None => {
            let default = PathBuf::from("dasan.toml");
            if !default.exists() {
                return Ok(FileSettings::default());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read configuration file {}", path.display()))?;
    if text.len() > 1 << 20 {
        bail!("configuration file {} is larger than 1 MiB", path.display());
    }
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("dasan.toml");
        std::fs::write(
            &file,
            "db = \"sqlite:///from/file.db\"\nlisten = \"127.0.0.1:9000\"\n",
        )
        .expect("write");
        let mut common = CommonArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let settings = Settings::resolve(&common, None, DEFAULT_DB).expect("valid");
        assert_eq!(settings.db, DatabaseUrl::Sqlite("/from/file.db".into()));
        assert_eq!(settings.listen.port(), 9000);
        common.db = Some("sqlite:///from/flag.db".into());
        let settings =
            Settings::resolve(&common, Some("127.0.0.1:9001"), DEFAULT_DB).expect("valid");
        assert_eq!(settings.db, DatabaseUrl::Sqlite("/from/flag.db".into()));
        assert_eq!(settings.listen.port(), 9001);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("dasan.toml");
        std::fs::write(&file, "databse = \"typo\"\n").expect("write");
        let common = CommonArgs {
            config: Some(file),
            ..Default::default()
        };
        let error = Settings::resolve(&common, None, DEFAULT_DB).expect_err("unknown key");
        assert!(format!("{error:#}").contains("databse"), "{error:#}");
        let common = CommonArgs::default();
        assert!(Settings::resolve(&common, Some("not an address"), DEFAULT_DB).is_err());
        let common = CommonArgs {
            time_zone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        assert!(Settings::resolve(&common, None, DEFAULT_DB).is_err());
    }

    #[test]
    fn the_sms_section_is_read_checked_and_its_secrets_hidden() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("dasan.toml");
        std::fs::write(
            &file,
            "public_url = \"https://120.example.go.kr\"\n[sms]\ntwilio_auth_token = \"s3cret-token\"\noutbound_url = \"http://127.0.0.1:9999/send\"\nthread_window_minutes = 10\ncost_sms_won = 18\n",
        )
        .expect("write");
        let common = CommonArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let settings = Settings::resolve(&common, None, DEFAULT_DB).expect("valid");
        assert_eq!(
            settings.sms.twilio_auth_token.as_deref(),
            Some("s3cret-token")
        );
        assert_eq!(
            settings.sms.public_url.as_deref(),
            Some("https://120.example.go.kr")
        );
        assert_eq!(settings.sms.thread_window_millis, 600_000);
        assert_eq!(settings.sms.cost_sms_won, 18);
        assert_eq!(settings.sms.cost_lms_won, 50, "defaults stay");
        assert!(!format!("{settings:?}").contains("s3cret"));
        for bad in [
            "[sms]\noutbound_url = \"https://gw.example/send\"\n",
            "[sms]\ntwilio_token = \"typo\"\n",
            "public_url = \"ftp://x\"\n",
        ] {
            std::fs::write(&file, bad).expect("write");
            assert!(
                Settings::resolve(&common, None, DEFAULT_DB).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_hides_database_passwords() {
        let common = CommonArgs {
            db: Some("postgres://dasan:hunter2@db/dasan".into()),
            ..Default::default()
        };
        let settings = Settings::resolve(&common, None, DEFAULT_DB).expect("valid");
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
