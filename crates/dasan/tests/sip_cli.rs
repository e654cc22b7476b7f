//! The voice front door against SIPp, on loopback only: `dasan serve --sip`
//! answers OPTIONS 200, SIPp's built-in caller scenario completes its calls
//! against the IVR (answered, then hung up by SIPp) over UDP and over TCP, a malformed datagram is
//! dropped without harm, and a request the element cannot take gets its
//! response code. SIPp always gets `-i 127.0.0.1 -mi 127.0.0.1` so that
//! nothing it writes names another address.

#[path = "../../web/tests/support/sipp.rs"]
mod sipp_support;
mod support;

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, UdpSocket},
    process::Stdio,
    time::Duration,
};

use sipp_support::{rtp, scenario, sipp, sipp_present};
use support::{dasan, http, run_ok, sqlite_db};

/// Sends one datagram and waits for the first answer (None after 2 s).
fn exchange(to: SocketAddr, message: &str) -> Option<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let from = socket.local_addr().expect("address");
    let message = message.replace("{from}", &from.to_string());
    socket.send_to(message.as_bytes(), to).expect("send");
    let mut buffer = [0u8; 65_535];
    socket
        .recv_from(&mut buffer)
        .ok()
        .map(|(n, _)| String::from_utf8_lossy(&buffer[..n]).into_owned())
}

const OPTIONS: &str = "OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-opt1;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: options-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

/// Starts `dasan serve --sip 127.0.0.1:0`; answers the child, the SIP
/// address and the HTTP address.
fn start(db: &str) -> (std::process::Child, SocketAddr, SocketAddr) {
    start_with(db, &[])
}

fn start_with(db: &str, env: &[(&str, &str)]) -> (std::process::Child, SocketAddr, SocketAddr) {
    let mut child = dasan()
        .envs(env.iter().copied())
        .args([
            "serve",
            "--db",
            db,
            "--listen",
            "127.0.0.1:0",
            "--sip",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut sip, mut web) = (None, None);
    while sip.is_none() || web.is_none() {
        let line = lines.next().expect("announced").expect("line");
        let address = |rest: &str| -> SocketAddr {
            rest.split_whitespace()
                .next()
                .expect("address")
                .parse()
                .expect("socket address")
        };
        if let Some(rest) = line.strip_prefix("dasan: serving sip:") {
            sip = Some(address(rest));
        }
        if let Some(rest) = line.strip_prefix("dasan: serving http://") {
            web = Some(address(rest));
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, sip.expect("sip"), web.expect("http"))
}

#[test]
fn sipp_calls_complete_against_the_ivr() {
    if !sipp_present() {
        return;
    }
    let db = sqlite_db();
    let (mut child, sip, _) = start(&db.url);

    // OPTIONS: 200.
    let answer = exchange(sip, OPTIONS).expect("an answer to OPTIONS");
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS"));
    assert!(answer.contains("CSeq: 1 OPTIONS"));

    // A malformed datagram is dropped; an unsupported scheme gets 416; the
    // front door still answers afterwards.
    assert_eq!(
        exchange(sip, "INVITE <sip:x@127.0.0.1> SIP/2.0\r\n\r\n"),
        None
    );
    let unknown = OPTIONS.replace("OPTIONS sip:ivr@127.0.0.1", "OPTIONS nobody:opaque");
    let answer = exchange(sip, &unknown).expect("an answer");
    assert!(answer.starts_with("SIP/2.0 416 "), "{answer}");

    // SIPp's built-in caller: 40 calls at 20 per second, each answered by
    // the IVR and hung up by SIPp; then 20 over one TCP connection.
    let udp = sipp(sip, &["-sn", "uac", "-m", "40", "-r", "20"]);
    let tcp = sipp(sip, &["-sn", "uac", "-t", "t1", "-m", "20", "-r", "20"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(udp, (true, 40, 0), "over UDP");
    assert_eq!(tcp, (true, 20, 0), "over TCP");
}

/// The water queue's figures on the wallboard (None until it exists).
fn water_queue(web: SocketAddr, token: &str) -> Option<serde_json::Value> {
    let (status, body) = http(web, "GET", "/api/v1/wallboard", Some(token), None).ok()?;
    assert_eq!(status, 200, "{body}");
    let board: serde_json::Value = serde_json::from_str(&body).expect("json");
    board["queues"]
        .as_array()?
        .iter()
        .find(|q| q["channel"] == "voice" && q["category"] == "water")
        .cloned()
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_caller_hears_the_menu_presses_2_by_rfc_4733_queues_for_water_and_hangs_up() {
    let db = sqlite_db();
    let token = {
        let output = run_ok(&["token", "create", "--role", "supervisor", "--db", &db.url]);
        support::last_line(&output.stdout)
    };
    let (mut child, sip, web) = start(&db.url);

    // The caller: a signalling socket and a media socket on loopback.
    let signalling = UdpSocket::bind("127.0.0.1:0").expect("bind");
    signalling
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let media = UdpSocket::bind("127.0.0.1:0").expect("bind");
    media
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let me = signalling.local_addr().expect("address");
    let media_port = media.local_addr().expect("address").port();
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {media_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    );
    let headers = |method: &str, cseq: u32, to_tag: &str| {
        format!(
            "Via: SIP/2.0/UDP {me};branch=z9hG4bK-{method}-{cseq};rport\r\nFrom: <sip:01022221200@127.0.0.1>;tag=caller1\r\nTo: <sip:120@127.0.0.1>{to_tag}\r\nCall-ID: rtp-test-1@127.0.0.1\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContact: <sip:01022221200@{me}>\r\n"
        )
    };
    let invite = format!(
        "INVITE sip:120@{sip} SIP/2.0\r\n{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        headers("INVITE", 1, ""),
        sdp.len()
    );
    signalling.send_to(invite.as_bytes(), sip).expect("send");
    let mut buffer = [0u8; 65_535];
    let ok = loop {
        let (n, _) = signalling.recv_from(&mut buffer).expect("an answer");
        let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
        assert!(text.starts_with("SIP/2.0 100"), "{text}");
    };
    let to_tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split(";tag=").nth(1))
        .expect("a To tag")
        .trim()
        .to_owned();
    let answer_port: u16 = ok
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("an audio port in the answer");
    assert!(
        ok.contains("a=rtpmap:0 PCMU/8000") && ok.contains("telephone-event/8000"),
        "{ok}"
    );
    let tag = format!(";tag={to_tag}");
    let ack = format!(
        "ACK sip:120@{sip} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
        headers("ACK", 1, &tag)
    );
    signalling.send_to(ack.as_bytes(), sip).expect("ack");

    // Dasan's prompt arrives as 20 ms µ-law frames.
    let dasan_media = SocketAddr::new(sip.ip(), answer_port);
    for _ in 0..10 {
        let (n, from) = media.recv_from(&mut buffer).expect("RTP from Dasan");
        assert_eq!(from, dasan_media);
        assert_eq!(
            (n, buffer[0] >> 6, buffer[1] & 0x7F),
            (172, 2, 0),
            "PCMU, 160 samples"
        );
    }
    // The caller speaks (25 frames), then presses 2: an RFC 4733 event,
    // its end packet sent three times.
    for i in 0..25u16 {
        media
            .send_to(&rtp(0, i, u32::from(i) * 160, &[0xFF; 160]), dasan_media)
            .expect("audio");
    }
    for (i, end) in [
        (25u16, false),
        (26, false),
        (27, true),
        (28, true),
        (29, true),
    ] {
        let flags = if end { 0x80 } else { 0x00 } | 10;
        media
            .send_to(&rtp(101, i, 4_000, &[2, flags, 0x03, 0x20]), dasan_media)
            .expect("event");
    }
    wait_for("the call in the water queue", || {
        water_queue(web, &token).is_some_and(|q| q["waiting"] == 1 && q["offered"] == 1)
    });

    // A re-INVITE (say, a session refresh) keeps the call and its session:
    // the same answer comes back, and the call still waits in its queue.
    let reinvite = format!(
        "INVITE sip:120@{sip} SIP/2.0\r\n{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        headers("INVITE", 2, &tag),
        sdp.len()
    );
    signalling.send_to(reinvite.as_bytes(), sip).expect("send");
    let refreshed = loop {
        let (n, _) = signalling.recv_from(&mut buffer).expect("an answer");
        let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if text.contains("CSeq: 2 INVITE") && !text.starts_with("SIP/2.0 100") {
            break text;
        }
    };
    assert!(refreshed.starts_with("SIP/2.0 200"), "{refreshed}");
    assert!(
        refreshed.contains(&format!("m=audio {answer_port} ")),
        "{refreshed}"
    );
    assert!(refreshed.contains(&format!("tag={to_tag}")), "{refreshed}");
    let ack = format!(
        "ACK sip:120@{sip} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
        headers("ACK", 2, &tag)
    );
    signalling.send_to(ack.as_bytes(), sip).expect("ack");
    assert!(
        water_queue(web, &token).is_some_and(|q| q["waiting"] == 1 && q["abandoned"] == 0),
        "still waiting"
    );

    // The caller hangs up while waiting: an abandon.
    let bye = format!(
        "BYE sip:ivr@{sip} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
        headers("BYE", 3, &tag)
    );
    signalling.send_to(bye.as_bytes(), sip).expect("bye");
    let answer = loop {
        let (n, _) = signalling.recv_from(&mut buffer).expect("an answer to BYE");
        let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if text.contains("CSeq: 3 BYE") {
            break text;
        }
    };
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    wait_for("the abandon on the wallboard", || {
        water_queue(web, &token).is_some_and(|q| q["waiting"] == 0 && q["abandoned"] == 1)
    });
    // Both directions of RTP were counted.
    let (_, metrics) = http(web, "GET", "/metrics", None, None).expect("metrics");
    let count = |direction: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("dasan_rtp_packets_total")
                    && l.contains(&format!("direction=\"{direction}\""))
            })
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(count("sent") >= 10, "{metrics}");
    assert_eq!(count("received"), 25, "the caller's audio, not its events");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sipp_callers_choose_by_sip_info_and_abandon_in_the_queue() {
    if !sipp_present() {
        return;
    }
    let db = sqlite_db();
    let token = {
        let output = run_ok(&["token", "create", "--role", "supervisor", "--db", &db.url]);
        support::last_line(&output.stdout)
    };
    let (mut child, sip, web) = start(&db.url);
    let result = sipp(
        sip,
        &["-sf", &scenario("dtmf_info.xml"), "-m", "5", "-r", "5"],
    );
    let transport = || -> Option<serde_json::Value> {
        let (_, body) = http(web, "GET", "/api/v1/wallboard", Some(&token), None).ok()?;
        let board: serde_json::Value = serde_json::from_str(&body).ok()?;
        board["queues"]
            .as_array()?
            .iter()
            .find(|q| q["channel"] == "voice" && q["category"] == "transport")
            .cloned()
    };
    let queue = transport();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(result, (true, 5, 0));
    let queue = queue.expect("a transport queue");
    assert_eq!(
        (queue["offered"].as_u64(), queue["abandoned"].as_u64()),
        (Some(5), Some(5)),
        "{queue}"
    );
    assert_eq!(queue["waiting"], 0);
}

#[test]
fn an_agents_phone_registers_with_digest_and_a_wrong_password_is_refused() {
    if !sipp_present() {
        return;
    }
    let db = sqlite_db();
    phone_account(&db.url);
    let short = dasan()
        .args(["user", "sip-password", "--username", "lee", "--db", &db.url])
        .env("DASAN_PASSWORD", "short")
        .output()
        .expect("sip-password");
    assert!(!short.status.success());
    let (mut child, sip, web) = start(&db.url);

    let register = scenario("register.xml");
    let right = sipp_as(sip, &register, "lee", "phone-secret-7");
    let wrong = sipp_as(sip, &register, "lee", "guess");
    let nobody = sipp_as(sip, &register, "kim", "phone-secret-7");
    let (_, metrics) = http(web, "GET", "/metrics", None, None).expect("metrics");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(right, (true, 1, 0), "the right password registers");
    assert_eq!(wrong, (false, 0, 1), "a wrong password is refused");
    assert_eq!(nobody, (false, 0, 1), "an unknown account is refused");
    let count = |result: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("dasan_sip_registrations_total")
                    && l.contains(&format!("result=\"{result}\""))
            })
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        (count("ok"), count("refused")),
        (1, 2),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("sip"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// One SIPp run of `scenario` as SIP account `user` with `password`.
fn sipp_as(sip: SocketAddr, scenario: &str, user: &str, password: &str) -> (bool, u64, u64) {
    sipp(
        sip,
        &[
            "-sf", scenario, "-m", "1", "-s", user, "-au", user, "-ap", password,
        ],
    )
}

/// A user `lee` whose phone's SIP password is `phone-secret-7`.
fn phone_account(db: &str) {
    let add = dasan()
        .args([
            "user",
            "add",
            "--username",
            "lee",
            "--role",
            "agent",
            "--db",
            db,
        ])
        .env("DASAN_PASSWORD", "battery staple 2")
        .output()
        .expect("user add");
    assert!(add.status.success(), "{add:?}");
    let set = dasan()
        .args(["user", "sip-password", "--username", "lee", "--db", db])
        .env("DASAN_PASSWORD", "phone-secret-7")
        .output()
        .expect("sip-password");
    assert!(set.status.success(), "{set:?}");
}

#[test]
fn calls_come_from_the_trunks_or_authenticate_with_an_account() {
    if !sipp_present() {
        return;
    }
    let db = sqlite_db();
    phone_account(&db.url);
    let (mut child, sip, _) = start_with(&db.url, &[("DASAN_SIP_TRUNKS", "127.0.0.2")]);
    // From the trunk (SIPp on 127.0.0.2): answered without a challenge.
    let trunk = sipp(
        sip,
        &[
            "-sn",
            "uac",
            "-m",
            "2",
            "-r",
            "10",
            "-i",
            "127.0.0.2",
            "-mi",
            "127.0.0.2",
        ],
    );
    // From another address without credentials: challenged, so SIPp's
    // plain caller fails.
    let stranger = sipp(sip, &["-sn", "uac", "-m", "1"]);
    // With a phone's account: challenged, then answered; a wrong password
    // is refused.
    let auth = scenario("caller_auth.xml");
    let account = sipp_as(sip, &auth, "lee", "phone-secret-7");
    let wrong = sipp_as(sip, &auth, "lee", "guess");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(trunk, (true, 2, 0), "the trunk's calls");
    assert_eq!(
        stranger,
        (false, 0, 1),
        "an unknown caller without credentials"
    );
    assert_eq!(account, (true, 1, 0), "a caller with an account");
    assert_eq!(wrong, (false, 0, 1), "a wrong password");
    // A trunk list that does not parse stops the start.
    let bad = dasan()
        .args([
            "serve",
            "--db",
            &db.url,
            "--listen",
            "127.0.0.1:0",
            "--sip",
            "127.0.0.1:0",
        ])
        .env("DASAN_SIP_TRUNKS", "10.0.0.0/40")
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a SIP trunk"));
}

#[test]
fn an_address_phones_cannot_reach_is_refused() {
    let db = sqlite_db();
    let output = dasan()
        .args(["serve", "--db", &db.url, "--listen", "127.0.0.1:0"])
        .args(["--sip", "0.0.0.0:5060"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("the address phones reach"));
    let bad = dasan()
        .args([
            "serve",
            "--db",
            &db.url,
            "--listen",
            "127.0.0.1:0",
            "--sip",
            "phone",
        ])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid SIP address"));
    // A prompts folder that is not there, or holds a file that is not a
    // WAV, stops the start with the file named.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("greeting.wav"), "not audio").expect("write");
    for (folder, expected) in [
        (dir.path().join("missing"), "not a folder".to_owned()),
        (dir.path().to_path_buf(), "greeting.wav".to_owned()),
    ] {
        let output = dasan()
            .args(["serve", "--db", &db.url, "--listen", "127.0.0.1:0"])
            .args(["--sip", "127.0.0.1:0"])
            .env("DASAN_SIP_PROMPTS", &folder)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(
            stderr.contains("the IVR prompts") && stderr.contains(&expected),
            "{stderr}"
        );
    }
}
