//! The voice front door's signalling over UDP (RFC 3261), first slice: the
//! server transactions and dialogs of calls that the IVR answers.
//!
//! Each datagram is parsed by `dasan-sip`; a malformed one is dropped (a
//! parsed request that fails the element's checks gets their response).
//! OPTIONS is answered 200. An INVITE is answered 100 then 200 with an SDP
//! answer (G.711 µ-law and A-law, telephone-event); the 200 is retransmitted
//! (timer G, doubling from 500 ms to 4 s) until the ACK comes or timer H
//! (32 s) gives up. A retransmitted request gets the last response again.
//! BYE ends the dialog (200), CANCEL of an answered call is answered 200 and
//! changes nothing, an unknown dialog's BYE gets 481. Responses go back to
//! the datagram's source address (as with `rport`), never to an address a
//! message names.
//!
//! Each answered call gets an RTP socket (`media.rs`): the greeting and menu
//! play until the caller presses a digit (RFC 4733 telephone-event, or SIP
//! INFO `application/dtmf-relay`); the [`Menu`] maps it to a category and
//! the call joins the routing floor as a `voice` interaction, hearing the
//! queue announcement; hanging up while queued is an abandon.
//!
//! When the floor offers the call to an agent, Dasan rings the agent's
//! registered phone (`bridge.rs`, a back-to-back user agent): on its 200 the
//! offer is accepted and RTP is relayed between the legs; a busy or refused
//! phone declines the offer, so the call goes back to the head of its queue;
//! an offer the floor takes back (no answer in time, the caller gone)
//! cancels the ringing. A BYE from either side ends both legs (or, with the
//! phone survey on, an agent's BYE first asks the caller for a 1–5 score).
//! Each call leaves a [`CallRecord`] when its caller's leg ends.

mod bridge;
pub(crate) mod calls;
pub mod media;
pub mod prompts;
pub mod relay;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use dasan_core::{CategoryCode, Channel, PhoneNumber};
use dasan_sip::{Message, StartLine, parse, parse_name_addr};
use dasan_store::{Store, sip::CallRecord};
use tokio::{net::UdpSocket, sync::mpsc};
use uuid::Uuid;

use crate::AppState;
use media::{Control, MediaCounts};
pub use prompts::Prompts;

/// The IVR's menu: a digit → the category the call queues for (`None`: the
/// general queue, "an agent, please"). Configuration, not code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu(pub Vec<(char, Option<CategoryCode>)>);

impl Default for Menu {
    /// 1 transport, 2 water and other utilities, 3 everything else, 0 an agent.
    fn default() -> Self {
        Menu::parse("1=transport,2=water,3=other,0=").unwrap_or(Menu(Vec::new()))
    }
}

/// How the front door behaves: configuration, not code.
#[derive(Debug, Clone, Default)]
pub struct VoiceOptions {
    pub menu: Menu,
    pub prompts: Prompts,
    /// Ask a caller whose agent hung up first for a 1–5 keypad score.
    pub phone_survey: bool,
    /// Where calls are accepted from without authentication (the carrier's
    /// trunks); with none, loopback. Other callers authenticate with a SIP
    /// account's digest credentials.
    pub trunks: Vec<Network>,
    /// Where calls out go (a carrier trunk or a proxy): relay calls from
    /// sign-language video consultations. None: no calls out.
    pub outbound: Option<SocketAddr>,
}

impl VoiceOptions {
    fn trusts(&self, address: std::net::IpAddr) -> bool {
        if self.trunks.is_empty() {
            address.is_loopback()
        } else {
            self.trunks.iter().any(|t| t.contains(address))
        }
    }
}

/// An address or a network: `10.1.2.3`, `10.1.2.0/24`, `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: std::net::IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Network, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: std::net::IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}`: expected an IP address or ADDRESS/PREFIX"))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("`{text}`: the prefix is 0 to {bits}"))?,
            None => bits,
        };
        Ok(Network { address, prefix })
    }

    pub fn contains(&self, other: std::net::IpAddr) -> bool {
        let bits = |a: std::net::IpAddr| -> (u128, u32) {
            match a {
                std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ((mine, width), (theirs, other_width)) = (bits(self.address), bits(other));
        if width != other_width {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        shift >= width || (mine >> shift) == (theirs >> shift)
    }
}

impl Menu {
    /// `digit=category` pairs separated by commas; an empty category is the
    /// general queue.
    pub fn parse(text: &str) -> Result<Menu, String> {
        let mut entries = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (digit, category) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}`: expected DIGIT=CATEGORY"))?;
            let mut chars = digit.trim().chars();
            let (Some(digit), None) = (chars.next(), chars.next()) else {
                return Err(format!("`{pair}`: one key per entry"));
            };
            if !digit.is_ascii_digit() && digit != '*' && digit != '#' {
                return Err(format!("`{pair}`: a key is 0-9, * or #"));
            }
            let category = match category.trim() {
                "" => None,
                code => Some(CategoryCode::parse(code).map_err(|e| format!("`{pair}`: {e}"))?),
            };
            entries.push((digit, category));
        }
        Ok(Menu(entries))
    }

    fn choice(&self, digit: char) -> Option<&Option<CategoryCode>> {
        self.0.iter().find(|(d, _)| *d == digit).map(|(_, c)| c)
    }
}

/// Extensions Dasan supports (for `Require`).
const SUPPORTED: [&str; 0] = [];
/// RFC 3261 timer values.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TIMER_H: Duration = Duration::from_secs(32);
/// A TCP connection silent this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(300);
/// Dialogs remembered at once; beyond this new calls get 503.
const MAX_DIALOGS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialogState {
    /// 200 sent, waiting for the ACK.
    Answered,
    Confirmed,
}

#[derive(Debug)]
struct Dialog {
    to_tag: String,
    state: DialogState,
    /// The INVITE's last response (for retransmitted INVITEs).
    invite_response: Vec<u8>,
    /// Dasan's SDP answer (given again to a re-INVITE).
    sdp: String,
    invite_branch: Option<String>,
    /// The call's media task.
    media: mpsc::Sender<Control>,
    counts: Arc<MediaCounts>,
    /// Digits from SIP INFO join the RTP ones here.
    digits: mpsc::Sender<char>,
    /// The call's place on the floor.
    floor: Arc<Mutex<OnFloor>>,
    /// The caller's audio (the agent leg is offered the same).
    offer: media::Offer,
    caller: CallerSide,
}

/// What Dasan needs to send the caller a request in its dialog (a BYE when
/// the agent hangs up first).
#[derive(Debug, Clone)]
struct CallerSide {
    peer: Peer,
    /// The caller's Contact URI (else its From URI).
    target: String,
    /// Dasan's side: the INVITE's To with Dasan's tag.
    from: String,
    /// The caller's side: the INVITE's From.
    to: String,
}

/// A call's interaction, and whether the caller has hung up: both change
/// under one lock, so a hang-up racing the menu choice never leaves a
/// queued call behind. Also the agent leg and the call's record so far.
#[derive(Debug)]
struct OnFloor {
    interaction: Option<Uuid>,
    ended: bool,
    /// The agent leg ringing or bridged (its Call-ID).
    leg: Option<String>,
    /// An agent's phone answered and the legs are (or were) bridged.
    bridged: bool,
    /// The agent hung up first and the caller is asked for a score.
    surveying: bool,
    record: CallRecord,
}

/// Where a request came from, and so where its responses go: the
/// datagram's source (UDP), or the connection it arrived on (TCP).
#[derive(Debug, Clone)]
pub enum Peer {
    Udp(SocketAddr),
    Tcp(SocketAddr, mpsc::Sender<Vec<u8>>),
}

impl Peer {
    pub fn address(&self) -> SocketAddr {
        match self {
            Peer::Udp(address) | Peer::Tcp(address, _) => *address,
        }
    }

    fn reliable(&self) -> bool {
        matches!(self, Peer::Tcp(..))
    }
}

/// Counters of what the front door did (for tests and metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SipCounts {
    pub invites: u64,
    /// Calls put in a queue after a menu choice.
    pub queued: u64,
    /// Calls hung up while queued.
    pub abandoned: u64,
    /// RTP packets sent and received by ended calls' media.
    pub rtp_sent: u64,
    pub rtp_received: u64,
    /// Agents' phones rung, answering, and refusing or not answering.
    pub agent_rings: u64,
    pub agent_answers: u64,
    pub agent_misses: u64,
    /// Relay calls' phones (the signing agent's, then the office) that
    /// said they ring (a first provisional answer).
    pub relay_rings: u64,
    /// Calls bridged to an agent whose legs have both ended.
    pub bridged: u64,
    pub answered: u64,
    pub acked: u64,
    pub ended: u64,
    pub options: u64,
    pub registered: u64,
    /// REGISTERs refused for wrong credentials.
    pub unauthorized: u64,
    pub refused: u64,
    pub dropped: u64,
    /// Messages Dasan could not send at once (the kernel's buffer full).
    pub send_dropped: u64,
    /// The longest one datagram's handling held up the receive loop, and
    /// how many took over 50 ms (a late read makes peers retransmit).
    pub slowest_handle_micros: u64,
    pub slow_handles: u64,
    /// What that slowest datagram was (its method, or its status code's
    /// class and the method it answers).
    pub slowest_handle_kind: [u8; 16],
}

#[derive(Default)]
struct Shared {
    dialogs: HashMap<String, Dialog>,
    /// Agents' phones: SIP username → where it registered and until when.
    bindings: HashMap<String, Binding>,
    /// The username of each user's latest binding (a call to an agent
    /// finds its phone without scanning every binding).
    binding_of_user: HashMap<Uuid, String>,
    /// The caller's Call-ID of each queued call's interaction.
    by_interaction: HashMap<Uuid, String>,
    /// Agent legs by their Call-ID.
    legs: HashMap<String, bridge::AgentLeg>,
    /// Branches of Dasan's own requests still waiting for an answer (their
    /// retransmission stops when it comes).
    transactions: std::collections::HashSet<String>,
    /// The ACKs of agent legs' refusals, for a phone repeating its answer.
    acked: HashMap<String, (Vec<u8>, Peer)>,
    /// Relay calls of video consultations, and their legs by Call-ID.
    relays: HashMap<Uuid, relay::RelayCall>,
    relay_legs: HashMap<String, relay::RelayLeg>,
    counts: SipCounts,
}

/// A registered phone.
#[derive(Debug, Clone)]
pub struct Binding {
    pub user_id: Uuid,
    /// The datagram source the phone registered from (as with `rport`).
    pub address: SocketAddr,
    /// Where requests to the phone go (its datagram source, or the TCP
    /// connection it registered over).
    pub peer: Peer,
    pub contact: String,
    pub expires_at: std::time::Instant,
}

/// The running front door.
#[derive(Clone)]
pub struct SipServer {
    socket: Arc<UdpSocket>,
    shared: Arc<Mutex<Shared>>,
    state: AppState,
    options: Arc<VoiceOptions>,
    /// Signs the digest nonces Dasan hands out (random at each start).
    nonce_key: Arc<[u8; 32]>,
}

impl SipServer {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn counts(&self) -> SipCounts {
        self.shared.lock().map(|s| s.counts).unwrap_or_default()
    }

    /// Where an agent's phone is registered, if it is.
    pub fn binding_of(&self, user_id: Uuid) -> Option<Binding> {
        let now = std::time::Instant::now();
        self.shared.lock().ok().and_then(|shared| {
            let username = shared.binding_of_user.get(&user_id)?;
            shared
                .bindings
                .get(username)
                .filter(|b| b.user_id == user_id && b.expires_at > now)
                .cloned()
        })
    }
}

/// Serves SIP on `socket` until `closed` resolves.
pub fn start(
    socket: UdpSocket,
    state: AppState,
    options: VoiceOptions,
    closed: impl std::future::Future<Output = ()> + Send + 'static,
) -> SipServer {
    crate::observability::install();
    grow_receive_buffer(&socket);
    let server = SipServer {
        socket: Arc::new(socket),
        shared: Arc::new(Mutex::new(Shared::default())),
        state,
        options: Arc::new(options),
        nonce_key: Arc::new({
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).unwrap_or_default();
            key
        }),
    };
    tokio::spawn(
        server
            .clone()
            .watch_offers(server.state.floor.offer_notices()),
    );
    // The video edge places relay calls through this front door.
    let _ = server.state.voice.set(server.clone());
    let running = server.clone();
    // Unconstrained: the loop reads while datagrams wait instead of
    // yielding to tokio's co-operative budget, which under load put it
    // behind thousands of calls' media tasks and delayed answers into the
    // peers' retransmissions.
    tokio::spawn(tokio::task::unconstrained(async move {
        tokio::pin!(closed);
        // The first phone number parsed loads the numbering metadata (about
        // 0.2 s). Inside the receive loop, at the first call, that held up every
        // datagram behind it: at 1,000 calls a second the socket's buffer
        // overflowed and early calls lost their keypad choice or got a second
        // answer. Loaded here, before anything is received.
        let _ = PhoneNumber::parse("010-2222-1200");
        let mut buffer = vec![0u8; 65_535];
        loop {
            tokio::select! {
                () = &mut closed => return,
                received = running.socket.recv_from(&mut buffer) => match received {
                    Ok((n, peer)) => {
                        let started = std::time::Instant::now();
                        running.handle(&buffer[..n], Peer::Udp(peer)).await;
                        let took = started.elapsed().as_micros() as u64;
                        if took > 1_000 {
                            let kind = datagram_kind(&buffer[..n]);
                            running.count(|c| {
                                if took > c.slowest_handle_micros {
                                    c.slowest_handle_kind = kind;
                                }
                                c.slowest_handle_micros = c.slowest_handle_micros.max(took);
                                if took > 50_000 {
                                    c.slow_handles += 1;
                                }
                            });
                        }
                    }
                    Err(error) => tracing::debug!(%error, "sip: receive failed"),
                },
            }
        }
    }));
    server
}

/// What the SIP socket's receive buffer is asked to hold: about two
/// seconds of datagrams at 1,000 calls a second (the process stopped for
/// one second in the bridge benchmark found 3.9 MB queued, none dropped).
/// Linux's default (208 KiB) overflows behind a stall of some 50 ms at
/// that rate, and every datagram lost there comes back as a
/// retransmission.
pub const SIP_RECEIVE_BUFFER: usize = 8 << 20;

/// Grows the SIP socket's receive buffer to [`SIP_RECEIVE_BUFFER`]: past
/// `net.core.rmem_max` when the process may (`CAP_NET_ADMIN`), else up to
/// it. Logs the size obtained.
fn grow_receive_buffer(socket: &UdpSocket) {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    if setsockopt(socket, sockopt::RcvBufForce, &SIP_RECEIVE_BUFFER).is_err() {
        let _ = setsockopt(socket, sockopt::RcvBuf, &SIP_RECEIVE_BUFFER);
    }
    // Linux reports twice the size asked (its bookkeeping share included).
    let got = getsockopt(socket, sockopt::RcvBuf).unwrap_or(0) / 2;
    if got < SIP_RECEIVE_BUFFER {
        tracing::warn!(
            bytes = got,
            wanted = SIP_RECEIVE_BUFFER,
            "sip: the receive buffer is small for bursts of calls; raise net.core.rmem_max"
        );
    } else {
        tracing::info!(bytes = got, "sip: receive buffer");
    }
}

/// The first word of a datagram and, for a response, its code and the
/// CSeq method (`SIP/2.0 200 INVITE`), for the slow-handling counter.
fn datagram_kind(datagram: &[u8]) -> [u8; 16] {
    let text = String::from_utf8_lossy(&datagram[..datagram.len().min(2048)]);
    let first = text.lines().next().unwrap_or_default();
    let mut kind = if first.starts_with("SIP/2.0") {
        let code = first.split_whitespace().nth(1).unwrap_or("?");
        let method = text
            .lines()
            .find_map(|l| l.strip_prefix("CSeq:").or(l.strip_prefix("cseq:")))
            .and_then(|v| v.split_whitespace().nth(1))
            .unwrap_or("?");
        format!("{code} {method}")
    } else {
        first.split_whitespace().next().unwrap_or("?").to_owned()
    };
    kind.truncate(16);
    let mut out = [b' '; 16];
    out[..kind.len()].copy_from_slice(kind.as_bytes());
    out
}

/// Serves SIP over TCP on `listener` with the same element as `server`:
/// messages framed by Content-Length (required on a stream), answers on the
/// connection they came by. A malformed message closes its connection.
pub fn start_tcp(
    listener: tokio::net::TcpListener,
    server: SipServer,
    closed: impl std::future::Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(async move {
        tokio::pin!(closed);
        loop {
            tokio::select! {
                () = &mut closed => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tokio::spawn(server.clone().connection(stream, peer));
                    }
                    Err(error) => {
                        // Out of descriptors: wait rather than spin.
                        tracing::warn!(%error, "sip: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    });
}

impl SipServer {
    async fn connection(self, stream: tokio::net::TcpStream, address: SocketAddr) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut reader, mut writer) = stream.into_split();
        let (outgoing, mut queue) = mpsc::channel::<Vec<u8>>(64);
        tokio::spawn(async move {
            while let Some(bytes) = queue.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        let peer = Peer::Tcp(address, outgoing);
        let mut buffer: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            // An idle or stalled connection is closed (phones re-register
            // and keep their connections alive well within this).
            match tokio::time::timeout(TCP_IDLE, reader.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
            }
            loop {
                let start = buffer
                    .iter()
                    .take_while(|b| **b == b'\r' || **b == b'\n')
                    .count();
                buffer.drain(..start);
                if buffer.is_empty() {
                    break;
                }
                match parse(&buffer) {
                    Ok((message, used)) => {
                        if message.header("content-length").is_none() {
                            tracing::debug!("sip: a message without Content-Length on TCP");
                            self.count(|c| c.dropped += 1);
                            return;
                        }
                        let bytes: Vec<u8> = buffer.drain(..used).collect();
                        self.handle(&bytes, peer.clone()).await;
                    }
                    Err(error)
                        if error.is_incomplete()
                            && buffer.len() <= dasan_sip::MAX_MESSAGE_BYTES =>
                    {
                        break;
                    }
                    Err(error) => {
                        tracing::debug!(code = error.code, reason = %error.reason, "sip: malformed message on TCP; closing");
                        self.count(|c| c.dropped += 1);
                        return;
                    }
                }
            }
        }
    }
}

/// A fresh tag (also the random part of a branch): 64 random bits in hex.
/// RFC 3261 asks for globally unique, random tags, not secret ones: each
/// thread draws a seed from the system once and steps SplitMix64 from it,
/// rather than making a `getrandom` system call for each of the several
/// tags and branches of every call (2.7% of Dasan's CPU at 800 calls a
/// second).
fn tag() -> String {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new({
            let mut seed = [0u8; 8];
            getrandom::fill(&mut seed).unwrap_or_default();
            u64::from_le_bytes(seed)
        });
    }
    let mut z = STATE.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        next
    });
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}", z ^ (z >> 31))
}

impl SipServer {
    fn count(&self, f: impl FnOnce(&mut SipCounts)) {
        if let Ok(mut shared) = self.shared.lock() {
            f(&mut shared.counts);
        }
    }

    async fn send(&self, bytes: &[u8], peer: &Peer) {
        match peer {
            Peer::Udp(address) => {
                // Never waits: with a peer that stops reading, loopback
                // delivery fills this socket's send buffer, and waiting here
                // would stall every call's signalling. A dropped message is
                // retransmitted by the transaction layer, as a lost one is.
                if let Err(error) = self.socket.try_send_to(bytes, *address) {
                    self.count(|c| c.send_dropped += 1);
                    tracing::debug!(%error, "sip: send failed");
                }
            }
            Peer::Tcp(_, connection) => {
                // A peer that stops reading loses messages rather than
                // holding up everyone else's.
                if connection.try_send(bytes.to_vec()).is_err() {
                    tracing::debug!("sip: a TCP peer is not reading; message dropped");
                }
            }
        }
    }

    async fn handle(&self, datagram: &[u8], peer: Peer) {
        // Keep-alives (CRLF pings) are answered by nothing.
        if datagram.iter().all(|b| *b == b'\r' || *b == b'\n') {
            return;
        }
        let message = match parse(datagram) {
            Ok((message, _)) => message,
            Err(error) => {
                tracing::debug!(code = error.code, reason = %error.reason, "sip: malformed message dropped");
                self.count(|c| c.dropped += 1);
                return;
            }
        };
        let StartLine::Request { method, .. } = &message.start else {
            // Responses to Dasan's requests (the agent legs, BYEs).
            self.on_response(&message).await;
            return;
        };
        if let Err(error) = message.check_request(&SUPPORTED) {
            self.count(|c| c.refused += 1);
            if method != "ACK" {
                let response = message.response(error.code, &error.reason, Some(&tag()), &[], b"");
                self.send(&response, &peer).await;
            }
            return;
        }
        let call_id = message.header("call-id").unwrap_or_default().to_owned();
        match method.as_str() {
            "OPTIONS" => {
                self.count(|c| c.options += 1);
                let response = message.response(200, "OK", Some(&tag()), &allow(), b"");
                self.send(&response, &peer).await;
            }
            "INVITE" | "INFO"
                if self.in_agent_leg(&message, &call_id, &peer).await
                    || self.in_relay_leg(&message, &call_id, &peer).await => {}
            "INVITE" => self.invite(&message, call_id, peer).await,
            "REGISTER" => {
                // It reads the store: off the receive loop, so one slow read
                // does not hold up other calls' messages.
                let server = self.clone();
                tokio::spawn(async move { server.register(&message, &peer).await });
            }
            "ACK" => {
                let acked = self.shared.lock().is_ok_and(|mut shared| {
                    match shared.dialogs.get_mut(&call_id) {
                        Some(dialog) if dialog.state == DialogState::Answered => {
                            dialog.state = DialogState::Confirmed;
                            true
                        }
                        _ => false,
                    }
                });
                if acked {
                    self.count(|c| c.acked += 1);
                }
            }
            "BYE" => {
                let dialog = self
                    .shared
                    .lock()
                    .ok()
                    .and_then(|mut shared| shared.dialogs.remove(&call_id));
                let ended = dialog.is_some();
                if let Some(dialog) = dialog {
                    self.hang_up(dialog, "caller").await;
                } else if self.agent_bye(&call_id).await || self.relay_bye(&call_id).await {
                    self.count(|c| c.ended += 1);
                    let response = message.response(200, "OK", None, &[], b"");
                    self.send(&response, &peer).await;
                    return;
                }
                let response = if ended {
                    self.count(|c| c.ended += 1);
                    message.response(200, "OK", None, &[], b"")
                } else {
                    no_dialog(&message)
                };
                self.send(&response, &peer).await;
            }
            "CANCEL" => {
                // Calls are answered at once: a CANCEL finds them answered
                // (200 to the CANCEL, the call goes on) or unknown (481).
                let known = self
                    .shared
                    .lock()
                    .is_ok_and(|shared| shared.dialogs.contains_key(&call_id));
                let response = if known {
                    message.response(200, "OK", None, &[], b"")
                } else {
                    no_dialog(&message)
                };
                self.send(&response, &peer).await;
            }
            "INFO" => {
                let digits = self
                    .shared
                    .lock()
                    .ok()
                    .and_then(|shared| shared.dialogs.get(&call_id).map(|d| d.digits.clone()));
                let response = match digits {
                    Some(digits) => {
                        let relay = message
                            .header("content-type")
                            .is_some_and(|t| t.eq_ignore_ascii_case("application/dtmf-relay"));
                        // Never waits on the call's menu task: the
                        // receive loop serves every call.
                        if relay
                            && let Some(digit) = info_digit(&message.body)
                            && digits.try_send(digit).is_err()
                        {
                            tracing::debug!("sip: a keypad digit was dropped (32 unread)");
                        }
                        message.response(200, "OK", None, &[], b"")
                    }
                    None => no_dialog(&message),
                };
                self.send(&response, &peer).await;
            }
            _ => {
                let response =
                    message.response(405, "Method Not Allowed", Some(&tag()), &allow(), b"");
                self.send(&response, &peer).await;
            }
        }
    }

    async fn invite(&self, message: &Message, call_id: String, peer: Peer) {
        let branch = message.branch();
        // A retransmission: the same response again.
        let previous = self.shared.lock().ok().and_then(|shared| {
            shared
                .dialogs
                .get(&call_id)
                .filter(|d| d.invite_branch == branch)
                .map(|d| d.invite_response.clone())
        });
        if let Some(response) = previous {
            self.send(&response, &peer).await;
            return;
        }
        // A re-INVITE in the dialog (hold, a session refresh): the session
        // stays as it is and the same answer goes back.
        let to_tag = message
            .header("to")
            .and_then(parse_name_addr)
            .and_then(|to| to.param("tag").map(str::to_owned));
        let again = self.shared.lock().ok().and_then(|mut shared| {
            let dialog = shared.dialogs.get_mut(&call_id)?;
            if to_tag.as_deref() != Some(dialog.to_tag.as_str()) {
                return None;
            }
            let local = self
                .socket
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5060)));
            let mut extra = allow();
            extra.push(("Contact", format!("<sip:ivr@{local}>")));
            extra.push(("Content-Type", "application/sdp".to_owned()));
            let ok = message.response(200, "OK", None, &extra, dialog.sdp.as_bytes());
            dialog.invite_branch = branch.clone();
            dialog.invite_response = ok.clone();
            Some(ok)
        });
        if let Some(ok) = again {
            self.send(&ok, &peer).await;
            return;
        }
        // Another INVITE with this Call-ID outside the dialog: the call so
        // far ends before the new one starts, so nothing of it is left
        // running.
        let replaced = self
            .shared
            .lock()
            .ok()
            .and_then(|mut shared| shared.dialogs.remove(&call_id));
        if let Some(old) = replaced {
            self.hang_up(old, "caller").await;
        }
        // Calls come from the trunks (loopback when none is configured), or
        // from phones that authenticate with a SIP account.
        if !self.options.trusts(peer.address().ip())
            && self.authenticate(message, &peer).await.is_err()
        {
            return;
        }
        self.count(|c| c.invites += 1);
        let full = self
            .shared
            .lock()
            .is_ok_and(|shared| shared.dialogs.len() >= MAX_DIALOGS);
        if full {
            let response = message.response(503, "Service Unavailable", Some(&tag()), &[], b"");
            self.send(&response, &peer).await;
            return;
        }
        let trying = message.response(100, "Trying", None, &[], b"");
        self.send(&trying, &peer).await;
        let to_tag = tag();
        let local = self
            .socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5060)));
        let Some(offer) = media::parse_offer(&String::from_utf8_lossy(&message.body)) else {
            let response = message.response(488, "Not Acceptable Here", Some(&to_tag), &[], b"");
            self.send(&response, &peer).await;
            return;
        };
        let rtp = match UdpSocket::bind(SocketAddr::new(local.ip(), 0)).await {
            Ok(rtp) => rtp,
            Err(error) => {
                tracing::warn!(%error, "sip: no RTP port");
                let response =
                    message.response(503, "Service Unavailable", Some(&to_tag), &[], b"");
                self.send(&response, &peer).await;
                return;
            }
        };
        let rtp_local = rtp.local_addr().unwrap_or(local);
        let sdp = media::answer_sdp(rtp_local, &offer, &tag());
        let (control, control_rx) = mpsc::channel(8);
        let (digits, digits_rx) = mpsc::channel(32);
        let counts = Arc::new(MediaCounts::default());
        let media_task = media::run(
            rtp,
            offer.address,
            offer.clone(),
            self.options.prompts.greeting.audio(offer.payload),
            control_rx,
            digits.clone(),
            counts.clone(),
        );
        let watcher = self.clone();
        let watched = call_id.clone();
        tokio::spawn(async move {
            if media_task.await == media::Ended::Silent {
                tracing::info!("sip: a silent call was ended");
                let dialog = watcher
                    .shared
                    .lock()
                    .ok()
                    .and_then(|mut shared| shared.dialogs.remove(&watched));
                if let Some(dialog) = dialog {
                    watcher.hang_up(dialog, "timeout").await;
                }
            }
        });
        let from = message.header("from").unwrap_or_default().to_owned();
        let caller = parse_name_addr(&from).and_then(|from| caller_number(&from.uri));
        let dialled = match &message.start {
            StartLine::Request { uri, .. } => uri
                .split_once(':')
                .map(|(_, rest)| rest.split(['@', ';']).next().unwrap_or_default())
                .unwrap_or_default()
                .chars()
                .take(64)
                .collect(),
            StartLine::Response { .. } => String::new(),
        };
        let interaction = Arc::new(Mutex::new(OnFloor {
            interaction: None,
            ended: false,
            leg: None,
            bridged: false,
            surveying: false,
            record: CallRecord {
                id: Uuid::now_v7(),
                interaction_id: None,
                caller: caller.as_ref().map(|c| c.e164().to_owned()),
                dialled,
                queue: None,
                started_at: crate::now().millis(),
                queued_at: None,
                answered_at: None,
                ended_at: 0,
                outcome: String::new(),
                ended_by: String::new(),
                agent_id: None,
                agents_rung: 0,
                packets_from_caller: 0,
                packets_from_agent: 0,
                lost_from_caller: 0,
                lost_from_agent: 0,
                survey_score: None,
            },
        }));
        let caller_side = CallerSide {
            peer: peer.clone(),
            target: message
                .header("contact")
                .and_then(parse_name_addr)
                .or_else(|| parse_name_addr(&from))
                .map(|a| a.uri)
                .unwrap_or_default(),
            from: format!("{};tag={to_tag}", message.header("to").unwrap_or_default()),
            to: from.clone(),
        };
        tokio::spawn(self.clone().menu_choice(
            digits_rx,
            control.clone(),
            caller,
            interaction.clone(),
            offer.payload,
            call_id.clone(),
        ));
        let mut extra = allow();
        extra.push(("Contact", format!("<sip:ivr@{local}>")));
        extra.push(("Content-Type", "application/sdp".to_owned()));
        let ok = message.response(200, "OK", Some(&to_tag), &extra, sdp.as_bytes());
        if let Ok(mut shared) = self.shared.lock() {
            shared.dialogs.insert(
                call_id.clone(),
                Dialog {
                    to_tag,
                    state: DialogState::Answered,
                    invite_response: ok.clone(),
                    sdp,
                    invite_branch: branch,
                    media: control,
                    counts,
                    digits,
                    floor: interaction,
                    offer,
                    caller: caller_side,
                },
            );
            shared.counts.answered += 1;
        }
        self.send(&ok, &peer).await;
        // Timer G: the 200 again until the ACK (over UDP only; a stream
        // delivers it); timer H: give up.
        let reliable = peer.reliable();
        let server = self.clone();
        tokio::spawn(async move {
            let mut wait = if reliable { TIMER_H } else { T1 };
            let mut waited = Duration::ZERO;
            loop {
                tokio::time::sleep(wait).await;
                waited += wait;
                let pending = server.shared.lock().ok().and_then(|shared| {
                    shared
                        .dialogs
                        .get(&call_id)
                        .filter(|d| d.state == DialogState::Answered)
                        .map(|d| (d.invite_response.clone(), d.to_tag.clone()))
                });
                let Some((response, _)) = pending else {
                    return;
                };
                if waited >= TIMER_H {
                    let dialog = server
                        .shared
                        .lock()
                        .ok()
                        .and_then(|mut shared| shared.dialogs.remove(&call_id));
                    if let Some(dialog) = dialog {
                        server.hang_up(dialog, "timeout").await;
                    }
                    tracing::debug!("sip: no ACK for an answered call; dropped");
                    return;
                }
                server.send(&response, &peer).await;
                wait = (wait * 2).min(T2);
                // (Over TCP the first wait is timer H itself.)
            }
        });
    }
}

fn allow() -> Vec<(&'static str, String)> {
    vec![("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS".to_owned())]
}

/// 481: the request names no dialog Dasan has.
fn no_dialog(message: &Message) -> Vec<u8> {
    message.response(
        481,
        "Call/Transaction Does Not Exist",
        Some(&tag()),
        &[],
        b"",
    )
}

/// The digit of a SIP INFO `application/dtmf-relay` body (`Signal=5`).
fn info_digit(body: &[u8]) -> Option<char> {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .find(|l| l.trim_start().to_ascii_lowercase().starts_with("signal"))?;
    let value = line.split_once('=')?.1.trim();
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_digit() || "*#ABCD".contains(c) => Some(c),
        _ => None,
    }
}

/// The caller's number from a From URI (`sip:01022221200@...`, `tel:...`).
fn caller_number(uri: &str) -> Option<PhoneNumber> {
    let rest = uri.split_once(':')?.1;
    let user = rest.split(['@', ';']).next()?;
    PhoneNumber::parse(user).ok()
}

impl SipServer {
    /// Waits for the caller's menu choice and queues the call; after an
    /// agent's hang-up with the phone survey on, takes the score.
    async fn menu_choice(
        self,
        mut digits: mpsc::Receiver<char>,
        control: mpsc::Sender<Control>,
        caller: Option<PhoneNumber>,
        interaction: Arc<Mutex<OnFloor>>,
        payload: u8,
        call_id: String,
    ) {
        while let Some(digit) = digits.recv().await {
            let surveying = interaction.lock().is_ok_and(|call| call.surveying);
            if surveying {
                if let Some(score) = digit.to_digit(10).filter(|d| (1..=5).contains(d)) {
                    self.survey_answered(
                        &interaction,
                        i64::from(score),
                        &control,
                        payload,
                        &call_id,
                    )
                    .await;
                }
                continue;
            }
            let Some(category) = self.options.menu.choice(digit).cloned() else {
                continue;
            };
            let Some(phone) = caller.clone() else {
                tracing::warn!("sip: a call without a usable caller number cannot be queued");
                continue;
            };
            let queued = {
                let Ok(mut call) = interaction.lock() else {
                    return;
                };
                if call.ended {
                    return;
                }
                if call.interaction.is_some() {
                    continue;
                }
                // The id is known before the floor hears of the call: an
                // agent free at once is offered it inside `add_interaction`,
                // and the ringing looks the call up by it.
                let id = Uuid::now_v7();
                if let Ok(mut shared) = self.shared.lock() {
                    shared.by_interaction.insert(id, call_id.clone());
                }
                let added = self
                    .state
                    .floor
                    .queue_interaction(crate::floor::NewInteraction {
                        id: Some(id),
                        channel: Channel::Voice,
                        citizen_phone: phone,
                        category: category.clone(),
                        required_skills: Vec::new(),
                        priority: 0,
                    });
                match added {
                    Ok(id) => {
                        call.interaction = Some(id);
                        call.record.interaction_id = Some(id);
                        call.record.queue = category.map(|c| c.to_string());
                        call.record.queued_at = Some(crate::now().millis());
                        true
                    }
                    Err(error) => {
                        tracing::warn!(%error, "sip: the call could not be queued");
                        if let Ok(mut shared) = self.shared.lock()
                            && shared.by_interaction.get(&id) == Some(&call_id)
                        {
                            shared.by_interaction.remove(&id);
                        }
                        false
                    }
                }
            };
            if queued {
                self.count(|c| c.queued += 1);
                let _ = control
                    .send(Control::Play(self.options.prompts.queue.audio(payload)))
                    .await;
            }
        }
    }

    /// The caller's leg ended (BYE either way, time-out): media stops; a
    /// call still waiting is abandoned; a ringing or bridged agent leg
    /// ends; the call's record is stored.
    async fn hang_up(&self, dialog: Dialog, ended_by: &str) {
        let _ = dialog.media.send(Control::Stop).await;
        let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        let (sent, received) = (load(&dialog.counts.sent), load(&dialog.counts.received));
        self.count(|c| {
            c.rtp_sent += sent;
            c.rtp_received += received;
        });
        metrics::counter!("dasan_rtp_packets_total", "direction" => "sent").increment(sent);
        metrics::counter!("dasan_rtp_packets_total", "direction" => "received").increment(received);
        let ended = dialog.floor.lock().ok().map(|mut call| {
            call.ended = true;
            call.surveying = false;
            let waiting = call.interaction.filter(|_| !call.bridged);
            let record = &mut call.record;
            record.ended_at = crate::now().millis().max(record.started_at);
            if record.ended_by.is_empty() {
                record.ended_by = ended_by.to_owned();
            }
            record.outcome = if record.answered_at.is_some() {
                "answered"
            } else if record.queued_at.is_some() {
                "abandoned"
            } else {
                "ivr"
            }
            .to_owned();
            record.packets_from_caller = load(&dialog.counts.from_caller);
            record.packets_from_agent = load(&dialog.counts.from_agent);
            record.lost_from_caller = load(&dialog.counts.lost_from_caller);
            record.lost_from_agent = load(&dialog.counts.lost_from_agent);
            (waiting, call.leg.take(), call.bridged, call.record.clone())
        });
        let Some((waiting, leg, bridged, record)) = ended else {
            return;
        };
        if let Some(id) = waiting
            && self.state.floor.abandon(id).is_ok()
        {
            self.count(|c| c.abandoned += 1);
        }
        if let Some(leg) = leg {
            self.end_leg(&leg).await;
        }
        if bridged {
            self.count(|c| c.bridged += 1);
        }
        if let Some(id) = record.interaction_id
            && let Ok(mut shared) = self.shared.lock()
        {
            shared.by_interaction.remove(&id);
        }
        // Off the receive loop: a slow write holds up no one's messages.
        let store = self.state.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.record_call(&record).await {
                tracing::error!(%error, "sip: the call record could not be stored");
            }
        });
    }
}

/// The digest realm of Dasan's SIP accounts.
pub const REALM: &str = "dasan";
/// How long a nonce may be answered.
const NONCE_SECONDS: u64 = 300;
/// The longest registration granted.
const MAX_EXPIRES: u64 = 3_600;

fn md5_hex(text: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `MD5(username:realm:password)`, what the store keeps for an account.
pub fn ha1(username: &str, password: &str) -> String {
    md5_hex(&format!("{username}:{REALM}:{password}"))
}

/// The digest `response` without qop (RFC 2617 §3.2.2.1): what a client
/// answering Dasan's challenge for `method uri` sends.
pub fn digest_response(ha1: &str, nonce: &str, method: &str, uri: &str) -> String {
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
}

/// `key="value"` / `key=value` pairs of a Digest credential.
fn digest_params(value: &str) -> Option<HashMap<String, String>> {
    let rest = value.trim().strip_prefix("Digest")?.trim_start();
    let mut params = HashMap::new();
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i].is_ascii_whitespace()) {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' {
            i += 1;
        }
        let key = rest.get(start..i)?.trim().to_ascii_lowercase();
        i += 1;
        let value = if bytes.get(i) == Some(&b'"') {
            let open = i + 1;
            let close = open + rest.get(open..)?.find('"')?;
            i = close + 1;
            rest.get(open..close)?.to_owned()
        } else {
            let open = i;
            while i < bytes.len() && bytes[i] != b',' {
                i += 1;
            }
            rest.get(open..i)?.trim().to_owned()
        };
        if !key.is_empty() {
            params.insert(key, value);
        }
    }
    Some(params)
}

impl SipServer {
    fn nonce(&self, seconds: u64) -> String {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.nonce_key[..])
            .expect("any key length");
        mac.update(&seconds.to_be_bytes());
        let tag: String = mac.finalize().into_bytes()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{seconds:x}{tag}")
    }

    /// A nonce this server issued in the last five minutes.
    fn nonce_fresh(&self, nonce: &str, now: u64) -> bool {
        let Some(split) = nonce.len().checked_sub(24) else {
            return false;
        };
        let Some(seconds) = nonce
            .get(..split)
            .and_then(|s| u64::from_str_radix(s, 16).ok())
        else {
            return false;
        };
        now.saturating_sub(seconds) <= NONCE_SECONDS && self.nonce(seconds) == nonce
    }

    /// Digest authentication of a request (RFC 3261 §22, RFC 2617) against
    /// the SIP accounts: the account, or whether wrong credentials were
    /// refused (403) — the response (401 with a challenge, 403, 500) is
    /// already sent.
    async fn authenticate(
        &self,
        message: &Message,
        peer: &Peer,
    ) -> Result<dasan_store::sip::SipAccount, bool> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let challenge = |stale: bool| {
            let stale = if stale { ", stale=true" } else { "" };
            vec![(
                "WWW-Authenticate",
                format!(
                    "Digest realm=\"{REALM}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{stale}",
                    self.nonce(now)
                ),
            )]
        };
        let credentials = message.header("authorization").and_then(digest_params);
        let fresh = credentials
            .as_ref()
            .is_some_and(|c| self.nonce_fresh(c.get("nonce").map_or("", String::as_str), now));
        let Some(credentials) = credentials.filter(|_| fresh) else {
            let stale = message.header("authorization").is_some();
            let response =
                message.response(401, "Unauthorized", Some(&tag()), &challenge(stale), b"");
            self.send(&response, peer).await;
            return Err(false);
        };
        let field = |k: &str| credentials.get(k).map(String::as_str).unwrap_or("");
        let account = match self.state.store.sip_account(field("username")).await {
            Ok(account) => account,
            Err(error) => {
                tracing::error!(%error, "sip: cannot read the SIP accounts");
                let response =
                    message.response(500, "Server Internal Error", Some(&tag()), &[], b"");
                self.send(&response, peer).await;
                return Err(false);
            }
        };
        let method = message.method().unwrap_or_default();
        let ha2 = md5_hex(&format!("{method}:{}", field("uri")));
        let valid = account.as_ref().is_some_and(|account| {
            let expected = if field("qop").is_empty() {
                md5_hex(&format!("{}:{}:{ha2}", account.ha1, field("nonce")))
            } else {
                md5_hex(&format!(
                    "{}:{}:{}:{}:{}:{ha2}",
                    account.ha1,
                    field("nonce"),
                    field("nc"),
                    field("cnonce"),
                    field("qop")
                ))
            };
            field("realm") == REALM && expected.eq_ignore_ascii_case(field("response"))
        });
        match account.filter(|_| valid) {
            Some(account) => Ok(account),
            None => {
                self.count(|c| c.unauthorized += 1);
                tracing::warn!(method, "sip: a request with wrong credentials was refused");
                let response = message.response(403, "Forbidden", Some(&tag()), &[], b"");
                self.send(&response, peer).await;
                Err(true)
            }
        }
    }

    /// REGISTER: a challenge first, then the binding for the account's
    /// credentials.
    async fn register(&self, message: &Message, peer: &Peer) {
        let account = match self.authenticate(message, peer).await {
            Ok(account) => account,
            Err(refused) => {
                if refused {
                    metrics::counter!("dasan_sip_registrations_total", "result" => "refused")
                        .increment(1);
                }
                return;
            }
        };
        let contact = message.header("contact").unwrap_or_default().to_owned();
        let expires = message
            .header("expires")
            .and_then(|e| e.trim().parse::<u64>().ok())
            .or_else(|| {
                parse_name_addr(&contact)
                    .and_then(|c| c.param("expires").and_then(|e| e.parse().ok()))
            })
            .unwrap_or(MAX_EXPIRES)
            .min(MAX_EXPIRES);
        if let Ok(mut shared) = self.shared.lock() {
            if expires == 0 {
                shared.bindings.remove(&account.username);
                if shared.binding_of_user.get(&account.user_id) == Some(&account.username) {
                    shared.binding_of_user.remove(&account.user_id);
                }
            } else {
                shared
                    .binding_of_user
                    .insert(account.user_id, account.username.clone());
                shared.bindings.insert(
                    account.username.clone(),
                    Binding {
                        user_id: account.user_id,
                        address: peer.address(),
                        peer: peer.clone(),
                        contact: contact.clone(),
                        expires_at: std::time::Instant::now() + Duration::from_secs(expires),
                    },
                );
            }
            shared.counts.registered += 1;
        }
        metrics::counter!("dasan_sip_registrations_total", "result" => "ok").increment(1);
        let mut extra = vec![("Expires", expires.to_string())];
        if expires > 0 && !contact.is_empty() {
            extra.push(("Contact", format!("{contact};expires={expires}")));
        }
        let response = message.response(200, "OK", Some(&tag()), &extra, b"");
        self.send(&response, peer).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_sixteen_hex_digits_and_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let tag = tag();
            assert_eq!(tag.len(), 16);
            assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(seen.insert(tag), "a tag came twice");
        }
        // Another thread starts from its own seed.
        let other = std::thread::spawn(tag).join().expect("thread");
        assert!(!seen.contains(&other));
    }

    #[tokio::test]
    async fn the_sip_socket_gets_a_receive_buffer_for_bursts() {
        use nix::sys::socket::{getsockopt, sockopt};
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let before = getsockopt(&socket, sockopt::RcvBuf).expect("read") / 2;
        grow_receive_buffer(&socket);
        let after = getsockopt(&socket, sockopt::RcvBuf).expect("read") / 2;
        let limit: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        // As root (CAP_NET_ADMIN) past the system's limit; else up to it.
        let root = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("Uid:"))?;
                Some(line.split_whitespace().nth(2)? == "0")
            })
            .unwrap_or(false);
        let expected = if root {
            SIP_RECEIVE_BUFFER
        } else {
            SIP_RECEIVE_BUFFER.min(limit).max(before)
        };
        assert!(
            after >= expected,
            "receive buffer {after} bytes (was {before}, limit {limit}, root {root})"
        );
    }

    #[test]
    fn digest_credentials_parse_and_rfc_2617s_example_holds() {
        let params = digest_params(
            r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .expect("parses");
        assert_eq!(params["username"], "Mufasa");
        assert_eq!(params["nc"], "00000001");
        // RFC 2617 §3.5, computed the way `register` does (method GET there).
        let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = md5_hex("GET:/dir/index.html");
        let response = md5_hex(&format!(
            "{ha1}:{}:{}:{}:{}:{ha2}",
            params["nonce"], params["nc"], params["cnonce"], params["qop"]
        ));
        assert_eq!(response, params["response"]);
        assert!(digest_params("Basic abc").is_none());
        assert!(digest_params("Digest username=\"open").is_none());
    }

    #[test]
    fn trunk_networks_parse_and_match() {
        let net = Network::parse("10.1.2.0/24").expect("parses");
        assert!(net.contains("10.1.2.77".parse().expect("ip")));
        assert!(!net.contains("10.1.3.1".parse().expect("ip")));
        assert!(!net.contains("::1".parse().expect("ip")));
        let one = Network::parse("127.0.0.2").expect("parses");
        assert!(one.contains("127.0.0.2".parse().expect("ip")));
        assert!(!one.contains("127.0.0.1".parse().expect("ip")));
        assert!(
            Network::parse("0.0.0.0/0")
                .expect("any")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        assert!(
            Network::parse("2001:db8::/32")
                .expect("v6")
                .contains("2001:db8::5".parse().expect("ip"))
        );
        for bad in ["", "10.1.2.0/33", "host", "10.1.2.0/x", "::/129"] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
        let options = VoiceOptions::default();
        assert!(options.trusts("127.0.0.1".parse().expect("ip")));
        assert!(!options.trusts("10.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn menus_parse_strictly() {
        let menu = Menu::default();
        assert_eq!(menu.0.len(), 4);
        assert!(Menu::parse("1=water,12=transport").is_err());
        assert!(Menu::parse("x=water").is_err());
        assert!(Menu::parse("1=no such category!").is_err());
    }
}
