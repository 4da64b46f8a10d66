// Hotline workbench: one ticket — followup's view (holder, deadlines, timeline) beside routing's
// dispatch history, and the actions of the caller's role (centre.js, unit.js) under it.
(function () {
  "use strict";

  const WB = window.WB;
  const { $, el } = WB;

  const TYPES = {
    TicketReceived: "受理 Received", TicketDispatched: "派单 Dispatched", TicketReturned: "退单 Returned",
    TicketEscalated: "升级督办 Escalated", DepartmentsSummoned: "吹哨 Summoned", TicketSigned: "签收 Signed",
    ContactRecorded: "联系 Contact", ReportedOnSite: "报到 On site", ProgressNoted: "进展 Progress",
    DeadlineWarned: "预警 Warning", DeadlineBreached: "超时 Breached", DeadlineEscalated: "超时督办 Escalated",
    ExtensionRequested: "申请延期 Extension asked", ExtensionDecided: "延期审批 Extension decided",
    TicketResolved: "办结 Resolved", CallbackResult: "回访 Callback", TicketReopened: "重办 Reopened",
    TicketClosed: "结案 Closed", ExemptionRequested: "申请核减 Exemption asked",
    ExemptionDecided: "核减审批 Exemption decided", ReturnRequested: "退单申请 Return asked",
    ReturnReviewed: "退单审核 Return reviewed", TicketRedispatched: "改派 Re-dispatched",
    CategoryCorrected: "更正分类 Category corrected", DemandCollected: "收集诉求 Demand collected",
  };
  const SHOWN = ["unit_code", "from_unit_code", "attempt", "reason", "reason_code", "kind", "staff_id", "role",
    "outcome", "resolution_code", "approved", "from_category", "category", "urgency", "redispatched",
    "suggested_unit", "demand_ticket_id", "mark", "note"];
  const UNITS = new Set(["unit_code", "from_unit_code", "suggested_unit"]);

  function summary(data) {
    const parts = [];
    for (const k of SHOWN) {
      const v = data[k];
      if (v == null || v === "" || (k === "note" && typeof v !== "string")) continue;
      const text = UNITS.has(k) ? WB.unitName(v) : k.endsWith("category") ? WB.categoryName(v)
        : typeof v === "boolean" ? (v ? "是 yes" : "否 no") : WB.label(v);
      parts.push(el("span", { class: "kv" }, el("b", {}, k), " ", text));
    }
    return parts;
  }

  WB.received = (ticket) => ((ticket.timeline || []).find((e) => e.type === "TicketReceived") || {}).data || null;
  // The category now: the last correction's, else the last dispatch's, else the received one's.
  WB.categoryOf = function (ticket) {
    const entries = (ticket.timeline || []).filter((e) => e.data && e.data.category &&
      ["CategoryCorrected", "TicketDispatched", "TicketReceived"].includes(e.type));
    const corrected = entries.filter((e) => e.type === "CategoryCorrected");
    const last = (corrected.length ? corrected : entries.filter((e) => e.type !== "TicketReceived")).pop()
      || entries.pop();
    return last ? last.data.category : null;
  };
  WB.count = (ticket, types) => (ticket.timeline || []).filter((e) => types.includes(e.type)).length;

  WB.candidates = function (received) {
    if (!received || !(received.candidates || []).length) return "";
    return received.candidates.map((c) => `${c.first_level} ${(c.confidence * 100).toFixed(0)}% → ${WB.categoryName(c.category)}`).join(" · ");
  };

  function facts(ticket, dispatch) {
    const dl = $("ticket-facts");
    dl.textContent = "";
    const add = (zh, en, value) => dl.append(el("dt", {}, zh, " ", el("small", {}, en)), el("dd", {}, value));
    add("承办单位", "Holder", WB.unitName(ticket.unit_code));
    if ((ticket.co_handlers || []).length) add("协办", "Co-handlers", ticket.co_handlers.map(WB.unitName).join("、"));
    add("状态", "State", WB.label(ticket.state));
    add("类别", "Category", WB.categoryName(WB.categoryOf(ticket)));
    add("紧急程度", "Urgency", ticket.urgency || "–");
    add("派单", "Dispatched", `${WB.time(ticket.dispatched_at)} · 第 ${ticket.attempt || 1} 次 attempt`);
    add("首次联系期限", "Respond by", WB.time(ticket.response_due_at));
    add("答复期限", "Report back by", WB.time(ticket.report_back_due_at));
    if (ticket.extension) add("延期", "Extension", `${WB.label(ticket.extension.state)} → ${WB.time(ticket.extension.requested_due_at)}`);
    for (const x of ticket.exemptions || []) add("核减", "Exemption", `${WB.unitName(x.unit_code)} ${x.reason_code}: ${WB.label(x.state)}`);
    if (dispatch && dispatch.pending_return) {
      const p = dispatch.pending_return;
      add("退单待审", "Return waiting", `${WB.unitName(p.unit_code)} · ${WB.label(p.reason_code)} ${p.note || ""}`);
    }
    if (dispatch && dispatch.closed) add("routing", "closed", "已结案 closed");
  }

  function timeline(ticket) {
    const ol = $("ticket-timeline");
    ol.textContent = "";
    for (const e of ticket.timeline || []) {
      ol.append(el("li", { dataset: { type: e.type } }, el("time", {}, WB.time(e.at)), " ",
        el("strong", {}, TYPES[e.type] || e.type), " ", summary(e.data || {})));
    }
  }

  function history(dispatch) {
    const ol = $("ticket-history");
    ol.textContent = "";
    if (!dispatch) { ol.append(el("li", { class: "muted" }, "routing 未答 routing did not answer")); return; }
    for (const h of dispatch.history || []) {
      ol.append(el("li", {}, el("time", {}, WB.time(h.dispatched_at)), " ", el("strong", {}, `#${h.attempt}`), " ",
        WB.unitName(h.unit_code), " · ", h.reason, h.co_handlers && h.co_handlers.length ? " + " + h.co_handlers.join(", ") : ""));
    }
  }

  WB.readTicket = async function (ticketId) {
    const id = encodeURIComponent(ticketId);
    const [ticket, dispatch] = await Promise.all([
      WB.get("followup", `/v1/tickets/${id}`),
      WB.get("routing", `/v1/tickets/${id}/dispatch`).catch(() => null),
    ]);
    return { ticket, dispatch };
  };

  WB.openTicket = async function (ticketId) {
    const panel = $("ticket");
    panel.hidden = false;
    panel.dataset.ticket = ticketId;
    panel.dataset.state = "loading";
    $("ticket-title").textContent = `工单 Ticket ${ticketId}`;
    for (const id of ["ticket-facts", "ticket-timeline", "ticket-history", "ticket-actions", "ticket-candidates"]) $(id).textContent = "";
    $("ticket-content").textContent = "读取中… loading";
    let read;
    try {
      read = await WB.readTicket(ticketId);
    } catch (e) {
      panel.dataset.state = "error";
      $("ticket-content").textContent = "";
      $("ticket-actions").append(el("p", { class: "error", id: "ticket-error" }, e.message));
      WB.notice("error", `工单 Ticket ${ticketId}: ${e.message}`);
      return null;
    }
    const { ticket, dispatch } = read;
    const received = WB.received(ticket);
    $("ticket-content").textContent = received ? received.content : "";
    const cands = WB.candidates(received);
    if (cands) $("ticket-candidates").append(el("b", {}, "分类候选 Candidates: "), cands);
    facts(ticket, dispatch);
    timeline(ticket);
    history(dispatch);
    const view = WB.views[WB.me.role];
    if (view) view.actions($("ticket-actions"), ticket, dispatch);
    panel.dataset.state = "shown";
    panel.dataset.holder = ticket.unit_code;
    panel.dataset.attempt = ticket.attempt || 1;
    return read;
  };

  // A small form for an action: fields (label, input) and submit buttons, an <output> for its answer.
  WB.form = function (name, title, fields, buttons, onsubmit) {
    const form = el("form", { class: "action", dataset: { action: name } }, el("h4", {}, title),
      fields.map(([zh, input]) => el("label", {}, zh, " ", input)),
      el("div", { class: "buttons" }, buttons), el("output", { class: "result" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      onsubmit(form, event.submitter);
    });
    return form;
  };
  WB.input = (name, attrs) => el("input", { name, autocomplete: "off", ...(attrs || {}) });
  WB.select = (name, options, selected) => el("select", { name },
    options.map(([value, text]) => el("option", { value, selected: value === selected }, text)));
  WB.textarea = (name, attrs) => el("textarea", { name, rows: 2, ...(attrs || {}) });
  WB.value = (form, name) => (form.elements[name] ? form.elements[name].value.trim() : "");

  // How many entries of `types` the ticket's timeline has now; after a 202, `untilTimeline` re-reads
  // it until there are more, then shows the ticket again.
  WB.countNow = async (ticketId, types) => WB.count((await WB.readTicket(ticketId)).ticket, types);
  WB.untilTimeline = async function (ticketId, types, before, progress) {
    await WB.waitFor(async () => {
      const { ticket } = await WB.readTicket(ticketId);
      return WB.count(ticket, types) > before;
    }, progress);
    await WB.openTicket(ticketId);
    WB.refresh().catch(() => {});
    return "已生效 applied";
  };

  // After routing's 202, ask routing what became of the command: a refusal shows at once with its
  // code and reason; an applied command is then awaited on followup's timeline.
  WB.afterRouting = async function (ticketId, accepted, types, before, progress) {
    const path = `/v1/tickets/${encodeURIComponent(ticketId)}/commands/${encodeURIComponent(accepted.data.command_id)}`;
    await WB.waitFor(async () => {
      const outcome = await WB.get("routing", path);
      if (outcome.status === "refused") throw new Error(`routing 拒绝 refused (${outcome.code}): ${outcome.reason}`);
      return outcome.status === "applied";
    }, progress);
    return WB.untilTimeline(ticketId, types, before, progress);
  };
})();
