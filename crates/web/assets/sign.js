// The citizen's sign-language video page: start, wait (place and expected
// wait as text), the call with a self-view and a text chat, the end.
"use strict";
(function () {
  const messages = JSON.parse(document.getElementById("messages").textContent);
  const t = (key) => messages[key] || key;
  const $ = (id) => document.getElementById(id);
  const text = (el, value) => { el.textContent = value; };

  // Large text, remembered on this device.
  const large = $("large-text");
  function setLarge(on) {
    document.documentElement.classList.toggle("large", on);
    large.setAttribute("aria-pressed", String(on));
    try { localStorage.setItem("dasan-large-text", on ? "1" : "0"); } catch (e) { /* private mode */ }
  }
  try { setLarge(localStorage.getItem("dasan-large-text") === "1"); } catch (e) { /* private mode */ }
  large.addEventListener("click", () => setLarge(large.getAttribute("aria-pressed") !== "true"));

  let session = null;
  let token = null;
  let stream = null;
  let source = null;
  let rtc = null;
  let started = 0;
  let ended = false;

  function duration(seconds) {
    if (seconds == null) return t("sign.calculating");
    if (seconds < 60) return seconds + t("sign.seconds");
    return Math.ceil(seconds / 60) + t("sign.minutes");
  }

  function status(message) {
    text($("call-status"), message);
  }

  function onStatus(s) {
    if (s.state === "waiting") {
      text($("position"), s.position == null ? t("sign.calculating") : String(s.position));
      text($("expected"), duration(s.expected_wait_seconds));
      text($("waited"), duration(s.waited_seconds));
      if (s.callback_offered && $("callback-form").hidden && !callbackLeft) {
        $("callback-form").hidden = false;
      }
    }
  }

  function appendChat(from, body) {
    const li = document.createElement("li");
    li.className = from;
    const who = document.createElement("small");
    text(who, from === "citizen" ? t("sign.me") : t("sign.agent"));
    const span = document.createElement("span");
    text(span, body);
    li.append(who, span);
    $("chat-log").append(li);
    $("chat-log").scrollTop = $("chat-log").scrollHeight;
  }

  function onJoined() {
    text($("stage"), t("sign.agent_view"));
    status(t("sign.joined"));
    $("queue-info").hidden = true;
    $("callback-form").hidden = true;
    $("remote-box").hidden = false;
    $("videos").classList.remove("waiting");
    $("chat").hidden = false;
    rtc = window.dasanRtc.connect({
      session, token, started,
      iceServers: iceServers,
      localStream: stream,
      remoteVideo: $("remote"),
      onState: (state) => {
        document.body.dataset.call = state;
        if (state === "connected") status(t("sign.connected"));
        else if (state === "disconnected") status(t("sign.reconnecting"));
      },
    });
    rtc.offer().catch(() => status(t("sign.failed")));
  }

  async function finish(sendEnd) {
    if (ended) return;
    ended = true;
    if (rtc) await rtc.close(sendEnd);
    else if (sendEnd && session) await window.dasanRtc.post(session, { token, type: "end" }).catch(() => {});
    if (source) source.close();
    if (stream) for (const track of stream.getTracks()) track.stop();
    try { sessionStorage.removeItem("dasan-sign"); } catch (e) { /* private mode */ }
    $("call").hidden = true;
    $("start-view").hidden = true;
    $("ended-view").hidden = false;
    $("ended-h").focus();
  }

  let iceServers = [];
  let callbackLeft = false;

  $("start").addEventListener("click", async () => {
    started = performance.now();
    $("start").disabled = true;
    text($("start-error"), "");
    try {
      stream = await window.dasanRtc.camera();
    } catch (e) {
      text($("start-error"), t("sign.camera_denied"));
      $("start").disabled = false;
      return;
    }
    try {
      const response = await fetch("/api/v1/sign/sessions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
      if (!response.ok) throw new Error(String(response.status));
      const created = await response.json();
      session = created.session;
      token = created.token;
      iceServers = created.ice_servers || [];
    } catch (e) {
      for (const track of stream.getTracks()) track.stop();
      text($("start-error"), t("sign.failed"));
      $("start").disabled = false;
      return;
    }
    document.body.dataset.session = session;
    $("local").srcObject = stream;
    $("start-view").hidden = true;
    $("call").hidden = false;
    $("end").focus();
    source = window.dasanRtc.listen(session, token, {
      status: onStatus,
      peer: (p) => { if (p.joined && !rtc) onJoined(); },
      signal: (m) => { if (rtc) rtc.onSignal(m); },
      chat: (m) => appendChat(m.from, m.text),
      relay: (r) => status(t(r.ended ? "sign.relay_ended" : r.answered ? "sign.relay_answered" : "sign.relay_ringing")),
      end: () => finish(false),
    });
  });

  $("end").addEventListener("click", () => finish(true));
  window.addEventListener("pagehide", () => {
    if (session && !ended) {
      navigator.sendBeacon && navigator.sendBeacon(
        "/api/v1/sign/sessions/" + session + "/messages",
        new Blob([JSON.stringify({ token, type: "end" })], { type: "application/json" }));
    }
  });

  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("chat-text");
    const body = input.value.trim();
    if (!body || !rtc) return;
    try {
      await rtc.send({ type: "chat", text: body });
      appendChat("citizen", body);
      input.value = "";
      text($("chat-error"), "");
    } catch (e) {
      text($("chat-error"), t("sign.failed"));
    }
  });

  $("callback-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const phone = $("callback-phone").value.trim();
    const via = document.querySelector("input[name=via]:checked").value;
    try {
      await window.dasanRtc.post(session, { token, type: "callback", phone, via });
      callbackLeft = true;
      $("callback-form").hidden = true;
      ended = true;
      if (source) source.close();
      if (stream) for (const track of stream.getTracks()) track.stop();
      $("call").hidden = true;
      $("ended-view").hidden = false;
      text($("ended-h"), t("sign.callback_done"));
      $("ended-h").focus();
    } catch (e) {
      text($("callback-error"), e.message === "invalid_phone" ? t("sign.callback_invalid") : t("sign.failed"));
      $("callback-phone").focus();
    }
  });
})();
