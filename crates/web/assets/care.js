// The care programme's page: the day's calls (open one to see its script and
// record the outcome), escalations oldest first with their timers and the
// next step, the roster with enrolment and CSV import, notices, the week's
// figures. Each section is on the page only for the roles that may use it.
"use strict";
(function () {
  // Read on first use: on the desktop this script loads before the page's
  // message data.
  let messages = null;
  const t = (key) => {
    if (!messages) messages = JSON.parse(document.getElementById("messages").textContent);
    return messages[key] || key;
  };
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const lang = document.documentElement.lang;
  const locale = lang === "ko" ? "ko-KR" : "en-GB";
  const timeZone = document.querySelector('meta[name="center-zone"]').content;
  let current = null;

  function text(el, value) {
    el.textContent = value == null ? "" : String(value);
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString(locale, { timeZone }) : "";
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString(locale, { timeZone, hour: "2-digit", minute: "2-digit" });
  }

  function today() {
    return new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date());
  }

  async function api(method, path, body, type) {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = type || "application/json";
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers,
      body: body === undefined ? undefined : type ? body : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      throw new Error(data && data.error ? data.error.message : String(response.status));
    }
    return data;
  }

  function cell(row, value) {
    const td = document.createElement("td");
    if (value instanceof Node) td.append(value);
    else text(td, value);
    row.append(td);
    return td;
  }

  // --- The day's calls ---

  async function loadCalls() {
    const body = document.querySelector("#calls tbody");
    try {
      const data = await api("GET", "/api/v1/care/due?date=" + encodeURIComponent($("day").value));
      body.replaceChildren();
      for (const call of data.calls) {
        const row = document.createElement("tr");
        cell(row, clock(call.due_at));
        const open = document.createElement("button");
        open.type = "button";
        text(open, call.senior_name || call.senior_id);
        open.addEventListener("click", () => openCall(call.id));
        cell(row, open);
        cell(row, call.district);
        cell(row, call.attempt);
        const status = call.outcome ? t("care.outcome." + call.outcome) : t("care.call_status." + call.status);
        cell(row, status);
        body.append(row);
      }
      text($("calls-status"), data.calls.length ? "" : t("care.none"));
    } catch (e) {
      text($("calls-status"), e.message);
    }
  }

  // The script and outcome form; `p` prefixes the element ids (the
  // desktop's copy uses "care-").
  function renderScript(data, p) {
    const senior = data.senior;
    const dl = $(p + "script-senior");
    dl.replaceChildren();
    const pairs = [
      ["care.name", senior.name],
      ["care.phone", senior.phone],
      ["care.district", senior.district],
      ["care.hours", senior.hours],
      ["care.health_notes", senior.health_notes],
      ["care.emergency", senior.emergency_contacts.map((c) => c.name + " " + c.phone).join(", ")],
    ];
    for (const [key, value] of pairs) {
      const dt = document.createElement("dt");
      text(dt, t(key));
      const dd = document.createElement("dd");
      text(dd, value);
      dl.append(dt, dd);
    }
    const last = $(p + "script-last");
    last.replaceChildren();
    for (const c of data.last_calls) {
      const li = document.createElement("li");
      const note = (c.check && c.check.note) || c.note || "";
      text(li, when(c.done_at) + " · " + t("care.outcome." + c.outcome) + (note ? " · " + note : ""));
      last.append(li);
    }
    const notices = $(p + "script-notices");
    notices.replaceChildren();
    for (const n of data.notices) {
      const li = document.createElement("li");
      text(li, n.title + ": " + n.body);
      notices.append(li);
    }
    $(p + "outcome-form").reset();
    syncCheck(p);
    text($(p + "outcome-error"), "");
    text($(p + "outcome-status"), "");
  }

  function syncCheck(p) {
    $(p + "check").disabled = $(p + "outcome").value !== "reached";
  }

  function outcomeBody(p) {
    const outcome = $(p + "outcome").value;
    const body = { outcome, note: $(p + "note").value };
    if (outcome === "reached") {
      body.check = {
        health: $(p + "health").value,
        meals: $(p + "meals").value,
        mood: $(p + "mood").value,
        needs: $(p + "medical").checked ? ["medical_counselling"] : [],
        concern: $(p + "concern").checked,
        note: $(p + "note").value,
      };
      body.note = "";
    }
    return body;
  }

  // Records the outcome of call `id` from the form prefixed `p`.
  async function record(id, p) {
    try {
      const data = await api("POST", "/api/v1/care/calls/" + encodeURIComponent(id) + "/outcome", outcomeBody(p));
      text($(p + "outcome-status"), data.escalation ? t("care.escalated") : t("care.recorded"));
      text($(p + "outcome-error"), "");
      $(p + "outcome-form").reset();
      syncCheck(p);
      return data;
    } catch (e) {
      text($(p + "outcome-error"), e.message);
      return null;
    }
  }

  window.dasanCare = { renderScript, syncCheck, record, api };

  async function openCall(id) {
    const data = await api("GET", "/api/v1/care/calls/" + encodeURIComponent(id));
    current = data.call;
    renderScript(data, "");
    $("script").hidden = false;
    $("script-h").tabIndex = -1;
    $("script-h").focus();
  }

  async function recordOutcome(event) {
    event.preventDefault();
    if (!current) return;
    if (await record(current.id, "")) {
      current = null;
      loadCalls();
      if ($("escalations")) loadEscalations();
    }
  }

  // --- Escalations ---

  const NEXT = { open: "acknowledged", sent: "acknowledged", acknowledged: "visited", visited: "resolved" };

  async function loadEscalations() {
    const body = document.querySelector("#escalations tbody");
    try {
      const data = await api("GET", "/api/v1/care/escalations");
      body.replaceChildren();
      for (const e of data.escalations) {
        const row = document.createElement("tr");
        cell(row, when(e.opened_at));
        cell(row, e.senior ? e.senior.name + " (" + e.senior.district + ")" : e.senior_id);
        cell(row, e.reasons.map((r) => t("care.reason." + r)).join(", "));
        cell(row, e.department_id || "");
        cell(row, t("care.esc." + e.status));
        cell(row, e.age_minutes);
        const next = NEXT[e.status];
        const button = document.createElement("button");
        button.type = "button";
        text(button, t("care.esc." + next));
        button.addEventListener("click", async () => {
          try {
            await api("POST", "/api/v1/care/escalations/" + encodeURIComponent(e.id) + "/status", { status: next });
            loadEscalations();
          } catch (err) {
            text($("esc-status"), err.message);
          }
        });
        cell(row, button);
        body.append(row);
      }
      text($("esc-status"), data.escalations.length ? "" : t("care.none"));
    } catch (e) {
      text($("esc-status"), e.message);
    }
  }

  // --- Roster, enrolment, import ---

  async function loadRoster() {
    const body = document.querySelector("#roster tbody");
    const data = await api("GET", "/api/v1/care/seniors");
    body.replaceChildren();
    for (const s of data.seniors) {
      const row = document.createElement("tr");
      if ($("enrol-form")) {
        const edit = document.createElement("button");
        edit.type = "button";
        text(edit, s.name);
        edit.addEventListener("click", () => editSenior(s));
        cell(row, edit);
      } else {
        cell(row, s.name);
      }
      cell(row, s.district);
      cell(row, s.calls_per_week);
      cell(row, s.hours);
      cell(row, s.consent ? s.consent.date : "—");
      body.append(row);
    }
  }

  // The senior being edited in the enrolment form (null: a new one).
  let editing = null;
  const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

  function editSenior(s) {
    editing = s;
    $("s-name").value = s.name;
    $("s-phone").value = s.phone;
    $("s-district").value = s.district;
    $("s-per-week").value = s.calls_per_week;
    $("s-days").value = (s.days || []).map((d) => WEEKDAYS[d]).join(",");
    $("s-hours").value = s.hours;
    $("s-contact").value = s.emergency_contacts.length ? s.emergency_contacts[0].phone : "";
    $("s-notes").value = s.health_notes;
    $("s-consent").checked = false;
    $("s-new").hidden = false;
    $("s-exit-box").hidden = false;
    text($("enrol-h"), t("care.editing") + ": " + s.name);
    text($("enrol-status"), "");
    $("s-name").focus();
  }

  function stopEditing() {
    editing = null;
    $("enrol-form").reset();
    $("s-new").hidden = true;
    $("s-exit-box").hidden = true;
    text($("enrol-h"), t("care.enrol"));
  }

  async function exitSenior() {
    if (!editing) return;
    try {
      await api("POST", "/api/v1/care/seniors/" + encodeURIComponent(editing.id) + "/exit", {
        reason: $("s-exit-reason").value,
      });
      stopEditing();
      text($("enrol-status"), t("care.saved"));
      loadRoster();
    } catch (e) {
      text($("enrol-error"), e.message);
    }
  }

  async function enrol(event) {
    event.preventDefault();
    const body = {
      name: $("s-name").value,
      phone: $("s-phone").value,
      district: $("s-district").value,
      calls_per_week: Number($("s-per-week").value),
      days: $("s-days").value,
      hours: $("s-hours").value,
      health_notes: $("s-notes").value,
    };
    const contacts = editing ? editing.emergency_contacts.slice(1) : [];
    if ($("s-contact").value.trim()) {
      const first = editing && editing.emergency_contacts[0];
      contacts.unshift({
        name: first ? first.name : t("care.emergency"),
        phone: $("s-contact").value,
        relation: first ? first.relation : "",
      });
    }
    body.emergency_contacts = contacts;
    if ($("s-consent").checked) body.consent_date = today();
    try {
      if (editing) {
        body.district_office = editing.district_office;
        body.health_center = editing.health_center;
        body.birth_year = editing.birth_year;
        body.living_situation = editing.living_situation;
        await api("PUT", "/api/v1/care/seniors/" + encodeURIComponent(editing.id), body);
      } else {
        await api("POST", "/api/v1/care/seniors", body);
      }
      stopEditing();
      text($("enrol-error"), "");
      text($("enrol-status"), t("care.saved"));
      loadRoster();
    } catch (e) {
      text($("enrol-error"), e.message);
    }
  }

  async function importFile(event) {
    event.preventDefault();
    const file = $("import-file").files[0];
    if (!file) return;
    try {
      const data = await api("POST", "/api/v1/care/seniors/import", await file.text(), "text/csv");
      text($("import-status"), t("care.imported") + ": " + data.imported);
      loadRoster();
    } catch (e) {
      text($("import-status"), e.message);
    }
  }

  // --- Notices ---

  async function loadNotices() {
    const list = $("notices");
    const data = await api("GET", "/api/v1/care/notices");
    list.replaceChildren();
    for (const n of data.notices) {
      const li = document.createElement("li");
      text(li, n.title + " (" + n.valid_from + " ~ " + n.valid_to + ") · " + n.reached_seniors.length);
      list.append(li);
    }
  }

  async function postNotice(event) {
    event.preventDefault();
    const districts = $("n-districts").value.split(",").map((d) => d.trim()).filter(Boolean);
    try {
      await api("POST", "/api/v1/care/notices", {
        title: $("n-title").value,
        body: $("n-body").value,
        districts,
        valid_from: $("n-from").value,
        valid_to: $("n-to").value,
      });
      text($("notice-error"), "");
      text($("notice-status"), t("care.saved"));
      $("notice-form").reset();
      loadNotices();
    } catch (e) {
      text($("notice-error"), e.message);
    }
  }

  // --- The week ---

  async function loadWeek() {
    const data = await api("GET", "/api/v1/care/report");
    const percent = (v) => (v == null ? "—" : (v * 100).toFixed(1) + "%");
    const dl = $("week");
    dl.replaceChildren();
    const pairs = [
      ["care.coverage", percent(data.coverage) + " (" + data.seniors_covered + "/" + data.seniors_scheduled + ")"],
      ["care.answer_rate", percent(data.answer_rate)],
      ["care.escalations_opened", data.escalations_opened],
      ["care.resolution_hours", data.mean_hours_to_resolution == null ? "—" : data.mean_hours_to_resolution.toFixed(1)],
    ];
    for (const [key, value] of pairs) {
      const dt = document.createElement("dt");
      text(dt, t(key));
      const dd = document.createElement("dd");
      text(dd, value);
      dl.append(dt, dd);
    }
    const body = document.querySelector("#week-days tbody");
    body.replaceChildren();
    for (const d of data.calls_per_day) {
      const row = document.createElement("tr");
      cell(row, d.date);
      cell(row, d.tries);
      cell(row, d.reached);
      body.append(row);
    }
  }

  if ($("calls")) {
    $("day").value = today();
    $("day").addEventListener("change", loadCalls);
    $("outcome").addEventListener("change", () => syncCheck(""));
    $("outcome-form").addEventListener("submit", recordOutcome);
    syncCheck("");
    loadCalls();
  }
  if ($("escalations")) loadEscalations();
  if ($("roster")) loadRoster().catch(() => {});
  if ($("enrol-form")) {
    $("enrol-form").addEventListener("submit", enrol);
    $("s-new").addEventListener("click", stopEditing);
    $("s-exit").addEventListener("click", exitSenior);
    $("import-form").addEventListener("submit", importFile);
    $("notice-form").addEventListener("submit", postNotice);
    loadNotices().catch(() => {});
  }
  if ($("week")) loadWeek().catch(() => {});
})();
