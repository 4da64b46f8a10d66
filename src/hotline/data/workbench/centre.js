// Hotline workbench, the centre's view: triage first (with the classifier's candidates), the returns
// waiting for review, the exemption and extension requests; on a ticket: dispatch or re-dispatch,
// approve or reject a return, correct the category or urgency, decide an exemption or an extension.
(function () {
  "use strict";

  const WB = window.WB;
  const { $, el } = WB;

  function fill(body, countId, rows) {
    const tbody = $(body);
    tbody.textContent = "";
    rows.forEach((r) => tbody.append(r));
    $(countId).textContent = String(rows.length);
    if (!rows.length) tbody.append(el("tr", { class: "empty" }, el("td", { colspan: 6, class: "muted" }, "暂无 None")));
  }

  async function refresh() {
    const [triage, returns, exemptions, extensions] = await Promise.all([
      WB.get("followup", "/v1/units/triage/tickets"),
      WB.get("routing", "/v1/returns/pending").catch((e) => ({ returns: [], error: e })),
      WB.get("followup", "/v1/exemptions?state=requested"),
      WB.get("followup", "/v1/extensions?state=requested"),
    ]);
    fill("triage-rows", "triage-count", triage.tickets.map((t) => {
      const received = WB.received(t) || {};
      return WB.ticketRow([t.ticket_id, WB.time(received.received_at || t.dispatched_at),
        (received.content || "").slice(0, 60), WB.candidates(received) || "–"], t.ticket_id);
    }));
    fill("returns-rows", "returns-count", returns.returns.map((r) => WB.ticketRow([r.ticket_id, WB.unitName(r.unit_code),
      WB.label(r.reason_code), WB.unitName(r.suggested_unit), r.note || ""], r.ticket_id)));
    fill("exemptions-rows", "exemptions-count", exemptions.requests.map((r) => WB.ticketRow([r.ticket_id,
      WB.unitName(r.unit_code), r.reason_code, r.note || "", WB.time(r.requested_at)], r.ticket_id)));
    fill("extensions-rows", "extensions-count", extensions.requests.map((r) => WB.ticketRow([r.ticket_id,
      WB.unitName(r.unit_code), r.reason || "", WB.time(r.current_due_at), WB.time(r.requested_due_at)], r.ticket_id)));
    if (returns.error) WB.notice("error", "退单待审未能读取 returns not read: " + returns.error.message);
  }

  const reasons = (codes) => codes.map((c) => [c, WB.label(c)]);

  function dispatchForm(ticket) {
    const fromTriage = ticket.unit_code === "triage" || /^\d{6}$/.test(ticket.unit_code || "");
    return WB.form("dispatch", fromTriage ? "派单 Dispatch" : "改派 Re-dispatch", [
      ["主办单位 Lead unit", WB.input("lead_unit", { list: "unit-list", required: true, placeholder: "110111001" })],
      ["协办单位 Co-handlers", WB.input("co_handlers", { list: "unit-list", placeholder: "逗号分隔 comma separated" })],
      ["原因 Reason", WB.select("reason_code", reasons(WB.reference.dispatch_reasons.length ? WB.reference.dispatch_reasons
        : ["triage_sorted", "wrong_unit", "supervision"]), fromTriage ? "triage_sorted" : "wrong_unit")],
      ["说明 Note", WB.textarea("note")],
    ], [el("button", { type: "submit" }, fromTriage ? "派单 Dispatch" : "改派 Re-dispatch")], (form) => {
      WB.act(form, "派单 Dispatch", async (progress) => {
        const body = { lead_unit: WB.value(form, "lead_unit"), reason_code: WB.value(form, "reason_code"),
          note: WB.value(form, "note"),
          co_handlers: WB.value(form, "co_handlers").split(/[,，\s]+/).filter(Boolean) };
        const before = await WB.countNow(ticket.ticket_id, ["TicketDispatched"]);
        const accepted = await WB.call("routing", "POST", `/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/dispatches`, body, WB.key());
        return WB.afterRouting(ticket.ticket_id, accepted, ["TicketDispatched"], before, progress);
      });
    });
  }

  function reviewForm(ticket, pending) {
    return WB.form("review", "退单审核 Return review", [
      ["退单 Return", el("span", {}, `${WB.unitName(pending.unit_code)} · ${WB.label(pending.reason_code)} · ${pending.note || ""}`)],
      ["意见 Note", WB.textarea("note")],
    ], [el("button", { type: "submit", name: "approve", value: "true" }, "同意退单 Approve"),
      el("button", { type: "submit", name: "reject", value: "false", class: "secondary" }, "驳回 Reject")], (form, submitter) => {
      const approved = submitter && submitter.value === "true";
      WB.act(form, approved ? "同意退单 Approve" : "驳回退单 Reject", async (progress) => {
        const before = await WB.countNow(ticket.ticket_id, ["ReturnReviewed"]);
        const accepted = await WB.call("routing", "POST", `/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/returns/decision`,
          { approved, note: WB.value(form, "note") }, WB.key());
        return WB.afterRouting(ticket.ticket_id, accepted, ["ReturnReviewed"], before, progress);
      });
    });
  }

  function categoryForm(ticket) {
    const current = WB.categoryOf(ticket);
    return WB.form("category", "更正分类 Correct category", [
      ["类别 Category", WB.select("category", WB.reference.categories.map((c) => [c.code, `${c.zh} ${c.en} (${c.first_level || ""})`]), current)],
      ["紧急程度 Urgency", WB.select("urgency", [["", "不变 unchanged"], ...WB.reference.urgency.map((u) => [u.code, `${u.zh} ${u.en}`])], "")],
      ["说明 Note", WB.textarea("note")],
    ], [el("button", { type: "submit" }, "更正 Correct")], (form) => {
      WB.act(form, "更正分类 Correct", async (progress) => {
        const before = await WB.countNow(ticket.ticket_id, ["CategoryCorrected"]);
        const accepted = await WB.call("routing", "POST", `/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/category`,
          { category: WB.value(form, "category"), urgency: WB.value(form, "urgency") || null, note: WB.value(form, "note") }, WB.key());
        return WB.afterRouting(ticket.ticket_id, accepted, ["CategoryCorrected"], before, progress);
      });
    });
  }

  // Followup decides at once (201): the answer is the decision itself.
  function decisionForm(ticket, kind, who, body) {
    const zh = kind === "exemptions" ? "核减审批 Exemption" : "延期审批 Extension";
    return WB.form(kind + "-decision", `${zh} · ${WB.unitName(who)}`, [["意见 Note", WB.textarea("note")]],
      [el("button", { type: "submit", value: "true" }, "批准 Approve"),
        el("button", { type: "submit", value: "false", class: "secondary" }, "不批准 Reject")], (form, submitter) => {
        WB.act(form, zh, async () => {
          const approved = submitter && submitter.value === "true";
          await WB.call("followup", "POST", `/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/${kind}/decision`,
            { ...body, approved, note: WB.value(form, "note"), decided_at: WB.nowIso() }, WB.key());
          await WB.openTicket(ticket.ticket_id);
          WB.refresh().catch(() => {});
          return approved ? "已批准 approved" : "未批准 rejected";
        });
      });
  }

  function actions(box, ticket, dispatch) {
    if (dispatch && dispatch.pending_return) box.append(reviewForm(ticket, dispatch.pending_return));
    for (const x of ticket.exemptions || []) {
      if (x.state === "requested") box.append(decisionForm(ticket, "exemptions", x.unit_code, { unit_code: x.unit_code }));
    }
    if (ticket.extension && ticket.extension.state === "requested") box.append(decisionForm(ticket, "extensions", ticket.unit_code, {}));
    if (ticket.state !== "closed" && !(dispatch && dispatch.closed)) {
      box.append(dispatchForm(ticket));
      box.append(categoryForm(ticket));
    }
  }

  WB.views.centre = { refresh, actions };
})();
