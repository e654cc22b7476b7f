//! The agent leg of a call (Dasan as a back-to-back user agent).
//!
//! When the floor offers a queued phone call to an agent, Dasan sends an
//! INVITE to the phone the agent registered (offering the caller's codec and
//! event payload numbers, from an RTP socket of its own), retransmitting it
//! over UDP until the phone answers anything. Then:
//!
//! - 1xx: ringing; an offer the floor takes back (the offer timed out, the
//!   caller hung up, the agent declined on the desktop) sends CANCEL;
//! - 2xx: ACK; the floor's offer is accepted and the caller's media starts
//!   relaying to the phone's SDP address; if the offer is gone by then (the
//!   caller hung up), BYE;
//! - 3xx–6xx (486 Busy Here, 480, 603...): ACK; the offer is declined, so
//!   the call goes back to its place at the head of its queue and the floor
//!   deals with the agent as with any missed offer.
//!
//! A BYE from the phone ends the caller's leg too (Dasan sends it a BYE), or
//! first asks the caller for a keypad score when the phone survey is on.

use std::{net::SocketAddr, time::Duration};

use dasan_core::{Channel, PhoneNumber, Timestamp};
use dasan_sip::{Message, StartLine, parse_name_addr};
use dasan_store::{Store, SurveyRecord};
use tokio::{net::UdpSocket, sync::mpsc};
use uuid::Uuid;

use super::{Control, OnFloor, Peer, SipServer, T1, T2, TIMER_H, media, tag};
use crate::floor::{InteractionState, OfferNotice};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    /// INVITE sent, nothing heard yet.
    Calling,
    /// A provisional response came.
    Ringing,
    Answered,
    /// To be cancelled, but nothing heard yet: RFC 3261 §9.1 waits for a
    /// provisional response before sending CANCEL.
    CancelPending,
    /// CANCEL sent, waiting for the INVITE's final answer.
    Cancelling,
}

impl LegState {
    /// Ringing or about to: what an offer taken back must stop.
    fn ringing(self) -> bool {
        matches!(self, LegState::Calling | LegState::Ringing)
    }

    fn cancelled(self) -> bool {
        matches!(self, LegState::CancelPending | LegState::Cancelling)
    }
}

/// One ringing or bridged agent phone.
#[derive(Debug)]
pub(super) struct AgentLeg {
    caller_call_id: String,
    interaction: Uuid,
    agent: Uuid,
    peer: Peer,
    /// The INVITE's Request-URI (the phone's registered Contact).
    uri: String,
    from: String,
    to: String,
    /// The session Dasan offered (answered again to a re-INVITE).
    sdp: String,
    /// The phone's To (with its tag) and Contact, once it answered.
    remote_to: Option<String>,
    target: Option<String>,
    branch: String,
    state: LegState,
    /// The leg's RTP socket until the media task takes it.
    rtp: Option<UdpSocket>,
}

/// How long the caller has to press a score before Dasan hangs up.
const SURVEY_WAIT: Duration = Duration::from_secs(20);

pub(super) fn request(
    method: &str,
    uri: &str,
    via: &str,
    headers: [&str; 3],
    cseq: u32,
    extra: &[(&str, String)],
    body: &[u8],
) -> Vec<u8> {
    let [from, to, call_id] = headers;
    let mut text = format!(
        "{method} {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
    );
    for (name, value) in extra {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub(super) fn via(peer: &Peer, local: SocketAddr, branch: &str) -> String {
    let transport = if peer.reliable() { "TCP" } else { "UDP" };
    format!("SIP/2.0/{transport} {local};branch={branch};rport")
}

pub(super) fn branch() -> String {
    format!("z9hG4bK{}", tag())
}

impl SipServer {
    pub(super) fn local(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5060)))
    }

    /// Follows the floor's offers: rings an agent's phone for a SIP call
    /// offered to them, stops ringing when the offer is taken back.
    pub(super) async fn watch_offers(self, mut notices: mpsc::UnboundedReceiver<OfferNotice>) {
        while let Some(notice) = notices.recv().await {
            match notice {
                OfferNotice::Offered {
                    interaction,
                    channel: Channel::Voice,
                    agent,
                } => self.ring(interaction, agent).await,
                OfferNotice::Withdrawn { interaction, agent } => {
                    let legs: Vec<String> = self
                        .shared
                        .lock()
                        .map(|shared| {
                            shared
                                .legs
                                .iter()
                                .filter(|(_, l)| {
                                    l.interaction == interaction
                                        && l.agent == agent
                                        && l.state.ringing()
                                })
                                .map(|(id, _)| id.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    for leg in legs {
                        self.end_leg(&leg).await;
                    }
                }
                OfferNotice::Offered { .. } => {}
            }
        }
    }

    /// Sends `bytes`, and again over UDP (timer E/A: from T1 doubling to
    /// T2) until an answer removes `key` or 32 s pass.
    pub(super) async fn send_reliably(&self, bytes: Vec<u8>, peer: Peer, key: String) {
        if let Ok(mut shared) = self.shared.lock() {
            shared.transactions.insert(key.clone());
        }
        self.send(&bytes, &peer).await;
        let server = self.clone();
        tokio::spawn(async move {
            let mut wait = if peer.reliable() { TIMER_H } else { T1 };
            let mut waited = Duration::ZERO;
            loop {
                tokio::time::sleep(wait).await;
                waited += wait;
                let pending = server
                    .shared
                    .lock()
                    .is_ok_and(|shared| shared.transactions.contains(&key));
                if !pending {
                    return;
                }
                if waited >= TIMER_H {
                    // Unanswered: forget it. A phone that never answered an
                    // INVITE at all is a missed offer.
                    let dead = server.shared.lock().ok().and_then(|mut shared| {
                        shared.transactions.remove(&key);
                        let branch = key.strip_suffix(" INVITE")?;
                        let id = shared
                            .legs
                            .iter()
                            .find(|(_, l)| l.branch == branch && l.state == LegState::Calling)
                            .map(|(id, _)| id.clone())?;
                        shared.legs.remove(&id).map(|leg| (id, leg))
                    });
                    if let Some((id, leg)) = dead {
                        server.unanswered(&leg, &id);
                    }
                    return;
                }
                server.send(&bytes, &peer).await;
                wait = (wait * 2).min(T2);
            }
        });
    }

    /// Rings the phone of `agent` for the call of `interaction`.
    async fn ring(&self, interaction: Uuid, agent: Uuid) {
        let found = self.shared.lock().ok().and_then(|shared| {
            let call_id = shared.by_interaction.get(&interaction)?.clone();
            let dialog = shared.dialogs.get(&call_id)?;
            Some((call_id, dialog.offer.clone(), dialog.floor.clone()))
        });
        // Not a call of this front door (an API client's voice contact).
        let Some((caller_call_id, offer, call)) = found else {
            return;
        };
        let Some(binding) = self.binding_of(agent) else {
            tracing::warn!(%agent, "sip: the agent offered a call has no registered phone; the offer goes back");
            self.count(|c| c.agent_misses += 1);
            let _ = self.state.floor.answer_offer(agent, interaction, false);
            return;
        };
        let local = self.local();
        let rtp = match UdpSocket::bind(SocketAddr::new(local.ip(), 0)).await {
            Ok(rtp) => rtp,
            Err(error) => {
                tracing::warn!(%error, "sip: no RTP port for an agent leg");
                let _ = self.state.floor.answer_offer(agent, interaction, false);
                return;
            }
        };
        let rtp_local = rtp.local_addr().unwrap_or(local);
        let call_id = format!("{}{}@dasan", tag(), tag());
        let uri = parse_name_addr(&binding.contact)
            .map(|c| c.uri)
            .filter(|u| u.starts_with("sip:"))
            .unwrap_or_else(|| format!("sip:{}", binding.address));
        let caller = call
            .lock()
            .ok()
            .and_then(|c| c.record.caller.clone())
            .unwrap_or_else(|| "anonymous".to_owned());
        let from = format!("<sip:{caller}@{local}>;tag={}", tag());
        let to = format!("<{uri}>");
        let branch = branch();
        let sdp = media::answer_sdp(rtp_local, &offer, &tag());
        let invite = request(
            "INVITE",
            &uri,
            &via(&binding.peer, local, &branch),
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
            shared.legs.insert(
                call_id.clone(),
                AgentLeg {
                    caller_call_id,
                    interaction,
                    agent,
                    peer: binding.peer.clone(),
                    uri,
                    from,
                    to,
                    sdp: sdp.clone(),
                    remote_to: None,
                    target: None,
                    branch: branch.clone(),
                    state: LegState::Calling,
                    rtp: Some(rtp),
                },
            );
        }
        // The leg joins the call unless the caller has gone meanwhile (a
        // hang-up takes the call's leg under the same lock).
        let joined = call.lock().is_ok_and(|mut c| {
            if c.ended || c.interaction != Some(interaction) {
                return false;
            }
            c.leg = Some(call_id.clone());
            c.record.agents_rung += 1;
            true
        });
        if !joined {
            if let Ok(mut shared) = self.shared.lock() {
                shared.legs.remove(&call_id);
            }
            return;
        }
        self.count(|c| c.agent_rings += 1);
        self.send_reliably(invite, binding.peer, format!("{branch} INVITE"))
            .await;
    }

    /// A request from an agent's phone inside its leg: a re-INVITE (hold,
    /// a session refresh) is answered with the session as it is; an INFO
    /// is acknowledged. Answers whether `call_id` was an agent leg.
    pub(super) async fn in_agent_leg(&self, message: &Message, call_id: &str, peer: &Peer) -> bool {
        let sdp = self.shared.lock().ok().and_then(|shared| {
            shared
                .legs
                .get(call_id)
                .filter(|l| l.state == LegState::Answered)
                .map(|l| l.sdp.clone())
        });
        let Some(sdp) = sdp else {
            return false;
        };
        self.answer_in_dialog(message, &sdp, peer).await;
        true
    }

    /// Answers a request inside one of Dasan's own legs: a re-INVITE
    /// with the session as it is (`sdp`), anything else with a plain 200.
    pub(super) async fn answer_in_dialog(&self, message: &Message, sdp: &str, peer: &Peer) {
        let response = if message.method() == Some("INVITE") {
            let local = self.local();
            message.response(
                200,
                "OK",
                None,
                &[
                    ("Contact", format!("<sip:dasan@{local}>")),
                    ("Content-Type", "application/sdp".to_owned()),
                ],
                sdp.as_bytes(),
            )
        } else {
            message.response(200, "OK", None, &[], b"")
        };
        self.send(&response, peer).await;
    }

    /// Removes and answers the agent leg `call_id`.
    fn take_leg(&self, call_id: &str) -> Option<AgentLeg> {
        self.shared
            .lock()
            .ok()
            .and_then(|mut shared| shared.legs.remove(call_id))
    }

    /// A response to one of Dasan's requests.
    pub(super) async fn on_response(&self, message: &Message) {
        let StartLine::Response { code, .. } = message.start else {
            return;
        };
        let Some((_, method)) = message.cseq() else {
            return;
        };
        let method = method.to_owned();
        if code >= 200 || method == "INVITE" {
            let key = format!("{} {method}", message.branch().unwrap_or_default());
            if let Ok(mut shared) = self.shared.lock() {
                shared.transactions.remove(&key);
            }
        }
        if method != "INVITE" {
            return;
        }
        let call_id = message.header("call-id").unwrap_or_default();
        if self.relay_response(call_id, code, message).await {
            return;
        }
        match code {
            100..=199 => {
                let pending = self.shared.lock().ok().and_then(|mut shared| {
                    let leg = shared.legs.get_mut(call_id)?;
                    match leg.state {
                        LegState::Calling => {
                            leg.state = LegState::Ringing;
                            None
                        }
                        LegState::CancelPending => {
                            leg.state = LegState::Ringing;
                            Some(())
                        }
                        _ => None,
                    }
                });
                if pending.is_some() {
                    self.end_leg(call_id).await;
                }
            }
            200..=299 => self.leg_answered(call_id, message).await,
            _ => self.leg_refused(call_id, message).await,
        }
    }

    async fn leg_answered(&self, call_id: &str, message: &Message) {
        let remote_to = message.header("to").unwrap_or_default().to_owned();
        let target = message
            .header("contact")
            .and_then(parse_name_addr)
            .map(|c| c.uri);
        let answered = self.shared.lock().ok().and_then(|mut shared| {
            let leg = shared.legs.get_mut(call_id)?;
            let before = leg.state;
            if before != LegState::Answered {
                leg.remote_to = Some(remote_to.clone());
                leg.target = target;
                leg.state = LegState::Answered;
            }
            Some((
                before,
                leg.peer.clone(),
                leg.rtp.take(),
                leg.interaction,
                leg.agent,
                leg.caller_call_id.clone(),
            ))
        });
        let Some((before, peer, rtp, interaction, agent, caller_call_id)) = answered else {
            return;
        };
        let ack = {
            let shared = self.shared.lock().ok();
            shared
                .as_ref()
                .and_then(|s| s.legs.get(call_id))
                .map(|leg| ack_2xx(self.local(), leg, call_id))
        };
        if let Some(ack) = ack {
            self.send(&ack, &peer).await;
        }
        if before == LegState::Answered {
            return; // a retransmitted 200: ACKed again
        }
        if before.cancelled() {
            // Answered as the CANCEL crossed it: the call went elsewhere.
            self.end_leg(call_id).await;
            return;
        }
        let Some(answer) = media::parse_offer(&String::from_utf8_lossy(&message.body)) else {
            tracing::warn!("sip: an agent's phone answered without usable audio");
            self.end_leg(call_id).await;
            self.forget_leg(&caller_call_id, call_id);
            let _ = self.state.floor.answer_offer(agent, interaction, false);
            return;
        };
        let dialog = self.shared.lock().ok().and_then(|shared| {
            shared
                .dialogs
                .get(&caller_call_id)
                .map(|d| (d.media.clone(), d.floor.clone()))
        });
        // The offer is accepted under the call's lock, after checking that
        // the caller is still there: a hang-up either comes first (and the
        // phone is hung up on) or finds the call connected (no abandon).
        let bridged = dialog.as_ref().is_some_and(|(_, call)| {
            call.lock().is_ok_and(|mut c| {
                if c.ended || c.leg.as_deref() != Some(call_id) {
                    return false;
                }
                let floor = &self.state.floor;
                let accepted = floor.answer_offer(agent, interaction, true).is_ok()
                    || floor.interaction(interaction).is_some_and(|v| {
                        // Accepted on the desktop while the phone rang.
                        v.state == InteractionState::Connected && v.agent_id == Some(agent)
                    });
                if accepted {
                    c.bridged = true;
                    c.record.answered_at = Some(crate::now().millis());
                    c.record.agent_id = Some(agent);
                }
                accepted
            })
        });
        match (bridged, dialog, rtp) {
            (true, Some((control, _)), Some(socket)) => {
                self.count(|c| c.agent_answers += 1);
                let _ = control
                    .send(Control::Bridge {
                        socket,
                        remote: answer.address,
                    })
                    .await;
            }
            _ => {
                // The caller or the offer is gone: the phone hangs up.
                self.end_leg(call_id).await;
                self.forget_leg(&caller_call_id, call_id);
            }
        }
    }

    async fn leg_refused(&self, call_id: &str, message: &Message) {
        let to = message.header("to").unwrap_or_default().to_owned();
        let Some(leg) = self.take_leg(call_id) else {
            let again = self
                .shared
                .lock()
                .ok()
                .and_then(|shared| shared.acked.get(call_id).cloned());
            if let Some((ack, peer)) = again {
                self.send(&ack, &peer).await;
            }
            return;
        };
        if leg.state == LegState::Answered {
            return; // a stray final response after the 200
        }
        let ack = self.ack_non_2xx(&leg, &to, call_id);
        self.send(&ack, &leg.peer).await;
        // The phone repeats its answer until the ACK reaches it.
        if let Ok(mut shared) = self.shared.lock() {
            shared
                .acked
                .insert(call_id.to_owned(), (ack, leg.peer.clone()));
        }
        let (server, acked) = (self.clone(), call_id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(TIMER_H).await;
            if let Ok(mut shared) = server.shared.lock() {
                shared.acked.remove(&acked);
            }
        });
        // Busy, refused, unavailable.
        self.unanswered(&leg, call_id);
    }

    /// A leg that ended without an answer: the call no longer names it and,
    /// unless Dasan cancelled it itself, the offer is declined (the call
    /// goes back to the head of its queue, the next agent is tried, and the
    /// floor deals with this one as with any missed offer).
    fn unanswered(&self, leg: &AgentLeg, call_id: &str) {
        self.forget_leg(&leg.caller_call_id, call_id);
        if !leg.state.cancelled() {
            self.count(|c| c.agent_misses += 1);
            let _ = self
                .state
                .floor
                .answer_offer(leg.agent, leg.interaction, false);
        }
    }

    fn ack_non_2xx(&self, leg: &AgentLeg, to: &str, call_id: &str) -> Vec<u8> {
        request(
            "ACK",
            &leg.uri,
            &via(&leg.peer, self.local(), &leg.branch),
            [&leg.from, to, call_id],
            1,
            &[],
            b"",
        )
    }

    /// The call no longer names `leg` as its agent leg.
    fn forget_leg(&self, caller_call_id: &str, leg: &str) {
        let call = self
            .shared
            .lock()
            .ok()
            .and_then(|shared| shared.dialogs.get(caller_call_id).map(|d| d.floor.clone()));
        if let Some(call) = call
            && let Ok(mut c) = call.lock()
            && c.leg.as_deref() == Some(leg)
        {
            c.leg = None;
        }
    }

    /// Ends an agent leg however far it got: stops a silent INVITE, cancels
    /// a ringing one, hangs up an answered one.
    pub(super) async fn end_leg(&self, call_id: &str) {
        let local = self.local();
        let next = {
            let Ok(mut shared) = self.shared.lock() else {
                return;
            };
            let Some(leg) = shared.legs.get_mut(call_id) else {
                return;
            };
            match leg.state {
                LegState::Calling => {
                    // Stop the INVITE; CANCEL once the phone says anything.
                    leg.state = LegState::CancelPending;
                    let key = format!("{} INVITE", leg.branch);
                    shared.transactions.remove(&key);
                    None
                }
                LegState::CancelPending | LegState::Cancelling => return,
                LegState::Ringing => {
                    let cancel = request(
                        "CANCEL",
                        &leg.uri,
                        &via(&leg.peer, local, &leg.branch),
                        [&leg.from, &leg.to, call_id],
                        1,
                        &[],
                        b"",
                    );
                    leg.state = LegState::Cancelling;
                    Some((cancel, leg.peer.clone(), format!("{} CANCEL", leg.branch)))
                }
                LegState::Answered => {
                    let Some(leg) = shared.legs.remove(call_id) else {
                        return;
                    };
                    let branch = branch();
                    let bye = request(
                        "BYE",
                        leg.target.as_deref().unwrap_or(&leg.uri),
                        &via(&leg.peer, local, &branch),
                        [
                            &leg.from,
                            leg.remote_to.as_deref().unwrap_or(&leg.to),
                            call_id,
                        ],
                        2,
                        &[],
                        b"",
                    );
                    Some((bye, leg.peer.clone(), format!("{branch} BYE")))
                }
            }
        };
        // A cancelled leg whose phone never gives its final answer is
        // forgotten after timer H.
        let (server, expiring) = (self.clone(), call_id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(TIMER_H).await;
            if let Ok(mut shared) = server.shared.lock()
                && shared
                    .legs
                    .get(&expiring)
                    .is_some_and(|l| l.state.cancelled())
            {
                shared.legs.remove(&expiring);
            }
        });
        if let Some((bytes, peer, key)) = next {
            self.send_reliably(bytes, peer, key).await;
        }
    }

    /// A BYE for an agent leg: the agent hung up. The caller's leg ends
    /// too, after the keypad survey if it is on. Answers whether `call_id`
    /// was an agent leg.
    pub(super) async fn agent_bye(&self, call_id: &str) -> bool {
        let Some(leg) = self.take_leg(call_id) else {
            return false;
        };
        if leg.state != LegState::Answered {
            // A BYE before any answer: the phone refused the call.
            self.unanswered(&leg, call_id);
            return true;
        }
        let dialog = self.shared.lock().ok().and_then(|shared| {
            shared
                .dialogs
                .get(&leg.caller_call_id)
                .map(|d| (d.media.clone(), d.floor.clone(), d.offer.payload))
        });
        let Some((control, call, payload)) = dialog else {
            return true;
        };
        let survey = self.options.phone_survey;
        let ask = call.lock().is_ok_and(|mut c| {
            if c.leg.as_deref() == Some(call_id) {
                c.leg = None;
            }
            if c.record.ended_by.is_empty() {
                c.record.ended_by = "agent".to_owned();
            }
            let ask = survey && c.bridged && !c.ended && c.interaction.is_some();
            c.surveying = ask;
            ask
        });
        let _ = control.send(Control::Unbridge).await;
        if ask {
            let _ = control
                .send(Control::Play(self.options.prompts.survey.audio(payload)))
                .await;
            let server = self.clone();
            let caller_call_id = leg.caller_call_id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(SURVEY_WAIT).await;
                if call.lock().is_ok_and(|c| c.surveying) {
                    server.bye_caller(&caller_call_id).await;
                }
            });
        } else {
            self.bye_caller(&leg.caller_call_id).await;
        }
        true
    }

    /// Dasan hangs up on the caller.
    pub(super) async fn bye_caller(&self, call_id: &str) {
        let Some(dialog) = self
            .shared
            .lock()
            .ok()
            .and_then(|mut shared| shared.dialogs.remove(call_id))
        else {
            return;
        };
        let side = dialog.caller.clone();
        let branch = branch();
        let bye = request(
            "BYE",
            &side.target,
            &via(&side.peer, self.local(), &branch),
            [&side.from, &side.to, call_id],
            1,
            &[],
            b"",
        );
        self.send_reliably(bye, side.peer, format!("{branch} BYE"))
            .await;
        self.count(|c| c.ended += 1);
        self.hang_up(dialog, "agent").await;
    }

    /// The caller pressed a score after the agent hung up: kept with the
    /// call and as the consultation's survey answer; then goodbye.
    pub(super) async fn survey_answered(
        &self,
        call: &std::sync::Arc<std::sync::Mutex<OnFloor>>,
        score: i64,
        control: &mpsc::Sender<Control>,
        payload: u8,
        call_id: &str,
    ) {
        let taken = call.lock().ok().and_then(|mut c| {
            if !c.surveying {
                return None;
            }
            c.surveying = false;
            c.record.survey_score = Some(score);
            Some(c.record.clone())
        });
        let Some(record) = taken else {
            return;
        };
        if let Some(interaction) = record.interaction_id {
            self.store_phone_survey(interaction, &record, score).await;
        }
        let _ = control
            .send(Control::Play(self.options.prompts.thanks.audio(payload)))
            .await;
        // The thanks plays out (at most five seconds of it).
        let thanks = self.options.prompts.thanks.millis().min(5_000);
        tokio::time::sleep(Duration::from_millis(thanks)).await;
        self.bye_caller(call_id).await;
    }

    async fn store_phone_survey(
        &self,
        interaction: Uuid,
        record: &dasan_store::sip::CallRecord,
        score: i64,
    ) {
        let now = crate::now();
        let store = &self.state.store;
        let result = match store.survey_for_consultation(interaction).await {
            // The agent completed the consultation first: its survey (not
            // sent yet, or sent by SMS) takes the phone's answer.
            Ok(Some(mut survey)) => {
                survey.status = "answered".into();
                survey.score = Some(score);
                survey.answered_at = Some(now);
                survey.sent_at.get_or_insert(now);
                store.update_survey(&survey).await
            }
            Ok(None) => {
                let Some(phone) = record
                    .caller
                    .as_deref()
                    .and_then(|p| PhoneNumber::parse(p).ok())
                else {
                    return;
                };
                let at = record
                    .answered_at
                    .and_then(|ms| Timestamp::from_millis(ms).ok())
                    .unwrap_or(now);
                // Stored before the consultation: when the agent completes
                // it, no other survey is scheduled for it.
                store
                    .schedule_survey(&SurveyRecord {
                        consultation_id: interaction,
                        citizen_phone: phone,
                        channel: Channel::Voice,
                        category: record.queue.clone().unwrap_or_else(|| "other".into()),
                        agent_id: record.agent_id,
                        consultation_at: at,
                        due_at: now,
                        status: "answered".into(),
                        message_id: None,
                        sent_at: Some(now),
                        score: Some(score),
                        answered_at: Some(now),
                        skip_reason: None,
                    })
                    .await
                    .map(|_| ())
            }
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::error!(%error, "sip: the phone survey's answer could not be stored");
        }
    }
}

/// The ACK of a 2xx: a transaction of its own, to the phone's Contact.
fn ack_2xx(local: SocketAddr, leg: &AgentLeg, call_id: &str) -> Vec<u8> {
    request(
        "ACK",
        leg.target.as_deref().unwrap_or(&leg.uri),
        &via(&leg.peer, local, &branch()),
        [
            &leg.from,
            leg.remote_to.as_deref().unwrap_or(&leg.to),
            call_id,
        ],
        1,
        &[],
        b"",
    )
}
