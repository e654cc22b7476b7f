// The knowledge base's editing page: the article list, an editor that sends
// the version it started from (a stale edit is refused, not lost), the
// history, and the synonym list. Strings come from the page's i18n data.
"use strict";
(function () {
  const messages = JSON.parse(document.getElementById("messages").textContent);
  const t = (key) => messages[key] || key;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const lang = document.documentElement.lang;
  const locale = lang === "ko" ? "ko-KR" : "en-GB";
  const timeZone = document.querySelector('meta[name="center-zone"]').content;
  let editing = null;

  function text(el, value) {
    el.textContent = value == null ? "" : String(value);
  }

  function when(iso) {
    return new Date(iso).toLocaleString(locale, { timeZone });
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
      const error = new Error(data && data.error ? data.error.message : String(response.status));
      error.code = data && data.error ? data.error.code : "";
      throw error;
    }
    return data;
  }

  async function loadList() {
    const body = document.querySelector("#articles tbody");
    try {
      const data = await api("GET", "/api/v1/kb/articles");
      body.replaceChildren();
      for (const a of data.articles) {
        const row = document.createElement("tr");
        const title = document.createElement("td");
        const open = document.createElement("button");
        open.type = "button";
        text(open, a.title);
        open.addEventListener("click", () => loadArticle(a.id));
        title.append(open);
        const cells = [a.category, t("kbadmin.status." + a.status), a.version, a.updated_by + " · " + when(a.updated_at)];
        row.append(title);
        for (const value of cells) {
          const td = document.createElement("td");
          text(td, value);
          row.append(td);
        }
        body.append(row);
      }
      text($("list-status"), t("kbadmin.count").replace("{n}", data.articles.length));
    } catch (e) {
      text($("list-status"), t("kbadmin.failed") + " " + e.message);
    }
  }

  function fill(article) {
    editing = article ? article.id : null;
    $("a-id").value = article ? article.id : "";
    $("a-id").readOnly = !!article;
    $("a-title").value = article ? article.title : "";
    $("a-category").value = article ? article.category : "other";
    $("a-tags").value = article ? article.tags.join(", ") : "";
    $("a-status").value = article ? article.status : "published";
    $("a-body").value = article ? article.body : "";
    $("a-version").value = article ? article.version : "";
    $("delete").disabled = !article;
    text($("editor-error"), "");
  }

  async function loadArticle(id) {
    try {
      const data = await api("GET", "/api/v1/kb/articles/" + encodeURIComponent(id));
      fill(data.article);
      text($("editor-status"), "");
      $("a-title").focus();
      loadVersions(id);
    } catch (e) {
      text($("editor-error"), t("kbadmin.failed") + " " + e.message);
    }
  }

  async function loadVersions(id) {
    const list = $("versions");
    list.replaceChildren();
    if (!id) return;
    try {
      const data = await api("GET", "/api/v1/kb/articles/" + encodeURIComponent(id) + "/versions");
      for (const v of data.versions) {
        const li = document.createElement("li");
        text(li, "v" + v.version + " · " + v.author + " · " + when(v.at) + " · " + t("kbadmin.status." + v.status) + " · " + v.title);
        list.append(li);
      }
    } catch (e) {
      const li = document.createElement("li");
      text(li, t("kbadmin.no_versions"));
      list.append(li);
    }
  }

  $("new-article").addEventListener("click", () => {
    fill(null);
    $("versions").replaceChildren();
    text($("editor-status"), "");
    $("a-id").focus();
  });

  $("editor").addEventListener("submit", async (event) => {
    event.preventDefault();
    text($("editor-error"), "");
    const body = {
      title: $("a-title").value,
      body: $("a-body").value,
      category: $("a-category").value,
      tags: $("a-tags").value.split(",").map((s) => s.trim()).filter((s) => s),
      status: $("a-status").value,
    };
    try {
      let data;
      if (editing) {
        body.version = Number($("a-version").value);
        data = await api("PUT", "/api/v1/kb/articles/" + encodeURIComponent(editing), body);
      } else {
        const id = $("a-id").value.trim();
        if (id) body.id = id;
        data = await api("POST", "/api/v1/kb/articles", body);
      }
      fill(data.article);
      text($("editor-status"), t(data.outcome === "unchanged" ? "kbadmin.unchanged" : "kbadmin.saved"));
      loadVersions(data.article.id);
      loadList();
    } catch (e) {
      text($("editor-error"), e.code === "version_conflict" ? t("kbadmin.conflict") : t("kbadmin.failed") + " " + e.message);
    }
  });

  $("delete").addEventListener("click", async () => {
    if (!editing || !window.confirm(t("kbadmin.confirm_delete"))) return;
    try {
      await api("DELETE", "/api/v1/kb/articles/" + encodeURIComponent(editing));
      fill(null);
      $("versions").replaceChildren();
      text($("editor-status"), t("kbadmin.deleted"));
      loadList();
    } catch (e) {
      text($("editor-error"), t("kbadmin.failed") + " " + e.message);
    }
  });

  async function loadSynonyms() {
    try {
      const data = await api("GET", "/api/v1/kb/synonyms");
      $("synonyms").value = data.groups.map((g) => g.join(", ")).join("\n");
    } catch (e) {
      text($("synonyms-error"), t("kbadmin.failed") + " " + e.message);
    }
  }

  $("synonyms-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    text($("synonyms-error"), "");
    const groups = $("synonyms").value.split("\n")
      .map((line) => line.split(",").map((w) => w.trim()).filter((w) => w))
      .filter((g) => g.length);
    try {
      await api("PUT", "/api/v1/kb/synonyms", { groups });
      text($("synonyms-status"), t("kbadmin.synonyms_saved"));
    } catch (e) {
      text($("synonyms-error"), t("kbadmin.failed") + " " + e.message);
    }
  });

  fill(null);
  loadList();
  loadSynonyms();
})();
