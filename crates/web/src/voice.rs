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
//! message names. The media (RTP, prompts, DTMF), the menu, queueing and the
//! bridge to agents are the next slices.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use dasan_sip::{Message, StartLine, parse};
use tokio::net::UdpSocket;

/// Extensions Dasan supports (for `Require`).
const SUPPORTED: [&str; 0] = [];
/// RFC 3261 timer values.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TIMER_H: Duration = Duration::from_secs(32);
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
    invite_branch: Option<String>,
}

/// Counters of what the front door did (for tests and metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SipCounts {
    pub invites: u64,
    pub answered: u64,
    pub acked: u64,
    pub ended: u64,
    pub options: u64,
    pub refused: u64,
    pub dropped: u64,
}

#[derive(Default)]
struct Shared {
    dialogs: HashMap<String, Dialog>,
    counts: SipCounts,
}

/// The running front door.
#[derive(Clone)]
pub struct SipServer {
    socket: Arc<UdpSocket>,
    shared: Arc<Mutex<Shared>>,
}

impl SipServer {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn counts(&self) -> SipCounts {
        self.shared.lock().map(|s| s.counts).unwrap_or_default()
    }
}

/// Serves SIP on `socket` until `closed` resolves.
pub fn start(
    socket: UdpSocket,
    closed: impl std::future::Future<Output = ()> + Send + 'static,
) -> SipServer {
    let server = SipServer {
        socket: Arc::new(socket),
        shared: Arc::new(Mutex::new(Shared::default())),
    };
    let running = server.clone();
    tokio::spawn(async move {
        tokio::pin!(closed);
        let mut buffer = vec![0u8; 65_535];
        loop {
            tokio::select! {
                () = &mut closed => return,
                received = running.socket.recv_from(&mut buffer) => match received {
                    Ok((n, peer)) => running.handle(&buffer[..n], peer).await,
                    Err(error) => tracing::debug!(%error, "sip: receive failed"),
                },
            }
        }
    });
    server
}

fn tag() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SipServer {
    fn count(&self, f: impl FnOnce(&mut SipCounts)) {
        if let Ok(mut shared) = self.shared.lock() {
            f(&mut shared.counts);
        }
    }

    async fn send(&self, bytes: &[u8], peer: SocketAddr) {
        if let Err(error) = self.socket.send_to(bytes, peer).await {
            tracing::debug!(%error, "sip: send failed");
        }
    }

    async fn handle(&self, datagram: &[u8], peer: SocketAddr) {
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
            // Responses: Dasan sends no requests yet.
            return;
        };
        if let Err(error) = message.check_request(&SUPPORTED) {
            self.count(|c| c.refused += 1);
            if method != "ACK" {
                let response = message.response(error.code, &error.reason, Some(&tag()), &[], b"");
                self.send(&response, peer).await;
            }
            return;
        }
        let call_id = message.header("call-id").unwrap_or_default().to_owned();
        match method.as_str() {
            "OPTIONS" => {
                self.count(|c| c.options += 1);
                let response = message.response(200, "OK", Some(&tag()), &allow(), b"");
                self.send(&response, peer).await;
            }
            "INVITE" => self.invite(&message, call_id, peer).await,
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
                let ended = self
                    .shared
                    .lock()
                    .ok()
                    .and_then(|mut shared| shared.dialogs.remove(&call_id))
                    .is_some();
                let response = if ended {
                    self.count(|c| c.ended += 1);
                    message.response(200, "OK", None, &[], b"")
                } else {
                    message.response(
                        481,
                        "Call/Transaction Does Not Exist",
                        Some(&tag()),
                        &[],
                        b"",
                    )
                };
                self.send(&response, peer).await;
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
                    message.response(
                        481,
                        "Call/Transaction Does Not Exist",
                        Some(&tag()),
                        &[],
                        b"",
                    )
                };
                self.send(&response, peer).await;
            }
            _ => {
                let response =
                    message.response(405, "Method Not Allowed", Some(&tag()), &allow(), b"");
                self.send(&response, peer).await;
            }
        }
    }

    async fn invite(&self, message: &Message, call_id: String, peer: SocketAddr) {
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
            self.send(&response, peer).await;
            return;
        }
        self.count(|c| c.invites += 1);
        let full = self
            .shared
            .lock()
            .is_ok_and(|shared| shared.dialogs.len() >= MAX_DIALOGS);
        if full {
            let response = message.response(503, "Service Unavailable", Some(&tag()), &[], b"");
            self.send(&response, peer).await;
            return;
        }
        let trying = message.response(100, "Trying", None, &[], b"");
        self.send(&trying, peer).await;
        let to_tag = tag();
        let local = self
            .socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5060)));
        let sdp = answer_sdp(local);
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
                    invite_branch: branch,
                },
            );
            shared.counts.answered += 1;
        }
        self.send(&ok, peer).await;
        // Timer G: the 200 again until the ACK; timer H: give up.
        let server = self.clone();
        tokio::spawn(async move {
            let mut wait = T1;
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
                    if let Ok(mut shared) = server.shared.lock() {
                        shared.dialogs.remove(&call_id);
                    }
                    tracing::debug!("sip: no ACK for an answered call; dropped");
                    return;
                }
                server.send(&response, peer).await;
                wait = (wait * 2).min(T2);
            }
        });
    }
}

fn allow() -> Vec<(&'static str, String)> {
    vec![("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS".to_owned())]
}

/// The IVR's answer: G.711 µ-law and A-law with telephone-events.
fn answer_sdp(local: SocketAddr) -> String {
    let ip = local.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let session = tag();
    format!(
        "v=0\r\no=dasan {session} 1 IN {family} {ip}\r\ns=Dasan IVR\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
        port = local.port() + 2,
    )
}
