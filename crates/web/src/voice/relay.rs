//! Relay calls: during a sign-language video consultation the agent phones
//! a third party (a public office, a person the citizen names) and
//! interprets between the two — the citizen on video, the callee by voice.
//!
//! Dasan places both legs itself (third-party call control): first the
//! agent's registered phone rings; once the agent answers, the callee is
//! called through the outbound trunk (`VoiceOptions::outbound`); once the
//! callee answers, RTP is relayed between the two legs (both were offered
//! G.711 µ-law with telephone-event 101). A refusal or a hang-up on either
//! leg ends the other; the agent can also end it from the desktop. Each
//! step is reported to the video session ([`crate::video::relay_changed`]),
//! whose record keeps the relay.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use dasan_core::PhoneNumber;
use dasan_sip::{Message, parse_name_addr};
use tokio::{net::UdpSocket, sync::oneshot};
use uuid::Uuid;

use super::{
    Peer, SipServer, TIMER_H,
    bridge::{branch, request, via},
    media, tag,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Which {
    Agent,
    Callee,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RelayState {
    Calling,
    /// To be cancelled once the far end answers provisionally (RFC 3261
    /// §9.1: no CANCEL before a provisional response).
    CancelPending,
    Answered,
    /// Hung up or cancelled by Dasan; late answers are absorbed.
    Ended,
}

/// One leg Dasan placed for a relay.
#[derive(Debug)]
pub(super) struct RelayLeg {
    relay: Uuid,
    which: Which,
    peer: Peer,
    uri: String,
    from: String,
    to: String,
    branch: String,
    state: RelayState,
    remote_to: Option<String>,
    target: Option<String>,
    rtp: Option<UdpSocket>,
    /// A provisional response came.
    provisional: bool,
    /// The session Dasan offered, answered again to a re-INVITE.
    sdp: String,
}

/// How long a relay leg may ring before the relay gives up on it.
const RING_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A relay in progress.
#[derive(Debug)]
pub(super) struct RelayCall {
    session: Uuid,
    index: usize,
    callee_uri: String,
    agent_leg: String,
    callee_leg: Option<String>,
    /// The agent leg's RTP socket and the phone's media address, from its
    /// answer until the callee answers.
    agent_media: Option<(UdpSocket, SocketAddr)>,
    stop: Option<oneshot::Sender<()>>,
    /// Packets relayed agent → callee and callee → agent.
    counts: Arc<[AtomicU64; 2]>,
}

/// Why a relay could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error("no outbound trunk is configured for calls out")]
    NoTrunk,
    #[error("the agent has no registered phone")]
    NoPhone,
    #[error("the number to call is not a phone number")]
    InvalidCallee,
    #[error("no RTP port: {0}")]
    Io(String),
}

/// The number to dial: a valid phone number (sent as its E.164 digits) or
/// a short service number of 3 to 15 digits (`120`, `1588xxxx`).
pub fn callee_number(text: &str) -> Result<String, RelayError> {
    let text = text.trim();
    if (3..=15).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text.to_owned());
    }
    PhoneNumber::parse(text)
        .map(|p| p.e164().to_owned())
        .map_err(|_| RelayError::InvalidCallee)
}

/// The session Dasan offers on a relay leg: µ-law and telephone events.
fn offer_sdp(local: SocketAddr) -> String {
    let offer = media::Offer {
        address: local,
        payload: 0,
        events: Some(101),
    };
    media::answer_sdp(local, &offer, &tag())
}

async fn pump(
    agent: UdpSocket,
    agent_remote: SocketAddr,
    callee: UdpSocket,
    callee_remote: SocketAddr,
    mut stop: oneshot::Receiver<()>,
    counts: Arc<[AtomicU64; 2]>,
) {
    // Each side is latched to the source of its first packet.
    let (mut from_agent, mut from_callee) = (None, None);
    let mut a = vec![0u8; 2048];
    let mut c = vec![0u8; 2048];
    loop {
        tokio::select! {
            _ = &mut stop => return,
            received = agent.recv_from(&mut a) => if let Ok((n, source)) = received
                && *from_agent.get_or_insert(source) == source
                && callee.try_send_to(&a[..n], callee_remote).is_ok()
            {
                counts[0].fetch_add(1, Ordering::Relaxed);
            },
            received = callee.recv_from(&mut c) => if let Ok((n, source)) = received
                && *from_callee.get_or_insert(source) == source
                && agent.try_send_to(&c[..n], agent_remote).is_ok()
            {
                counts[1].fetch_add(1, Ordering::Relaxed);
            },
        }
    }
}

impl SipServer {
    /// Rings the agent's phone for a relay of video session `session`
    /// (its relay number `index`) to `callee` (already checked by
    /// [`callee_number`]). The callee is called once the agent answers.
    pub async fn place_relay(
        &self,
        session: Uuid,
        index: usize,
        agent: Uuid,
        callee: &str,
    ) -> Result<Uuid, RelayError> {
        let trunk = self.options.outbound.ok_or(RelayError::NoTrunk)?;
        let binding = self.binding_of(agent).ok_or(RelayError::NoPhone)?;
        let callee_uri = format!("sip:{callee}@{trunk}");
        let relay = Uuid::now_v7();
        let uri = parse_name_addr(&binding.contact)
            .map(|c| c.uri)
            .filter(|u| u.starts_with("sip:"))
            .unwrap_or_else(|| format!("sip:{}", binding.address));
        let rtp = UdpSocket::bind(SocketAddr::new(self.local().ip(), 0))
            .await
            .map_err(|e| RelayError::Io(e.to_string()))?;
        let call_id = format!("{}{}@dasan", tag(), tag());
        if let Ok(mut shared) = self.shared.lock() {
            shared.relays.insert(
                relay,
                RelayCall {
                    session,
                    index,
                    callee_uri,
                    agent_leg: call_id.clone(),
                    callee_leg: None,
                    agent_media: None,
                    stop: None,
                    counts: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
                },
            );
        }
        // The agent's phone shows the number being called.
        self.invite_leg(relay, Which::Agent, binding.peer, uri, call_id, callee, rtp)
            .await;
        Ok(relay)
    }

    #[allow(clippy::too_many_arguments)]
    async fn invite_leg(
        &self,
        relay: Uuid,
        which: Which,
        peer: Peer,
        uri: String,
        call_id: String,
        from_user: &str,
        rtp: UdpSocket,
    ) {
        let local = self.local();
        let call_id_for_timer = call_id.clone();
        let rtp_local = rtp.local_addr().unwrap_or(local);
        let from = format!("<sip:{from_user}@{}>;tag={}", local.ip(), tag());
        let to = format!("<{uri}>");
        let leg_branch = branch();
        let sdp = offer_sdp(rtp_local);
        let invite = request(
            "INVITE",
            &uri,
            &via(&peer, local, &leg_branch),
            [&from, &to, &call_id],
            1,
            &[
                ("Contact", format!("<sip:dasan@{local}>")),
                ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS".to_owned()),
                ("Content-Type", "application/sdp".to_owned()),
            ],
            sdp.as_bytes(),
        );
        if let Ok(mut shared) = self.shared.lock() {
            shared.relay_legs.insert(
                call_id,
                RelayLeg {
                    relay,
                    which,
                    peer: peer.clone(),
                    uri,
                    from,
                    to,
                    branch: leg_branch.clone(),
                    state: RelayState::Calling,
                    remote_to: None,
                    target: None,
                    rtp: Some(rtp),
                    provisional: false,
                    sdp: sdp.clone(),
                },
            );
        }
        // A leg nobody answers (silent, or ringing on) ends the relay.
        let (server, ringing) = (self.clone(), call_id_for_timer);
        tokio::spawn(async move {
            tokio::time::sleep(RING_LIMIT).await;
            let unanswered = server.shared.lock().ok().and_then(|shared| {
                shared
                    .relay_legs
                    .get(&ringing)
                    .filter(|l| l.state == RelayState::Calling)
                    .map(|l| l.relay)
            });
            if let Some(relay) = unanswered {
                server.end_relay(relay, "no_answer").await;
            }
        });
        self.send_reliably(invite, peer, format!("{leg_branch} INVITE"))
            .await;
    }

    /// A response to a relay leg's INVITE; answers whether `call_id` was
    /// one.
    pub(super) async fn relay_response(&self, call_id: &str, code: u16, message: &Message) -> bool {
        let known = self
            .shared
            .lock()
            .is_ok_and(|shared| shared.relay_legs.contains_key(call_id));
        if !known {
            return false;
        }
        match code {
            100..=199 => {
                let cancel = self.shared.lock().ok().and_then(|mut shared| {
                    let leg = shared.relay_legs.get_mut(call_id)?;
                    let first = !leg.provisional;
                    leg.provisional = true;
                    let cancel = (leg.state == RelayState::CancelPending).then(|| {
                        leg.state = RelayState::Calling;
                    });
                    if first {
                        shared.counts.relay_rings += 1;
                    }
                    cancel
                });
                if cancel.is_some() {
                    self.hang_up_leg(call_id).await;
                }
            }
            200..=299 => self.relay_answered(call_id, message).await,
            _ => self.relay_refused(call_id, code, message).await,
        }
        true
    }

    async fn relay_answered(&self, call_id: &str, message: &Message) {
        let remote_to = message.header("to").unwrap_or_default().to_owned();
        let target = message
            .header("contact")
            .and_then(parse_name_addr)
            .map(|c| c.uri);
        let found = self.shared.lock().ok().and_then(|mut shared| {
            let leg = shared.relay_legs.get_mut(call_id)?;
            let before = leg.state;
            if before == RelayState::Calling {
                leg.state = RelayState::Answered;
                leg.remote_to = Some(remote_to.clone());
                leg.target = target.clone();
            }
            let ack = request(
                "ACK",
                leg.target.as_deref().unwrap_or(&leg.uri),
                &via(&leg.peer, self.local(), &branch()),
                [
                    &leg.from,
                    leg.remote_to.as_deref().unwrap_or(&remote_to),
                    call_id,
                ],
                1,
                &[],
                b"",
            );
            Some((
                before,
                leg.which,
                leg.relay,
                leg.peer.clone(),
                ack,
                leg.rtp.take(),
            ))
        });
        let Some((before, which, relay, peer, ack, rtp)) = found else {
            return;
        };
        self.send(&ack, &peer).await;
        match before {
            RelayState::Answered => return, // a repeated 200, ACKed again
            RelayState::Ended | RelayState::CancelPending => {
                // Answered as Dasan gave up on it: hang it up.
                if let Ok(mut shared) = self.shared.lock()
                    && let Some(leg) = shared.relay_legs.get_mut(call_id)
                {
                    leg.state = RelayState::Answered;
                }
                self.hang_up_leg(call_id).await;
                return;
            }
            RelayState::Calling => {}
        }
        let media = media::parse_offer(&String::from_utf8_lossy(&message.body));
        let (Some(answer), Some(rtp)) = (media, rtp) else {
            tracing::warn!("sip: a relay leg answered without usable audio");
            self.end_relay(relay, "failed").await;
            return;
        };
        match which {
            Which::Agent => {
                let next = self.shared.lock().ok().and_then(|mut shared| {
                    let call = shared.relays.get_mut(&relay)?;
                    call.agent_media = Some((rtp, answer.address));
                    Some(call.callee_uri.clone())
                });
                let Some(callee_uri) = next else {
                    // The relay ended while this phone rang.
                    self.hang_up_leg(call_id).await;
                    return;
                };
                let Some(trunk) = self.options.outbound else {
                    self.end_relay(relay, "failed").await;
                    return;
                };
                let rtp = match UdpSocket::bind(SocketAddr::new(self.local().ip(), 0)).await {
                    Ok(rtp) => rtp,
                    Err(error) => {
                        tracing::warn!(%error, "sip: no RTP port for a relay's callee");
                        self.end_relay(relay, "failed").await;
                        return;
                    }
                };
                let call_id = format!("{}{}@dasan", tag(), tag());
                if let Ok(mut shared) = self.shared.lock()
                    && let Some(call) = shared.relays.get_mut(&relay)
                {
                    call.callee_leg = Some(call_id.clone());
                }
                self.invite_leg(
                    relay,
                    Which::Callee,
                    Peer::Udp(trunk),
                    callee_uri,
                    call_id,
                    "120",
                    rtp,
                )
                .await;
            }
            Which::Callee => {
                let (stop, stopped) = oneshot::channel();
                let started = self.shared.lock().ok().and_then(|mut shared| {
                    let call = shared.relays.get_mut(&relay)?;
                    let (agent_rtp, agent_remote) = call.agent_media.take()?;
                    call.stop = Some(stop);
                    Some((
                        call.session,
                        call.index,
                        agent_rtp,
                        agent_remote,
                        call.counts.clone(),
                    ))
                });
                let Some((session, index, agent_rtp, agent_remote, counts)) = started else {
                    self.hang_up_leg(call_id).await;
                    return;
                };
                tokio::spawn(pump(
                    agent_rtp,
                    agent_remote,
                    rtp,
                    answer.address,
                    stopped,
                    counts,
                ));
                crate::video::relay_changed(&self.state, session, index, |r| {
                    r.answered_at = Some(crate::now().millis());
                    r.outcome = "answered".into();
                });
            }
        }
    }

    async fn relay_refused(&self, call_id: &str, code: u16, message: &Message) {
        let to = message.header("to").unwrap_or_default().to_owned();
        let found = self.shared.lock().ok().and_then(|mut shared| {
            let leg = shared.relay_legs.get_mut(call_id)?;
            let ack = request(
                "ACK",
                &leg.uri,
                &via(&leg.peer, self.local(), &leg.branch),
                [&leg.from, &to, call_id],
                1,
                &[],
                b"",
            );
            let was = leg.state;
            leg.state = RelayState::Ended;
            Some((ack, leg.peer.clone(), leg.which, leg.relay, was))
        });
        let Some((ack, peer, which, relay, was)) = found else {
            return;
        };
        self.send(&ack, &peer).await;
        self.forget_later(call_id);
        if matches!(was, RelayState::Ended | RelayState::CancelPending) {
            return; // the answer to Dasan's CANCEL (487), or a repeat
        }
        let outcome = match (which, code) {
            (Which::Agent, _) => "agent_unreachable",
            (Which::Callee, 486 | 600 | 603) => "busy",
            (Which::Callee, 408 | 480 | 487) => "no_answer",
            (Which::Callee, _) => "failed",
        };
        self.end_relay(relay, outcome).await;
    }

    /// A BYE on a relay leg: the other leg ends too. Answers whether
    /// `call_id` was a relay leg (the caller answers the BYE).
    pub(super) async fn relay_bye(&self, call_id: &str) -> bool {
        let relay = self.shared.lock().ok().and_then(|mut shared| {
            let leg = shared.relay_legs.get_mut(call_id)?;
            leg.state = RelayState::Ended;
            Some(leg.relay)
        });
        let Some(relay) = relay else {
            return false;
        };
        self.forget_later(call_id);
        self.end_relay(relay, "cancelled").await;
        true
    }

    /// A request inside an answered relay leg: a re-INVITE (hold, a
    /// session refresh) is answered with the session as it is, an INFO is
    /// acknowledged. Answers whether `call_id` was a relay leg.
    pub(super) async fn in_relay_leg(&self, message: &Message, call_id: &str, peer: &Peer) -> bool {
        let sdp = self.shared.lock().ok().and_then(|shared| {
            shared
                .relay_legs
                .get(call_id)
                .filter(|l| l.state == RelayState::Answered)
                .map(|l| l.sdp.clone())
        });
        let Some(sdp) = sdp else {
            return false;
        };
        self.answer_in_dialog(message, &sdp, peer).await;
        true
    }

    /// Ends every relay of a video session (the agent's button, the end
    /// of the session).
    pub async fn end_relays_of(&self, session: Uuid) {
        let relays: Vec<Uuid> = self
            .shared
            .lock()
            .map(|shared| {
                shared
                    .relays
                    .iter()
                    .filter(|(_, r)| r.session == session)
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default();
        for relay in relays {
            self.end_relay(relay, "cancelled").await;
        }
    }

    /// Ends a relay: stops the media, hangs up or cancels whichever legs
    /// are still up, and records the end (`outcome` unless it was
    /// answered: a relay that talked stays `answered`).
    async fn end_relay(&self, relay: Uuid, outcome: &'static str) {
        let Some(call) = self
            .shared
            .lock()
            .ok()
            .and_then(|mut shared| shared.relays.remove(&relay))
        else {
            return;
        };
        if let Some(stop) = call.stop {
            let _ = stop.send(());
        }
        for leg in std::iter::once(&call.agent_leg).chain(call.callee_leg.as_ref()) {
            self.hang_up_leg(leg).await;
        }
        let counts = [
            call.counts[0].load(Ordering::Relaxed),
            call.counts[1].load(Ordering::Relaxed),
        ];
        crate::video::relay_changed(&self.state, call.session, call.index, |r| {
            r.ended_at = Some(crate::now().millis());
            if r.answered_at.is_none() {
                r.outcome = outcome.into();
            }
            r.packets_to_callee = counts[0];
            r.packets_to_agent = counts[1];
        });
    }

    /// Hangs up an answered relay leg (BYE) or cancels a ringing one.
    async fn hang_up_leg(&self, call_id: &str) {
        let local = self.local();
        let next = self.shared.lock().ok().and_then(|mut shared| {
            let leg = shared.relay_legs.get_mut(call_id)?;
            let previous = leg.state;
            leg.state = RelayState::Ended;
            match previous {
                RelayState::Ended | RelayState::CancelPending => None,
                RelayState::Calling if !leg.provisional => {
                    // Stop the INVITE; CANCEL once it is heard of.
                    leg.state = RelayState::CancelPending;
                    let key = format!("{} INVITE", leg.branch);
                    shared.transactions.remove(&key);
                    None
                }
                RelayState::Calling => Some((
                    request(
                        "CANCEL",
                        &leg.uri,
                        &via(&leg.peer, local, &leg.branch),
                        [&leg.from, &leg.to, call_id],
                        1,
                        &[],
                        b"",
                    ),
                    leg.peer.clone(),
                    format!("{} CANCEL", leg.branch),
                )),
                RelayState::Answered => {
                    let bye_branch = branch();
                    Some((
                        request(
                            "BYE",
                            leg.target.as_deref().unwrap_or(&leg.uri),
                            &via(&leg.peer, local, &bye_branch),
                            [
                                &leg.from,
                                leg.remote_to.as_deref().unwrap_or(&leg.to),
                                call_id,
                            ],
                            2,
                            &[],
                            b"",
                        ),
                        leg.peer.clone(),
                        format!("{bye_branch} BYE"),
                    ))
                }
            }
        });
        self.forget_later(call_id);
        if let Some((bytes, peer, key)) = next {
            self.send_reliably(bytes, peer, key).await;
        }
    }

    /// An ended leg is kept a while to absorb late answers, then dropped.
    fn forget_later(&self, call_id: &str) {
        let (server, id) = (self.clone(), call_id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(TIMER_H).await;
            if let Ok(mut shared) = server.shared.lock()
                && shared.relay_legs.get(&id).is_some_and(|l| {
                    matches!(l.state, RelayState::Ended | RelayState::CancelPending)
                })
            {
                shared.relay_legs.remove(&id);
            }
        });
    }
}
