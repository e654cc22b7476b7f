// The supervisors' wallboard: queues, agents and today's half-hour chart,
// redrawn from the server's "wallboard" and "chart" Server-Sent Events. The
// chart is SVG rendered by the server; this script only places it.
"use strict";
(function () {
  const messages = JSON.parse(document.getElementById("messages").textContent);
  const t = (key) => messages[key] || key;
  const $ = (id) => document.getElementById(id);
  const lang = document.documentElement.lang;
  const locale = lang === "ko" ? "ko-KR" : "en-GB";
  // Times show in the center's zone, whatever the workstation's clock says.
  const timeZone = document.querySelector('meta[name="center-zone"]').content;
  let board = null;
  // Server time minus local time, so waits count on the server's clock.
  let skew = 0;

  function cell(row, value, header) {
    const el = document.createElement(header ? "th" : "td");
    if (header) el.scope = "row";
    el.textContent = value == null ? "" : String(value);
    row.append(el);
    return el;
  }

  function percent(ratio) {
    return ratio == null ? "—" : (ratio * 100).toFixed(1) + "%";
  }

  function duration(seconds) {
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    return m + ":" + String(s).padStart(2, "0");
  }

  function waitOf(queue) {
    if (!queue.oldest_arrived_at) return 0;
    const now = Date.now() + skew;
    return Math.max(0, Math.floor((now - Date.parse(queue.oldest_arrived_at)) / 1000));
  }

  function queueName(queue) {
    const name = t("channel." + queue.channel) + " · " + (queue.category_name[lang] || queue.category);
    return queue.skills.length ? name + " (" + queue.skills.join(", ") + ")" : name;
  }

  function renderQueues() {
    const body = $("queues").tBodies[0];
    body.replaceChildren();
    if (!board.queues.length) {
      const row = body.insertRow();
      const td = cell(row, t("wallboard.no_queues"));
      td.colSpan = 8;
    }
    for (const queue of board.queues) {
      const row = body.insertRow();
      row.dataset.queue = queue.name;
      cell(row, queueName(queue), true);
      cell(row, queue.waiting).dataset.field = "waiting";
      cell(row, duration(waitOf(queue))).dataset.field = "longest";
      cell(row, queue.offered).dataset.field = "offered";
      cell(row, queue.answered).dataset.field = "answered";
      cell(row, queue.abandoned).dataset.field = "abandoned";
      cell(row, percent(queue.service_level)).dataset.field = "service_level";
      cell(row, percent(queue.abandon_rate)).dataset.field = "abandon_rate";
    }
    const foot = $("queues").tFoot;
    foot.replaceChildren();
    const total = board.total;
    const row = foot.insertRow();
    cell(row, t("wallboard.total"), true);
    cell(row, board.queues.reduce((n, q) => n + q.waiting, 0));
    cell(row, duration(Math.max(0, ...board.queues.map(waitOf))));
    cell(row, total.offered);
    cell(row, total.answered);
    cell(row, total.abandoned);
    cell(row, percent(total.service_level));
    cell(row, percent(total.abandon_rate));
  }

  function renderAgents() {
    const states = $("agent-states");
    states.replaceChildren();
    const order = ["available", "reserved", "busy", "wrap_up", "break", "offline"];
    for (const state of order) {
      const count = board.agents_by_state[state] || 0;
      const li = document.createElement("li");
      li.dataset.state = state;
      li.textContent = t("presence." + state) + ": " + count;
      states.append(li);
    }
    const body = $("agents").tBodies[0];
    body.replaceChildren();
    if (!board.agents.length) {
      const row = body.insertRow();
      cell(row, t("wallboard.no_agents")).colSpan = 3;
    }
    for (const agent of board.agents) {
      const row = body.insertRow();
      cell(row, agent.name, true);
      cell(row, t("presence." + agent.presence)).dataset.presence = agent.presence;
      cell(row, new Date(agent.since).toLocaleTimeString(locale, { timeZone }));
    }
  }

  function render(next) {
    board = next;
    skew = Date.parse(next.server_time) - Date.now();
    document.body.dataset.version = next.version;
    $("updated").textContent = new Date(next.server_time).toLocaleTimeString(locale, { timeZone });
    $("updated").dateTime = next.server_time;
    renderQueues();
    renderAgents();
  }

  // Longest waits keep counting between events.
  setInterval(() => {
    if (!board) return;
    for (const queue of board.queues) {
      const row = document.querySelector('tr[data-queue="' + CSS.escape(queue.name) + '"] [data-field="longest"]');
      if (row) row.textContent = duration(waitOf(queue));
    }
  }, 1000);

  function connection(state) {
    if (document.body.dataset.live === state) return;
    document.body.dataset.live = state;
    $("live-status").textContent = t("live." + state);
  }

  const source = new EventSource("/api/v1/wallboard/events?lang=" + encodeURIComponent(lang));
  source.addEventListener("wallboard", (event) => {
    connection("connected");
    render(JSON.parse(event.data));
  });
  source.addEventListener("chart", (event) => {
    // Server-rendered SVG with every label escaped by the server.
    $("chart").innerHTML = event.data;
  });
  source.addEventListener("error", () => connection("reconnecting"));
})();
