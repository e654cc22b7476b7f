//! The IVR's media: one RTP socket per call, G.711 prompts (`prompts.rs`)
//! sent every 20 ms, the caller's RTP counted and its RFC 4733
//! telephone-events read as digits; while bridged, packets relayed between
//! the caller and the agent's phone.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{net::UdpSocket, sync::mpsc};

/// What the caller's SDP offer says about its audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub address: SocketAddr,
    /// 0 (PCMU) or 8 (PCMA): the first of the offer's that Dasan speaks.
    pub payload: u8,
    /// The offer's telephone-event payload type, if any.
    pub events: Option<u8>,
}

/// Reads an SDP offer; `None` when it has no audio in G.711.
pub fn parse_offer(sdp: &str) -> Option<Offer> {
    let mut ip = None;
    let mut port = None;
    let mut payloads: Vec<u8> = Vec::new();
    let mut events = None;
    for line in sdp.lines().map(str::trim) {
        if let Some(rest) = line
            .strip_prefix("c=IN IP4 ")
            .or(line.strip_prefix("c=IN IP6 "))
        {
            ip = rest.split('/').next().and_then(|a| a.trim().parse().ok());
        } else if let Some(rest) = line.strip_prefix("m=audio ") {
            let mut parts = rest.split_whitespace();
            port = parts.next().and_then(|p| p.parse::<u16>().ok());
            let _profile = parts.next();
            payloads = parts.filter_map(|p| p.parse().ok()).collect();
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            let (pt, name) = rest.split_once(' ')?;
            if name
                .to_ascii_lowercase()
                .starts_with("telephone-event/8000")
            {
                events = pt.parse().ok();
            }
        }
    }
    let payload = payloads.iter().copied().find(|p| *p == 0 || *p == 8)?;
    let port = port.filter(|p| *p != 0)?;
    Some(Offer {
        address: SocketAddr::new(ip?, port),
        payload,
        events: events.filter(|e| payloads.contains(e)),
    })
}

/// The answer to `offer` from `local` (the call's RTP socket).
pub fn answer_sdp(local: SocketAddr, offer: &Offer, session: &str) -> String {
    let ip = local.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let codec = if offer.payload == 0 { "PCMU" } else { "PCMA" };
    let mut sdp = format!(
        "v=0\r\no=dasan {session} 1 IN {family} {ip}\r\ns=Dasan IVR\r\nc=IN {family} {ip}\r\nt=0 0\r\n"
    );
    match offer.events {
        Some(pt) => sdp.push_str(&format!(
            "m=audio {port} RTP/AVP {payload} {pt}\r\na=rtpmap:{payload} {codec}/8000\r\na=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-15\r\n",
            port = local.port(),
            payload = offer.payload,
        )),
        None => sdp.push_str(&format!(
            "m=audio {port} RTP/AVP {payload}\r\na=rtpmap:{payload} {codec}/8000\r\n",
            port = local.port(),
            payload = offer.payload,
        )),
    }
    sdp.push_str("a=ptime:20\r\na=sendrecv\r\n");
    sdp
}

/// G.711 µ-law of a 16-bit sample (for tools that make test audio).
pub fn ulaw_of(sample: i16) -> u8 {
    ulaw(sample)
}

/// G.711 µ-law of a 16-bit sample.
pub(super) fn ulaw(sample: i16) -> u8 {
    let mut value = i32::from(sample);
    let sign = if value < 0 {
        value = -value;
        0x80
    } else {
        0
    };
    let value = value.min(32_635) + 0x84;
    let exponent = (31 - (value >> 7).leading_zeros() as i32).clamp(0, 7);
    let mantissa = (value >> (exponent + 3)) & 0x0F;
    !(sign | ((exponent as u8) << 4) | mantissa as u8)
}

/// G.711 A-law of a 16-bit sample.
pub(super) fn alaw(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 3;
    let mask = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    const SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let Some(segment) = SEGMENT_ENDS.iter().position(|end| value <= *end) else {
        return 0x7F ^ mask;
    };
    let shift = if segment < 2 { 1 } else { segment };
    let encoded = ((segment as u8) << 4) | ((value >> shift) & 0x0F) as u8;
    encoded ^ mask
}

/// Counters of one call's media, shared with the signalling.
#[derive(Debug, Default)]
pub struct MediaCounts {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    /// Packets relayed while bridged to an agent's phone, each way.
    pub from_caller: AtomicU64,
    pub from_agent: AtomicU64,
    /// Packets missing from each side's sequence numbers while bridged
    /// (lost on the way to Dasan: RFC 3550's cumulative loss).
    pub lost_from_caller: AtomicU64,
    pub lost_from_agent: AtomicU64,
}

/// One stream's sequence numbers (RFC 3550 A.1, without probation): the
/// highest seen, extended by wrap-arounds, against how many came.
#[derive(Debug, Default, Clone, Copy)]
struct Sequence {
    base: u32,
    highest: u32,
    received: u32,
    started: bool,
}

impl Sequence {
    fn saw(&mut self, packet: &[u8]) {
        let number = u16::from_be_bytes([packet[2], packet[3]]);
        if !self.started {
            *self = Sequence {
                base: u32::from(number),
                highest: u32::from(number),
                received: 1,
                started: true,
            };
            return;
        }
        self.received = self.received.saturating_add(1);
        let ahead = number.wrapping_sub(self.highest as u16);
        if ahead != 0 && ahead < 0x8000 {
            self.highest = self.highest.wrapping_add(u32::from(ahead));
        }
    }

    /// Packets expected but not received (duplicates never make it
    /// negative).
    fn lost(&self) -> u64 {
        if !self.started {
            return 0;
        }
        let expected = u64::from(self.highest.wrapping_sub(self.base)) + 1;
        expected.saturating_sub(u64::from(self.received))
    }
}

/// What the media task hears from the signalling.
#[derive(Debug)]
pub enum Control {
    /// Play this prompt (G.711 of the call's law) in a loop from now on.
    Play(Arc<[u8]>),
    /// Relay from now on: the caller's packets to `remote` through
    /// `socket` (the agent leg's), the agent's back to the caller.
    Bridge {
        socket: UdpSocket,
        remote: SocketAddr,
    },
    /// The agent leg ended: prompts again.
    Unbridge,
    Stop,
}

/// How long a call may stay silent (no RTP from the caller) before it is
/// taken for dead: a phone that crashed or lost its network sends no BYE.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);

/// Why a call's media ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The signalling said so (BYE, time-out).
    Stopped,
    /// Nothing came from the caller for [`SILENCE_LIMIT`].
    Silent,
}

/// Runs one call's RTP: sends the current prompt to `remote` in 20 ms
/// frames, reads what arrives (counting audio, turning RFC 4733 events into
/// digits sent on `digits`) until `Stop`, or until the caller has been
/// silent too long. While bridged it plays nothing and relays packets as
/// they are between the caller and the agent's phone (both legs were
/// given the same codec and event payload numbers).
///
/// Each side is latched to the source of its first packet: packets from any
/// other address are dropped, so nobody who finds a port can speak into a
/// call. While bridged, either side's packets keep the call alive. Sends
/// never wait: a packet the kernel cannot take at once (a peer not reading
/// its socket) is dropped, as the network would, instead of holding up the
/// other direction.
pub async fn run(
    socket: UdpSocket,
    remote: SocketAddr,
    offer: Offer,
    greeting: Arc<[u8]>,
    mut control: mpsc::Receiver<Control>,
    digits: mpsc::Sender<char>,
    counts: Arc<MediaCounts>,
) -> Ended {
    let ssrc = {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).unwrap_or_default();
        u32::from_be_bytes(b)
    };
    let mut sequence: u16 = 0;
    let mut timestamp: u32 = 0;
    let mut audio = greeting;
    let mut position = 0;
    // Prompt frames every 20 ms, only while not bridged: a bridged call
    // moves on the packets of its two legs alone, and a timer waking every
    // bridged call 50 times a second would cost as much as the relay.
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The silence limit is looked at once a second, bridged or not.
    let mut watchdog = tokio::time::interval(Duration::from_secs(1));
    let mut buffer = [0u8; 2048];
    let mut last_event: Option<u32> = None;
    let mut heard = tokio::time::Instant::now();
    let mut bridge: Option<(UdpSocket, SocketAddr)> = None;
    let mut relayed = [0u8; 2048];
    let (mut caller_from, mut agent_from): (Option<SocketAddr>, Option<SocketAddr>) = (None, None);
    // Each bridge's streams start afresh; the losses of earlier bridges
    // are kept in `settled`, and the counters always show the total.
    let (mut caller_sequence, mut agent_sequence) = (Sequence::default(), Sequence::default());
    let mut settled = (0u64, 0u64);
    loop {
        tokio::select! {
            _ = watchdog.tick() => {
                if heard.elapsed() >= SILENCE_LIMIT {
                    return Ended::Silent;
                }
            }
            _ = ticker.tick(), if bridge.is_none() => {
                let mut packet = Vec::with_capacity(172);
                packet.extend_from_slice(&[0x80, offer.payload]);
                packet.extend_from_slice(&sequence.to_be_bytes());
                packet.extend_from_slice(&timestamp.to_be_bytes());
                packet.extend_from_slice(&ssrc.to_be_bytes());
                for _ in 0..160 {
                    packet.push(audio.get(position).copied().unwrap_or(0xFF));
                    position = (position + 1) % audio.len().max(1);
                }
                if socket.try_send_to(&packet, remote).is_ok() {
                    counts.sent.fetch_add(1, Ordering::Relaxed);
                }
                sequence = sequence.wrapping_add(1);
                timestamp = timestamp.wrapping_add(160);
            }
            received = socket.recv_from(&mut buffer) => {
                let Ok((n, from)) = received else { continue };
                let packet = &buffer[..n];
                if n < 12 || packet[0] >> 6 != 2 || *caller_from.get_or_insert(from) != from {
                    continue;
                }
                heard = tokio::time::Instant::now();
                if let Some((leg, agent)) = &bridge {
                    caller_sequence.saw(packet);
                    counts
                        .lost_from_caller
                        .store(settled.0 + caller_sequence.lost(), Ordering::Relaxed);
                    if leg.try_send_to(packet, *agent).is_ok() {
                        counts.from_caller.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                let payload_type = packet[1] & 0x7F;
                let header = 12 + 4 * usize::from(packet[0] & 0x0F);
                if Some(payload_type) == offer.events && n >= header + 4 {
                    let event = packet[header];
                    let end = packet[header + 1] & 0x80 != 0;
                    let ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
                    // One digit per event (its end packet is sent three times).
                    if end && last_event != Some(ts) {
                        last_event = Some(ts);
                        // Never waits: the relay must keep going.
                        if let Some(digit) = digit_of(event)
                            && digits.try_send(digit).is_err()
                        {
                            tracing::debug!("rtp: a keypad digit was dropped (32 unread)");
                        }
                    }
                } else {
                    counts.received.fetch_add(1, Ordering::Relaxed);
                }
            }
            received = async {
                match &bridge {
                    Some((leg, _)) => leg.recv_from(&mut relayed).await,
                    None => std::future::pending().await,
                }
            } => {
                let Ok((n, from)) = received else { continue };
                if n < 12 || relayed[0] >> 6 != 2 || *agent_from.get_or_insert(from) != from {
                    continue;
                }
                heard = tokio::time::Instant::now();
                agent_sequence.saw(&relayed[..n]);
                counts
                    .lost_from_agent
                    .store(settled.1 + agent_sequence.lost(), Ordering::Relaxed);
                if socket.try_send_to(&relayed[..n], remote).is_ok() {
                    counts.from_agent.fetch_add(1, Ordering::Relaxed);
                }
            }
            command = control.recv() => match command {
                Some(Control::Play(next)) => {
                    audio = next;
                    position = 0;
                }
                Some(Control::Bridge { socket, remote }) => {
                    settled.0 += caller_sequence.lost();
                    settled.1 += agent_sequence.lost();
                    (caller_sequence, agent_sequence) = (Sequence::default(), Sequence::default());
                    bridge = Some((socket, remote));
                    agent_from = None;
                }
                Some(Control::Unbridge) => {
                    bridge = None;
                    // Prompts resume from now, not with the frames the
                    // bridge skipped.
                    ticker.reset();
                }
                Some(Control::Stop) | None => return Ended::Stopped,
            },
        }
    }
}

/// RFC 4733 event codes 0–15.
pub fn digit_of(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_read_and_answered() {
        let offer = parse_offer(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
        )
        .expect("offer");
        assert_eq!(offer.address, "127.0.0.1:6000".parse().expect("addr"));
        assert_eq!((offer.payload, offer.events), (8, Some(101)));
        let answer = answer_sdp("127.0.0.1:7000".parse().expect("addr"), &offer, "s");
        assert!(answer.contains("m=audio 7000 RTP/AVP 8 101"));
        assert!(parse_offer("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 18\r\n").is_none());
        assert!(parse_offer("").is_none());
    }

    #[test]
    fn sequence_gaps_count_as_lost_across_a_wrap() {
        let packet = |n: u16| rtp_header(n);
        let mut sequence = Sequence::default();
        for n in [65_533u16, 65_534, 0, 2, 3, 3] {
            sequence.saw(&packet(n));
        }
        // 65533..=3 is 7 packets, 65535 and 1 missing; RFC 3550 counts the
        // duplicate 3 as making up for one of them.
        assert_eq!(sequence.lost(), 1);
        let mut sequence = Sequence::default();
        for n in 100..200u16 {
            if n % 10 != 0 {
                sequence.saw(&packet(n));
            }
        }
        assert_eq!(sequence.lost(), 9, "100 is the first seen");
        // A late packet from before the highest does not move it.
        sequence.saw(&packet(150));
        assert_eq!(sequence.lost(), 8);
        assert_eq!(Sequence::default().lost(), 0);
    }

    fn rtp_header(sequence: u16) -> Vec<u8> {
        let mut packet = vec![0x80, 0];
        packet.extend_from_slice(&sequence.to_be_bytes());
        packet.extend_from_slice(&[0; 8]);
        packet
    }

    #[test]
    fn g711_known_values() {
        assert_eq!(ulaw(0), 0xFF);
        assert_eq!(ulaw(-1), 0x7F);
        assert_eq!(ulaw(32_767), 0x80);
        assert_eq!(alaw(0), 0xD5);
        assert_eq!(alaw(-8), 0x55);
        assert_eq!(digit_of(2), Some('2'));
        assert_eq!(digit_of(11), Some('#'));
    }
}
