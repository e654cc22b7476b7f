//! Running SIPp in tests, on loopback only: every run gets
//! `-i 127.0.0.1 -mi 127.0.0.1` (without them SIPp writes the machine's
//! primary address into Via, Contact and SDP), `-nostdin`, a 60 s global
//! time-out and its statistics in a file the result is read from. Shared by
//! crates/web/tests/voice.rs and crates/dasan/tests/sip_cli.rs (by path).
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

fn have_sipp() -> bool {
    Command::new("sipp")
        .arg("-v")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// Whether SIPp is here; without it the test says it was skipped, unless
/// `DASAN_REQUIRE_SIPP=1` (set by `scripts/test`) makes that a failure.
pub fn sipp_present() -> bool {
    if have_sipp() {
        return true;
    }
    if std::env::var("DASAN_REQUIRE_SIPP").is_ok() {
        panic!("SIPp is missing (scripts/install-test-deps installs sip-tester)");
    }
    eprintln!("SKIPPED: SIPp missing (scripts/install-test-deps installs it)");
    false
}

/// A scenario file under crates/web/tests/sipp (found from the running
/// crate's manifest directory at run time: the target directory may be
/// shared between checkouts).
pub fn scenario(file: &str) -> String {
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    Path::new(&root)
        .join("../web/tests/sipp")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

/// A running SIPp.
pub struct Run {
    child: Child,
    stat: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts SIPp with `args` against `target`; `-p 0` unless `args` name a
/// local port, `-i 127.0.0.1 -mi 127.0.0.1` unless they name (loopback)
/// addresses.
pub fn spawn(target: SocketAddr, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let stat = dir.path().join("stat.csv");
    let mut command = Command::new("sipp");
    command.args(args);
    // Loopback always; a test may pick another loopback address.
    if !args.contains(&"-i") {
        command.args(["-i", "127.0.0.1", "-mi", "127.0.0.1"]);
    }
    command
        .args(["-nostdin", "-timeout", "60s", "-trace_stat", "-stf"])
        .arg(&stat)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir(dir.path());
    if !args.contains(&"-p") {
        command.args(["-p", "0"]);
    }
    // DASAN_SIPP_ERRORS=DIR keeps each run's unexpected messages there,
    // one file per SIPp.
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    if let Ok(errors) = std::env::var("DASAN_SIPP_ERRORS") {
        command
            .arg("-trace_err")
            .arg("-error_file")
            .arg(Path::new(&errors).join(format!(
                "sipp-{}-{}.log",
                std::process::id(),
                RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            )))
            .current_dir(&errors);
    }
    let child = command.arg(target.to_string()).spawn().expect("sipp runs");
    Run {
        child,
        stat,
        _dir: dir,
    }
}

impl Run {
    /// Waits for SIPp to end; answers whether it succeeded and its
    /// successful and failed call counts.
    pub fn wait(mut self) -> (bool, u64, u64) {
        let status = self.child.wait().expect("sipp ends");
        let text = std::fs::read_to_string(&self.stat).unwrap_or_default();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(';').collect()).collect();
        let field = |name: &str| -> u64 {
            let (Some(head), Some(last)) = (rows.first(), rows.last()) else {
                return 0;
            };
            head.iter()
                .position(|h| *h == name)
                .and_then(|i| last.get(i))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        (
            status.success(),
            field("SuccessfulCall(C)"),
            field("FailedCall(C)"),
        )
    }
}

/// Runs SIPp to its end.
pub fn sipp(target: SocketAddr, args: &[&str]) -> (bool, u64, u64) {
    spawn(target, args).wait()
}

/// A free UDP port on loopback (for a SIPp that must keep its port).
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

/// Writes RTP payloads as a pcap file (Ethernet, IPv4, UDP) that SIPp's
/// `play_pcap_audio` replays, one packet every 20 ms.
pub fn write_pcap(path: &Path, packets: &[Vec<u8>]) {
    let mut out: Vec<u8> = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, rtp) in packets.iter().enumerate() {
        let micros = i as u64 * 20_000;
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0]);
        frame.extend_from_slice(&(ip_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
        frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(rtp);
        out.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).expect("pcap written");
}

/// An RTP packet: version 2, the payload type, sequence and timestamp.
pub fn rtp(payload_type: u8, sequence: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x80, payload_type];
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// `frames` of PCMU audio, then the RFC 4733 event of `digit` (0–9): two
/// packets, then its end three times.
pub fn audio_then_digit(frames: u16, digit: u8) -> Vec<Vec<u8>> {
    let mut packets: Vec<Vec<u8>> = (0..frames)
        .map(|i| rtp(0, i, u32::from(i) * 160, &[0xFF; 160]))
        .collect();
    let at = u32::from(frames) * 160;
    for (i, end) in [false, false, true, true, true].into_iter().enumerate() {
        let flags = if end { 0x80 } else { 0x00 } | 10;
        packets.push(rtp(101, frames + i as u16, at, &[digit, flags, 0x03, 0x20]));
    }
    packets
}
