//! The voice front door against SIPp, on loopback only: `dasan serve --sip`
//! answers OPTIONS 200, SIPp's built-in caller scenario completes its calls
//! against the IVR (answered, then hung up by SIPp), a malformed datagram is
//! dropped without harm, and a request the element cannot take gets its
//! response code. SIPp always gets `-i 127.0.0.1 -mi 127.0.0.1` so that
//! nothing it writes names another address.

mod support;

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, UdpSocket},
    process::{Command, Stdio},
    time::Duration,
};

use support::{dasan, sqlite_db};

fn have_sipp() -> bool {
    Command::new("sipp")
        .arg("-v")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

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

#[test]
fn sipp_calls_complete_against_the_ivr() {
    if !have_sipp() {
        if std::env::var("DASAN_REQUIRE_BROWSER").is_ok() {
            panic!("SIPp is missing (scripts/install-test-deps installs sip-tester)");
        }
        eprintln!("SKIPPED: SIPp missing (scripts/install-test-deps installs it)");
        return;
    }
    let db = sqlite_db();
    let mut child = dasan()
        .args([
            "serve",
            "--db",
            &db.url,
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
    let sip: SocketAddr = loop {
        let line = lines.next().expect("announced").expect("line");
        if let Some(rest) = line.strip_prefix("dasan: serving sip:") {
            break rest
                .split_whitespace()
                .next()
                .expect("address")
                .parse()
                .expect("socket address");
        }
    };
    std::thread::spawn(move || for _ in lines {});

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
    // the IVR and hung up by SIPp.
    let dir = tempfile::tempdir().expect("temp dir");
    let stat = dir.path().join("stat.csv");
    let output = Command::new("sipp")
        .args([
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-p",
            "0",
        ])
        .args(["-m", "40", "-r", "20", "-nostdin", "-timeout", "60s"])
        .args(["-trace_stat", "-stf"])
        .arg(&stat)
        .args(["-trace_err", "-error_file"])
        .arg(dir.path().join("errors.log"))
        .arg(sip.to_string())
        .output()
        .expect("sipp runs");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        output.status.success(),
        "sipp exited with {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout)
    );
    let text = std::fs::read_to_string(&stat).expect("statistics");
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(';').collect()).collect();
    let (head, last) = (&rows[0], rows.last().expect("a row"));
    let field = |name: &str| -> u64 {
        let i = head.iter().position(|h| *h == name).expect(name);
        last[i].trim().parse().expect("a number")
    };
    assert_eq!(field("SuccessfulCall(C)"), 40);
    assert_eq!(field("FailedCall(C)"), 0);
}
