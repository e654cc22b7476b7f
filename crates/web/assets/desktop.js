// The agent desktop. Every state it shows comes from the server's "desktop"
// Server-Sent Events (the whole screen document each time), so a reload or a
// dropped connection loses nothing. Strings come from the page's i18n data.
"use strict";
(function () {
  const messages = JSON.parse(document.getElementById("messages").textContent);
  const t = (key) => messages[key] || key;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const lang = document.documentElement.lang;
  const locale = lang === "ko" ? "ko-KR" : "en-GB";
  // Times show in the center's zone, whatever the workstation's clock says.
  const timeZone = document.querySelector('meta[name="center-zone"]').content;

  let screen = null;
  let offerDeadline = 0;
  let offerShown = null;
  let contactShown = null;
  let historyFor = null;
  // Which open contact the agent looks at (text agents hold several).
  let activeId = null;
  let threadShown = { id: null, version: -1 };
  // The care call behind the contact in hand (channel care_call).
  let careCall = null;
  const textChannels = ["sms", "mms", "web", "open311"];

  function text(el, value) {
    el.textContent = value == null ? "" : String(value);
  }

  function time(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleTimeString(locale, { timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function details(dl, rows) {
    dl.replaceChildren();
    for (const [label, value] of rows) {
      const dt = document.createElement("dt");
      text(dt, label);
      const dd = document.createElement("dd");
      text(dd, value);
      dl.append(dt, dd);
    }
  }

  function rowsOf(item) {
    const rows = [
      [t("desktop.channel"), t("channel." + item.channel)],
      [t("desktop.phone"), item.citizen_phone_display || t("desktop.no_phone")],
    ];
    if (item.category) rows.push([t("desktop.category_hinted"), categoryName(item.category) || item.category]);
    rows.push([t("desktop.queue"), item.queue]);
    return rows;
  }

  function categoryName(code) {
    const option = document.querySelector('#category-list option[value="' + CSS.escape(code) + '"]');
    return option ? option.textContent : null;
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: Object.assign(
        { "X-CSRF-Token": csrf, Accept: "application/json" },
        body === undefined ? {} : { "Content-Type": "application/json" }
      ),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : String(response.status);
      throw new Error(message);
    }
    return data;
  }

  function status(message) {
    text($("live-status"), message);
  }

  async function setPresence(presence) {
    try {
      await api("POST", "/api/v1/desktop/presence", { presence });
    } catch (e) {
      status(t("desktop.error") + " " + e.message);
    }
  }

  function render(next) {
    const previous = screen;
    screen = next;
    text($("presence"), t("presence." + next.presence));
    text($("presence-since"), "(" + time(next.presence_since) + " " + t("desktop.since") + ")");

    // The offer: shown with a countdown; focus goes to Accept.
    const offer = next.offer;
    $("offer").hidden = !offer;
    if (offer) {
      if (offerShown !== offer.id) {
        offerShown = offer.id;
        offerDeadline = Date.now() + (offer.remaining_ms || 0);
        details($("offer-details"), rowsOf(offer));
        status(t("desktop.offer_arrived"));
        // Take the focus to Accept unless the agent is typing (a text
        // agent writing a reply must not accept by the next keystroke).
        const typing = document.activeElement &&
          ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
        if (!typing) $("accept").focus();
      }
    } else {
      offerShown = null;
    }
    tick();

    // The contact being handled: details, history and the form. With
    // several (text threads), buttons switch between them.
    const contacts = next.contacts || [];
    if (!contacts.some((c) => c.id === activeId)) {
      activeId = contacts.length ? contacts[0].id : null;
    }
    renderTabs(contacts);
    const contact = contacts.find((c) => c.id === activeId);
    $("contact").hidden = !contact;
    if (contact) {
      if (contactShown !== contact.id) {
        contactShown = contact.id;
        const rows = rowsOf(contact);
        rows.push([t("desktop.waited"), waited(contact) + t("desktop.seconds")]);
        details($("contact-details"), rows);
        $("consultation-form").reset();
        $("category").value = contact.category || "";
        showCategory();
        toggleDepartment();
        text($("form-error"), "");
        if (contact.citizen_phone) loadHistory(contact.citizen_phone);
        else $("history").replaceChildren();
        // A sign-language video call opens with the contact.
        const isVideo = contact.channel === "video" && !!window.dasanRtc;
        $("video-panel").hidden = !isVideo;
        if (isVideo) openVideo(contact.id);
        else closeVideo(true);
        suggest();
        const isText = textChannels.includes(contact.channel);
        $("thread").hidden = !isText;
        threadShown = { id: null, version: -1 };
        // A care call is recorded through its script's outcome form,
        // which also completes the contact.
        const isCare = contact.channel === "care_call" && !!window.dasanCare;
        $("care-panel").hidden = !isCare;
        $("consultation-form").hidden = isCare;
        careCall = null;
        if (isCare) loadCareScript(contact.id);
        else (isText ? $("reply") : $("category")).focus();
      }
      if (textChannels.includes(contact.channel) &&
          (threadShown.id !== contact.id || threadShown.version !== contact.thread_version)) {
        threadShown = { id: contact.id, version: contact.thread_version };
        loadThread(contact.id);
      }
    } else {
      contactShown = null;
      closeVideo(true);
    }

    const wrapUp = next.presence === "wrap_up";
    $("wrapup").hidden = !wrapUp;
    if (wrapUp && (!previous || previous.presence !== "wrap_up")) {
      $("ready").focus();
    }
  }

  function renderTabs(contacts) {
    const tabs = $("contact-tabs");
    tabs.hidden = contacts.length < 2;
    tabs.replaceChildren();
    if (contacts.length < 2) return;
    contacts.forEach((c, i) => {
      const button = document.createElement("button");
      button.type = "button";
      button.setAttribute("aria-pressed", String(c.id === activeId));
      text(button, (i + 1) + ". " + t("channel." + c.channel) + " " + c.citizen_phone_display);
      button.addEventListener("click", () => {
        activeId = c.id;
        contactShown = null;
        render(screen);
      });
      tabs.append(button);
    });
  }

  async function loadThread(id) {
    const list = $("thread-messages");
    try {
      const data = await api("GET", "/api/v1/interactions/" + id + "/messages");
      if (activeId !== id) return;
      list.replaceChildren();
      for (const m of data.messages) {
        const li = document.createElement("li");
        li.className = m.direction;
        const who = document.createElement("small");
        text(who, t("message." + m.direction) + " · " + time(m.created_at) +
          (m.direction === "outbound" ? " · " + t("message.status." + m.status) : ""));
        const body = document.createElement("span");
        text(body, m.body);
        li.append(who, body);
        for (const [i, media] of (m.media || []).entries()) {
          li.append(document.createElement("br"));
          if (media.status === "stored") {
            // Served by Dasan after checking the bytes (never the
            // gateway's URL: the page loads nothing from elsewhere).
            const img = document.createElement("img");
            img.src = "/api/v1/messages/" + m.id + "/media/" + i;
            img.alt = t("message.media") + " " + (i + 1);
            img.style.maxWidth = "16rem";
            img.style.display = "block";
            li.append(img);
          } else {
            const note = document.createElement("small");
            text(note, t("message.media") + " " + (i + 1) + ": " + t("message.media_" + media.status));
            li.append(note);
          }
        }
        list.append(li);
      }
      list.scrollTop = list.scrollHeight;
      const inbound = data.messages.filter((m) => m.direction === "inbound");
      if (inbound.length) suggest(inbound[inbound.length - 1].body);
    } catch (e) {
      text($("reply-error"), t("desktop.reply_failed") + " " + e.message);
    }
  }


  // The knowledge base: search as the agent types (after a pause), and
  // articles suggested for the contact in hand from its category and words.
  let kbSeq = 0;
  let kbTimer = null;

  // Hit snippets are escaped by the server but for <mark>: build them as
  // nodes rather than trusting them as HTML.
  function unescapeHtml(s) {
    return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'").replace(/&amp;/g, "&");
  }

  function snippetNodes(snippet) {
    const nodes = [];
    let marked = false;
    for (const part of (snippet || "").split(/(<mark>|<\/mark>)/)) {
      if (part === "<mark>") { marked = true; continue; }
      if (part === "</mark>") { marked = false; continue; }
      if (!part) continue;
      const node = document.createTextNode(unescapeHtml(part));
      if (marked) {
        const mark = document.createElement("mark");
        mark.append(node);
        nodes.push(mark);
      } else {
        nodes.push(node);
      }
    }
    return nodes;
  }

  // The contact's category, if it names a known one.
  function validCategory() {
    const typed = $("category").value.trim();
    return typed && categoryName(typed) ? typed : "";
  }

  function showHits(hits, heading) {
    $("kb-article").hidden = true;
    $("kb-list-h").hidden = false;
    const list = $("kb-results");
    list.hidden = false;
    list.replaceChildren();
    text($("kb-list-h"), hits.length ? heading : t("desktop.kb_none"));
    for (const hit of hits) {
      const li = document.createElement("li");
      const open = document.createElement("button");
      open.type = "button";
      text(open, hit.title);
      open.addEventListener("click", () => openArticle(hit.id));
      const p = document.createElement("p");
      p.className = "hint";
      p.append(...snippetNodes(hit.snippet));
      li.append(open, p);
      list.append(li);
    }
  }

  async function kbSearch(q, category, heading) {
    const seq = ++kbSeq;
    if (!q && !category) {
      $("kb-results").replaceChildren();
      text($("kb-list-h"), "");
      return;
    }
    const params = new URLSearchParams({ limit: "8" });
    if (q) params.set("q", q);
    if (category) params.set("category", category);
    try {
      const data = await api("GET", "/api/v1/kb/search?" + params.toString());
      if (seq === kbSeq) showHits(data.hits, heading);
    } catch (e) {
      if (seq === kbSeq) text($("kb-list-h"), t("desktop.kb_failed") + " " + e.message);
    }
  }

  async function openArticle(id) {
    try {
      const data = await api("GET", "/api/v1/kb/articles/" + encodeURIComponent(id));
      const a = data.article;
      text($("kb-article-h"), a.title);
      text($("kb-article-meta"), (categoryName(a.category) || a.category) + " · v" + a.version + " · " +
        new Date(a.updated_at).toLocaleDateString(locale, { timeZone }));
      text($("kb-article-body"), a.body);
      $("kb-results").hidden = true;
      $("kb-list-h").hidden = true;
      $("kb-article").hidden = false;
      $("kb-back").focus();
    } catch (e) {
      text($("kb-list-h"), t("desktop.kb_failed") + " " + e.message);
    }
  }

  // Suggestions, unless the agent is running a search of their own.
  function suggest(words) {
    if ($("kb-q").value.trim()) return;
    kbSearch((words || "").slice(0, 300), validCategory(), t("desktop.kb_suggested"));
  }

  function searchTyped() {
    const q = $("kb-q").value.trim();
    if (q) kbSearch(q, validCategory(), t("desktop.kb_results"));
    else suggest();
  }

  $("kb-q").addEventListener("input", () => {
    clearTimeout(kbTimer);
    kbTimer = setTimeout(searchTyped, 250);
  });
  $("kb-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(kbTimer);
    searchTyped();
  });
  $("kb-back").addEventListener("click", () => {
    $("kb-article").hidden = true;
    $("kb-list-h").hidden = false;
    $("kb-results").hidden = false;
    $("kb-q").focus();
  });

  function replySize() {
    let bytes = 0;
    for (const ch of $("reply").value) bytes += ch.charCodeAt(0) < 128 ? 1 : 2;
    text($("reply-size"), bytes + " " + t("desktop.bytes") + " · " + (bytes <= 90 ? "SMS" : "LMS"));
  }
  $("reply").addEventListener("input", replySize);

  $("reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = $("reply").value.trim();
    if (!body || !activeId) return;
    $("send").disabled = true;
    try {
      await api("POST", "/api/v1/interactions/" + activeId + "/messages", { body });
      $("reply").value = "";
      replySize();
      text($("reply-error"), "");
    } catch (e) {
      text($("reply-error"), t("desktop.reply_failed") + " " + e.message);
    } finally {
      $("send").disabled = false;
      $("reply").focus();
    }
  });

  function waited(contact) {
    const arrived = Date.parse(contact.arrived_at);
    const answered = Date.parse(contact.answered_at);
    return Math.max(0, Math.round((answered - arrived) / 1000));
  }

  function tick() {
    if (!screen || !screen.offer) return;
    const left = Math.max(0, Math.ceil((offerDeadline - Date.now()) / 1000));
    text($("offer-countdown"), left);
  }
  setInterval(tick, 250);

  async function loadHistory(phone) {
    historyFor = phone;
    const box = $("history");
    box.replaceChildren();
    try {
      const page = await api("GET", "/api/v1/consultations?limit=20&citizen_phone=" + encodeURIComponent(phone));
      if (historyFor !== phone) return;
      if (!page.items.length) {
        const p = document.createElement("p");
        text(p, t("desktop.no_history"));
        box.append(p);
        return;
      }
      const list = document.createElement("ol");
      list.className = "history";
      for (const item of page.items) {
        const li = document.createElement("li");
        const when = new Date(item.started_at).toLocaleString(locale, { timeZone });
        text(
          li,
          when + " · " + t("channel." + item.channel) + " · " + (categoryName(item.category) || item.category) +
            " · " + t("outcome." + item.outcome) + (item.summary ? " — " + item.summary : "")
        );
        list.append(li);
      }
      box.append(list);
    } catch (e) {
      const p = document.createElement("p");
      p.setAttribute("role", "alert");
      text(p, t("desktop.history_failed"));
      box.append(p);
    }
  }

  function showCategory() {
    text($("category-name"), categoryName($("category").value.trim()) || "");
  }

  function toggleDepartment() {
    const transferred = $("outcome").value === "transferred";
    $("department").disabled = !transferred;
    $("department").required = transferred;
  }

  $("category").addEventListener("input", () => {
    showCategory();
    if (validCategory()) suggest();
  });
  $("outcome").addEventListener("change", toggleDepartment);

  $("consultation-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const contact = screen && (screen.contacts || []).find((c) => c.id === activeId);
    if (!contact) return;
    const category = $("category").value.trim();
    const summary = $("summary").value.trim();
    const outcome = $("outcome").value;
    const department = $("department").value.trim();
    const error = $("form-error");
    if (!categoryName(category)) {
      text(error, t("desktop.unknown_category"));
      $("category").focus();
      return;
    }
    if (!summary) {
      text(error, t("desktop.need_summary"));
      $("summary").focus();
      return;
    }
    if (outcome === "transferred" && !department) {
      text(error, t("desktop.need_department"));
      $("department").focus();
      return;
    }
    const body = { category, summary, outcome };
    if (outcome === "transferred") body.department = department;
    $("submit").disabled = true;
    try {
      await api("POST", "/api/v1/interactions/" + contact.id + "/complete", body);
      text(error, "");
      status(t("desktop.saved"));
    } catch (e) {
      text(error, t("desktop.error") + " " + e.message);
    } finally {
      $("submit").disabled = false;
    }
  });

  async function loadCareScript(interactionId) {
    try {
      const data = await window.dasanCare.api("GET", "/api/v1/care/interactions/" + interactionId);
      if (contactShown !== interactionId) return;
      careCall = data.call.id;
      window.dasanCare.renderScript(data, "care-");
      $("care-outcome").focus();
    } catch (e) {
      text($("care-outcome-error"), t("desktop.error") + " " + e.message);
    }
  }

  if ($("care-panel")) {
    $("care-outcome").addEventListener("change", () => window.dasanCare.syncCheck("care-"));
    $("care-outcome-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!careCall) return;
      $("care-record").disabled = true;
      const done = await window.dasanCare.record(careCall, "care-");
      $("care-record").disabled = false;
      if (done) status(t("desktop.saved"));
    });
  }

  // The sign-language video call of the contact in hand: join the session
  // (once; the token is kept for a reload), open the camera, answer the
  // citizen's offer. Ends when either side ends it or the contact is done.
  let video = null;
  const videoEnded = new Set();

  function appendVideoChat(from, body) {
    const li = document.createElement("li");
    li.className = from === "agent" ? "outbound" : "inbound";
    const who = document.createElement("small");
    text(who, from === "agent" ? t("sign.agent") : t("desktop.video_citizen"));
    const span = document.createElement("span");
    text(span, body);
    li.append(who, span);
    $("video-chat").append(li);
    $("video-chat").scrollTop = $("video-chat").scrollHeight;
  }

  async function openVideo(id) {
    if ((video && video.id === id) || videoEnded.has(id)) return;
    closeVideo(true);
    const v = { id, rtc: null, source: null, stream: null, started: performance.now() };
    video = v;
    $("video-chat").replaceChildren();
    text($("video-status"), t("desktop.video_connecting"));
    const key = "dasan-video-" + id;
    let joined = null;
    try {
      joined = JSON.parse(sessionStorage.getItem(key) || "null");
    } catch (e) {
      joined = null;
    }
    try {
      if (!joined) {
        joined = await api("POST", "/api/v1/sign/sessions/" + id + "/join");
        try { sessionStorage.setItem(key, JSON.stringify(joined)); } catch (e) { /* private mode */ }
      }
      v.stream = await window.dasanRtc.camera();
    } catch (e) {
      text($("video-status"), t("desktop.error") + " " + e.message);
      return;
    }
    if (video !== v) {
      for (const track of v.stream.getTracks()) track.stop();
      return;
    }
    $("video-local").srcObject = v.stream;
    v.rtc = window.dasanRtc.connect({
      session: id,
      token: joined.token,
      iceServers: joined.ice_servers || [],
      localStream: v.stream,
      remoteVideo: $("video-remote"),
      started: v.started,
      onState: (state) => {
        document.body.dataset.video = state;
        if (state === "connected") text($("video-status"), t("desktop.video_connected"));
      },
    });
    v.source = window.dasanRtc.listen(id, joined.token, {
      signal: (m) => v.rtc.onSignal(m),
      chat: (m) => appendVideoChat(m.from, m.text),
      relay: (r) => text($("relay-status"), r.callee + " · " + t("relay." + (r.ended && r.outcome === "answered" ? "ended" : r.outcome))),
      end: () => {
        text($("video-status"), t("desktop.video_ended"));
        closeVideo(false);
        $("category").focus();
      },
    });
  }

  function closeVideo(sendEnd) {
    if (!video) return;
    const v = video;
    video = null;
    videoEnded.add(v.id);
    if (v.source) v.source.close();
    if (v.rtc) v.rtc.close(sendEnd);
    if (v.stream) for (const track of v.stream.getTracks()) track.stop();
    try { sessionStorage.removeItem("dasan-video-" + v.id); } catch (e) { /* private mode */ }
    document.body.dataset.video = "closed";
  }

  if ($("video-panel")) {
    $("video-end").addEventListener("click", () => {
      closeVideo(true);
      text($("video-status"), t("desktop.video_ended"));
    });
    // A voice call to a third party, interpreted by the agent: Dasan rings
    // the agent's phone, then the number.
    $("relay-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const callee = $("relay-callee").value.trim();
      if (!callee || !video) return;
      try {
        await api("POST", "/api/v1/sign/sessions/" + video.id + "/relay", { callee });
        text($("relay-status"), callee + " · " + t("relay.ringing"));
      } catch (e) {
        text($("relay-status"), t("desktop.error") + " " + e.message);
      }
    });
    $("relay-end").addEventListener("click", async () => {
      if (!video) return;
      try {
        await api("POST", "/api/v1/sign/sessions/" + video.id + "/relay/end");
      } catch (e) {
        text($("relay-status"), t("desktop.error") + " " + e.message);
      }
    });
    $("video-chat-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("video-chat-text");
      const body = input.value.trim();
      if (!body || !video || !video.rtc) return;
      try {
        await video.rtc.send({ type: "chat", text: body });
        appendVideoChat("agent", body);
        input.value = "";
      } catch (e) {
        text($("video-status"), t("desktop.error") + " " + e.message);
      }
    });
  }

  async function answer(accept) {
    if (!screen || !screen.offer) return;
    try {
      await api("POST", "/api/v1/interactions/" + screen.offer.id + (accept ? "/accept" : "/decline"));
    } catch (e) {
      status(t("desktop.error") + " " + e.message);
    }
  }

  $("accept").addEventListener("click", () => answer(true));
  $("decline").addEventListener("click", () => answer(false));
  $("ready").addEventListener("click", () => setPresence("available"));
  for (const button of document.querySelectorAll("[data-presence]")) {
    button.addEventListener("click", () => setPresence(button.dataset.presence));
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "F2") {
      event.preventDefault();
      setPresence("available");
    } else if (event.key === "F3") {
      event.preventDefault();
      setPresence("break");
    } else if (event.key === "Escape" && screen && screen.offer &&
               $("offer").contains(document.activeElement)) {
      event.preventDefault();
      answer(false);
    }
  });

  // The live connection. EventSource reconnects by itself; each (re)connect
  // starts with the whole current screen.
  const source = new EventSource("/api/v1/desktop/events");
  function connection(state) {
    if (document.body.dataset.live === state) return;
    document.body.dataset.live = state;
    text($("connection"), t("live." + state));
  }
  source.addEventListener("desktop", (event) => {
    connection("connected");
    render(JSON.parse(event.data));
  });
  source.addEventListener("error", () => connection("reconnecting"));
})();
