// Hotline workbench, the core: login, calls to followup (this page's origin) and routing (its address
// from /workbench/config.json), one plain notice for progress and errors, small DOM helpers.
// Plain JS, no libraries. ticket.js, centre.js and unit.js add the views to window.WB.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const WB = (window.WB = {
    $, token: null, me: null, staff: "", config: { routing_url: "http://127.0.0.1:8002", time_zone: "Asia/Shanghai" },
    reference: { units: [], categories: [], urgency: [], return_reasons: [], dispatch_reasons: [] },
    unitNames: new Map(), categoryNames: new Map(), views: {},
  });

  const STATUS = {
    0: "无法连接 Cannot connect", 401: "未登录或令牌失效 Not logged in or token expired",
    403: "无权限 Forbidden", 404: "未找到 Not found", 409: "冲突 Conflict", 422: "输入有误 Invalid",
  };
  WB.LABELS = {
    triage_sorted: "分拨 sorted from triage", wrong_unit: "改派 wrong unit", supervision: "督办 supervision",
    not_our_jurisdiction: "非本单位职责 not our jurisdiction", wrong_address: "地址有误 wrong address",
    belongs_to_unit: "属其他单位 belongs to another unit", open: "在办 open", resolved: "已办结 resolved",
    closed: "已结案 closed", phone: "电话 phone", face_to_face: "见面 face to face", wechat: "微信 WeChat",
    on_site: "现场 on site", explained: "已解释说明 explained", partly_resolved: "部分解决 partly resolved",
    not_resolvable: "暂不具备解决条件 not resolvable", requested: "待审 requested", approved: "已批准 approved",
    denied: "未批准 denied", rejected: "已驳回 rejected",
  };
  WB.label = (code) => (code == null ? "–" : WB.LABELS[code] || code);
  WB.unitName = (code) => (code == null ? "–" : WB.unitNames.has(code) ? `${WB.unitNames.get(code)} (${code})` : code);
  WB.categoryName = (code) => (code == null ? "–" : WB.categoryNames.get(code) || code);
  // In the city's time zone (config.json), not the browser's: deadlines are the city's days.
  WB.time = (v) => (v ? new Date(v).toLocaleString("zh-CN", { hour12: false, timeZone: WB.config.time_zone }) : "–");
  WB.nowIso = () => new Date().toISOString();
  // <input type="datetime-local"> holds a wall-clock time with no zone: the page fills and reads it
  // as the city's (config.json), as it shows every time, and sends the instant with its offset.
  WB.localInput = (date) => {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone: WB.config.time_zone, year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(date).map((x) => [x.type, x.value]));
    return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
  };
  WB.isoOf = (local) => {
    if (!local) return WB.nowIso();
    const asUtc = new Date(local + ":00Z");  // the wall clock read as UTC
    const offset = new Date(WB.localInput(asUtc) + ":00Z").getTime() - asUtc.getTime();  // the city's, then
    return new Date(asUtc.getTime() - offset).toISOString();
  };
  WB.key = () => (window.crypto && crypto.randomUUID ? crypto.randomUUID()
    : Date.now().toString(36) + Math.random().toString(36).slice(2));

  // el("tr", {class: "x", dataset: {ticket: id}}, "text", child, ...)
  WB.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c != null && c !== false) node.append(c.nodeType ? c : String(c));
    return node;
  };

  // --- calls -----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail, service) {
      const lines = (Array.isArray(detail) ? detail : [{ loc: [], msg: String(detail || "") }])
        .map((d) => ((d.loc || []).filter((p) => p !== "body").join(".") || "") + (d.loc && d.loc.length ? ": " : "") + d.msg);
      super(`${status || ""} ${STATUS[status] || ""} · ${service}: ${lines.join("; ")}`.trim());
      this.status = status;
      this.detail = detail;
    }
  }
  WB.ApiError = ApiError;

  WB.call = async function (service, method, path, body, key) {
    const base = service === "routing" ? WB.config.routing_url : "";
    const headers = { Authorization: "Bearer " + WB.token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    let response;
    try {
      response = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, [{ loc: [], msg: `${base || location.origin} (${e.message})` }], service);
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
    if (response.status === 401 && WB.me) WB.notice("error", STATUS[401]);
    if (!response.ok) throw new ApiError(response.status, data && data.detail, service);
    return { status: response.status, data };
  };
  WB.get = (service, path) => WB.call(service, "GET", path).then((r) => r.data);

  // --- progress and errors ---------------------------------------------------------------------

  WB.notice = function (kind, text) {
    const n = $("notice");
    n.dataset.kind = kind;
    n.textContent = text;
  };

  // Runs an action from a form: its buttons busy, then its answer or error in the form's <output>
  // and the notice. `fn` returns the text to show.
  WB.act = async function (form, label, fn) {
    const out = form.querySelector("output.result");
    const buttons = Array.from(form.querySelectorAll("button"));
    buttons.forEach((b) => (b.disabled = true));
    const say = (state, text) => {
      if (out) { out.dataset.state = state; out.textContent = text; }
      WB.notice(state, `${label}: ${text}`);
    };
    say("busy", "处理中… working");
    try {
      say("ok", (await fn((text) => say("busy", text))) || "完成 done");
      return true;
    } catch (e) {
      say("error", e.message || String(e));
      return false;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  };

  // After a 202 the command waits on routing's topic: re-read until `done()` is true.
  WB.waitFor = async function (done, progress, timeoutMs = 30000) {
    progress("已受理，等待 routing 处理 accepted, waiting for routing…");
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 700));
      try { if (await done()) return true; } catch (e) { if (e.status !== 403) throw e; return true; }
    }
    throw new Error("尚未生效，请稍后刷新 not shown yet: refresh in a moment " +
      "(it may have refused it: see the dispatch history)");
  };

  // --- login -----------------------------------------------------------------------------------

  async function loadReference() {
    try {
      WB.reference = await WB.get("routing", "/v1/reference");
    } catch (e) {
      WB.notice("error", "选项未能加载 pickers not loaded: " + e.message);
      return;
    }
    WB.unitNames = new Map(WB.reference.units.map((u) => [u.code, u.name]));
    WB.categoryNames = new Map(WB.reference.categories.map((c) => [c.code, `${c.zh} ${c.en}`]));
    const list = $("unit-list");
    list.textContent = "";
    for (const u of WB.reference.units) list.append(WB.el("option", { value: u.code }, u.name));
    const select = document.querySelector('#search-form select[name="category"]');
    for (const c of WB.reference.categories) select.append(WB.el("option", { value: c.code }, `${c.zh} ${c.en}`));
  }

  async function enter(token, staff) {
    WB.token = token;
    const me = await WB.get("followup", "/v1/whoami");
    if (me.role !== "centre" && me.role !== "unit") throw new ApiError(403, [{ loc: ["token"], msg: "not a unit's or the centre's token" }], "followup");
    WB.me = me;
    WB.staff = staff || (me.role === "centre" ? "centre" : "");
    sessionStorage.setItem("hotline.workbench", JSON.stringify({ token, staff: WB.staff }));
    $("login").hidden = true;
    for (const id of ["desk", "who", "open-form", "refresh", "logout"]) $(id).hidden = false;
    $("who").textContent = me.role === "centre" ? "热线中心 Hotline centre" : `承办单位 Unit ${me.unit_code}`;
    $("who").dataset.role = me.role;
    await loadReference();
    if (me.role === "unit") $("who").textContent = `承办单位 Unit ${WB.unitName(me.unit_code)}`;
    $("centre").hidden = me.role !== "centre";
    $("unit").hidden = me.role !== "unit";
    await WB.refresh();
    WB.notice("ok", "已登录 Logged in");
  }

  WB.refresh = async function () {
    const view = WB.views[WB.me.role];
    if (view) await view.refresh();
  };

  function logout() {
    sessionStorage.removeItem("hotline.workbench");
    WB.token = WB.me = null;
    location.reload();
  }

  // --- search (both views: a unit's is forced to its own tickets by followup) -----------------

  WB.ticketRow = function (cells, ticketId) {
    return WB.el("tr", { dataset: { ticket: ticketId } }, cells.map((c) => WB.el("td", {}, c)),
      WB.el("td", {}, WB.el("button", { type: "button", class: "open", onclick: () => WB.openTicket(ticketId) }, "打开 Open")));
  };

  function search(event) {
    event.preventDefault();
    const form = event.target;
    WB.act(form, "查询 Search", async () => {
      const params = new URLSearchParams();
      for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
      const found = await WB.get("followup", "/v1/tickets?" + params);
      const rows = $("search-rows");
      rows.textContent = "";
      for (const t of found.tickets) {
        rows.append(WB.ticketRow([t.ticket_id, WB.unitName(t.unit_code), WB.label(t.state), WB.categoryName(t.category),
          WB.time(t.received_at), WB.time(t.report_back_due_at)], t.ticket_id));
      }
      return `${found.count} 件 tickets`;
    });
  }

  function start() {
    fetch("/workbench/config.json").then((r) => r.json()).then((c) => Object.assign(WB.config, c)).catch(() => {})
      .finally(() => {
        // The login form shows only once it is clear that no token of this tab's still holds.
        const kept = JSON.parse(sessionStorage.getItem("hotline.workbench") || "null");
        if (!kept) { $("login").hidden = false; return; }
        enter(kept.token, kept.staff).catch((e) => {
          sessionStorage.removeItem("hotline.workbench");
          $("login").hidden = false;
          WB.notice("error", e.message);
        });
      });
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      WB.act(event.target, "登录 Log in", async () => { await enter($("token").value.trim(), $("staff").value.trim()); return "已登录 Logged in"; });
    });
    $("logout").addEventListener("click", logout);
    $("refresh").addEventListener("click", () => WB.refresh().catch((e) => WB.notice("error", e.message)));
    $("search-form").addEventListener("submit", search);
    $("open-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = $("open-id").value.trim();
      if (id) WB.openTicket(id);
    });
    $("ticket-close").addEventListener("click", () => { $("ticket").hidden = true; });
  }
  document.addEventListener("DOMContentLoaded", start);
})();
