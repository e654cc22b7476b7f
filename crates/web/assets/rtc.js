// The video call's peer connection and its signalling through Dasan,
// shared by the citizen's page (/sign) and the agent desktop. Media goes
// browser to browser; Dasan relays only the offer, the answer, the ICE
// candidates and the chat between the two holders of one session.
"use strict";
(function () {
  function post(session, body) {
    return fetch("/api/v1/sign/sessions/" + session + "/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(async (response) => {
      if (!response.ok) {
        let code = String(response.status);
        try {
          code = (await response.json()).error.code;
        } catch (e) { /* not JSON */ }
        throw new Error(code);
      }
    });
  }

  // The session's event stream: handlers by event name, given parsed JSON.
  // A stream the browser gave up on (the server still held the old one
  // after a network blip, and answered 409) is opened again a few times.
  function listen(session, token, handlers) {
    let source = null;
    let tries = 0;
    let closed = false;
    function open() {
      source = new EventSource("/api/v1/sign/sessions/" + session +
        "/events?token=" + encodeURIComponent(token));
      for (const [name, handler] of Object.entries(handlers)) {
        source.addEventListener(name, (event) => {
          tries = 0;
          if (name === "end") closed = true;
          if (event.data) handler(JSON.parse(event.data));
          else handler({});
        });
      }
      source.addEventListener("error", () => {
        if (!closed && source.readyState === EventSource.CLOSED && tries < 10) {
          tries += 1;
          setTimeout(() => { if (!closed) open(); }, 2000);
        }
      });
    }
    open();
    return { close() { closed = true; if (source) source.close(); } };
  }

  // One side of the call. `o`: session, token, iceServers, localStream,
  // remoteVideo, started (performance.now() of the user's action),
  // onState(connectionState).
  function connect(o) {
    const pc = new RTCPeerConnection({ iceServers: o.iceServers || [] });
    for (const track of o.localStream.getTracks()) pc.addTrack(track, o.localStream);
    const remote = new MediaStream();
    pc.addEventListener("track", (event) => {
      remote.addTrack(event.track);
      if (o.remoteVideo.srcObject !== remote) o.remoteVideo.srcObject = remote;
    });
    const send = (body) => post(o.session, Object.assign({ token: o.token }, body));
    pc.addEventListener("icecandidate", (event) => {
      if (event.candidate) {
        send({ type: "candidate", candidate: event.candidate.toJSON() }).catch(() => {});
      }
    });
    let reported = false;
    pc.addEventListener("connectionstatechange", () => {
      if (o.onState) o.onState(pc.connectionState);
      if (pc.connectionState === "connected" && !reported) {
        reported = true;
        send({ type: "connected", connect_ms: Math.round(performance.now() - o.started) })
          .catch(() => {});
      }
    });

    // Signals are applied in order; candidates wait for the description.
    let chain = Promise.resolve();
    let pending = [];
    let described = false;
    // One candidate the browser cannot use must not stop the others.
    async function addCandidate(candidate) {
      try {
        await pc.addIceCandidate(candidate);
      } catch (error) {
        if (o.onError) o.onError(error);
      }
    }
    async function described_() {
      described = true;
      for (const candidate of pending) await addCandidate(candidate);
      pending = [];
    }
    function onSignal(message) {
      chain = chain.then(async () => {
        if (message.type === "offer") {
          await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
          await described_();
          const answer = await pc.createAnswer();
          await pc.setLocalDescription(answer);
          await send({ type: "answer", sdp: answer.sdp });
        } else if (message.type === "answer") {
          await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
          await described_();
        } else if (message.type === "candidate" && message.candidate) {
          if (described) await addCandidate(message.candidate);
          else pending.push(message.candidate);
        }
      }).catch((error) => {
        if (o.onError) o.onError(error);
      });
      return chain;
    }

    async function offer() {
      const description = await pc.createOffer();
      await pc.setLocalDescription(description);
      await send({ type: "offer", sdp: description.sdp });
    }

    // What reports keep: the selected pair's round trip, frames decoded
    // and packets lost or received from the other side.
    async function stats() {
      const report = await pc.getStats();
      const out = { rtt_ms: null, frames_decoded: 0, packets_lost: 0, packets_received: 0 };
      report.forEach((s) => {
        if (s.type === "candidate-pair" && s.state === "succeeded" &&
            typeof s.currentRoundTripTime === "number") {
          out.rtt_ms = s.currentRoundTripTime * 1000;
        }
        if (s.type === "inbound-rtp") {
          if (s.kind === "video") out.frames_decoded += s.framesDecoded || 0;
          out.packets_lost += Math.max(0, s.packetsLost || 0);
          out.packets_received += s.packetsReceived || 0;
        }
      });
      return out;
    }

    const timer = setInterval(async () => {
      if (pc.connectionState === "connected") {
        send({ type: "stats", stats: await stats() }).catch(() => {});
      }
    }, 5000);

    // Sends the last figures and, when this side ends the call, `end`.
    let closed = false;
    async function close(sendEnd) {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      try {
        await send({ type: "stats", stats: await stats() });
      } catch (e) { /* the session may be gone */ }
      if (sendEnd) await send({ type: "end" }).catch(() => {});
      pc.close();
    }

    const call = { pc, onSignal, offer, stats, close, send };
    // The call in progress, for a support engineer's console (and tests).
    window.dasanRtc.current = call;
    return call;
  }

  async function camera() {
    try {
      return await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    } catch (e) {
      // A sign-language call needs the picture; the microphone is optional.
      return await navigator.mediaDevices.getUserMedia({ video: true });
    }
  }

  window.dasanRtc = { post, listen, connect, camera };
})();
