// Hotline workbench, a unit's view: its worklist (open, overdue, due soon); on a ticket: sign, record
// a contact (a face-to-face visit with the demands collected on it), resolve, ask for an extension
// or an exemption, return it to the centre.
(function () {
  "use strict";

  const WB = window.WB;
  const { $, el } = WB;
  let view = "open";
  let exemptionReasons = null;

  async function refresh() {
    const list = await WB.get("followup", `/v1/units/${encodeURIComponent(WB.me.unit_code)}/tickets?state=${view}`);
    const tbody = $("worklist-rows");
    tbody.textContent = "";
    const now = Date.now();
    for (const t of list.tickets) {
      const row = WB.ticketRow([t.ticket_id, WB.label(t.state), WB.categoryName(WB.categoryOf(t)),
        WB.time(t.dispatched_at), WB.time(t.report_back_due_at)], t.ticket_id);
      if (t.state === "open" && t.report_back_due_at && new Date(t.report_back_due_at).getTime() < now) row.classList.add("overdue");
      tbody.append(row);
    }
    if (!list.tickets.length) tbody.append(el("tr", { class: "empty" }, el("td", { colspan: 6, class: "muted" }, "暂无 None")));
    $("worklist-count").textContent = String(list.count);
  }

  const path = (ticket, rest) => `/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/${rest}`;
  const staff = () => WB.input("staff_id", { value: WB.staff, required: true, placeholder: "s-001" });
  // Left as shown (this minute), the time sent is the moment of sending: a minute's start can be
  // before the dispatch the unit is acting on.
  const when = (name) => {
    const value = WB.localInput(new Date());
    return WB.input(name, { type: "datetime-local", value, dataset: { shown: value } });
  };
  const whenOf = (form, name) => {
    const input = form.elements[name];
    return input.value === input.dataset.shown ? WB.nowIso() : WB.isoOf(input.value);
  };
  const mine = () => WB.me.unit_code;

  // Followup answers at once (201, or 200 for a repeat): show the ticket again.
  async function done(ticket, text) {
    await WB.openTicket(ticket.ticket_id);
    WB.refresh().catch(() => {});
    return text;
  }

  function signForm(ticket) {
    return WB.form("sign", "签收 Sign", [["工号 Staff id", staff()]], [el("button", { type: "submit" }, "签收 Sign")], (form) =>
      WB.act(form, "签收 Sign", async () => {
        await WB.call("followup", "POST", path(ticket, "sign"),
          { unit_code: mine(), staff_id: WB.value(form, "staff_id"), signed_at: WB.nowIso() });
        return done(ticket, "已签收 signed");
      }));
  }

  function contactForm(ticket) {
    return WB.form("contact", "联系群众 Record a contact", [
      ["方式 Kind", WB.select("kind", ["face_to_face", "phone", "on_site", "wechat"].map((k) => [k, WB.label(k)]), "face_to_face")],
      ["时间 When", when("contacted_at")], ["工号 Staff id", staff()],
      ["地点 Place", WB.input("place")], ["对象 Met with (role)", WB.input("met_with", { placeholder: "来电人 the caller" })],
      ["情况 Notes", WB.textarea("notes")],
    ], [el("button", { type: "submit" }, "记录 Record")], (form) =>
      WB.act(form, "联系 Contact", async () => {
        const { data } = await WB.call("followup", "POST", path(ticket, "contacts"), {
          unit_code: mine(), kind: WB.value(form, "kind"), contacted_at: whenOf(form, "contacted_at"),
          staff_id: WB.value(form, "staff_id"), place: WB.value(form, "place"), met_with: WB.value(form, "met_with"),
          notes: WB.value(form, "notes") }, WB.key());
        return done(ticket, `已记录 recorded ${data.contact_id}`);
      }));
  }

  // Demands residents raised on a face-to-face visit: one a line, each becomes a new ticket.
  function demandsForm(ticket, visits) {
    return WB.form("demands", "收集诉求 Demands collected on a visit", [
      ["走访 Visit", WB.select("contact_id", visits.map((c) => [c.contact_id, `${WB.time(c.contacted_at)} ${c.place || ""}`]),
        visits[visits.length - 1].contact_id)],
      ["诉求（每行一条） Demands, one a line", WB.textarea("demands", { rows: 3, required: true })],
      ["类别提示 Category hint", WB.input("category_hint")],
    ], [el("button", { type: "submit" }, "提交 Submit")], (form) =>
      WB.act(form, "收集诉求 Demands", async () => {
        const hint = WB.value(form, "category_hint") || null;
        const demands = WB.value(form, "demands").split("\n").map((d) => d.trim()).filter(Boolean)
          .map((description) => ({ description, category_hint: hint }));
        const { data } = await WB.call("followup", "POST",
          path(ticket, `contacts/${encodeURIComponent(WB.value(form, "contact_id"))}/demands`), { unit_code: mine(), demands });
        const made = (data.demands || []).map((d) => d.ticket_id).join(", ");
        return done(ticket, `已转为新工单 new tickets: ${made}`);
      }));
  }

  function resolveForm(ticket) {
    return WB.form("resolve", "办结 Resolve", [
      ["结果 Outcome", WB.select("outcome", ["resolved", "partly_resolved", "explained", "not_resolvable"].map((k) => [k, WB.label(k)]), "resolved")],
      ["办结代码 Resolution code", WB.input("resolution_code", { value: "R01", required: true })],
      ["办理情况 Note", WB.textarea("note")],
    ], [el("button", { type: "submit" }, "办结 Resolve")], (form) =>
      WB.act(form, "办结 Resolve", async () => {
        await WB.call("followup", "POST", path(ticket, "resolution"), { unit_code: mine(), outcome: WB.value(form, "outcome"),
          resolution_code: WB.value(form, "resolution_code"), note: WB.value(form, "note"), resolved_at: WB.nowIso() });
        return done(ticket, "已办结 resolved");
      }));
  }

  function extensionForm(ticket) {
    const later = new Date(new Date(ticket.report_back_due_at || Date.now()).getTime() + 7 * 86400000);
    return WB.form("extension", "申请延期 Ask for an extension", [
      ["延至 Until", WB.input("requested_due_at", { type: "datetime-local", value: WB.localInput(later) })],
      ["理由 Reason", WB.textarea("reason", { required: true })],
    ], [el("button", { type: "submit" }, "申请 Ask")], (form) =>
      WB.act(form, "申请延期 Extension", async () => {
        await WB.call("followup", "POST", path(ticket, "extensions"), { unit_code: mine(), reason: WB.value(form, "reason"),
          requested_due_at: WB.isoOf(WB.value(form, "requested_due_at")), requested_at: WB.nowIso() });
        return done(ticket, "已申请，待中心审批 asked; the centre decides");
      }));
  }

  function exemptionForm(ticket) {
    const options = (exemptionReasons || []).map((r) => [r.code, r.zh ? `${r.zh} ${r.en || ""}` : r.code]);
    return WB.form("exemption", "申请核减 Ask for an exemption", [
      ["原因 Reason", options.length ? WB.select("reason_code", options, options[0][0]) : WB.input("reason_code", { required: true })],
      ["说明 Note", WB.textarea("note", { required: true })],
    ], [el("button", { type: "submit" }, "申请 Ask")], (form) =>
      WB.act(form, "申请核减 Exemption", async () => {
        await WB.call("followup", "POST", path(ticket, "exemptions"), { unit_code: mine(), reason_code: WB.value(form, "reason_code"),
          note: WB.value(form, "note"), requested_at: WB.nowIso() }, WB.key());
        return done(ticket, "已申请，待中心审批 asked; the centre decides");
      }));
  }

  function returnForm(ticket) {
    const codes = WB.reference.return_reasons.length ? WB.reference.return_reasons
      : ["not_our_jurisdiction", "wrong_address", "belongs_to_unit"];
    return WB.form("return", "退单 Return to the centre", [
      ["原因 Reason", WB.select("reason_code", codes.map((c) => [c, WB.label(c)]), codes[0])],
      ["建议单位 Suggested unit", WB.input("suggested_unit", { list: "unit-list" })],
      ["说明 Note", WB.textarea("note")],
    ], [el("button", { type: "submit" }, "退单 Return")], (form) =>
      WB.act(form, "退单 Return", async (progress) => {
        const types = ["ReturnRequested", "TicketReturned"];
        const before = await WB.countNow(ticket.ticket_id, types);
        const accepted = await WB.call("routing", "POST", path(ticket, "returns"), { unit_code: mine(), reason_code: WB.value(form, "reason_code"),
          suggested_unit: WB.value(form, "suggested_unit") || null, note: WB.value(form, "note") }, WB.key());
        return WB.afterRouting(ticket.ticket_id, accepted, types, before, progress);
      }));
  }

  function actions(box, ticket, dispatch) {
    const lead = ticket.unit_code === mine();
    const onIt = lead || (ticket.co_handlers || []).includes(mine());
    if (!onIt || ticket.state === "closed") return;
    const signed = (ticket.timeline || []).some((e) => e.type === "TicketSigned" && e.data.unit_code === mine()
      && e.data.attempt === (ticket.attempt || 1));
    if (!signed) box.append(signForm(ticket));
    box.append(contactForm(ticket));
    const visits = (ticket.contacts || []).filter((c) => c.unit_code === mine() && c.kind === "face_to_face");
    if (visits.length) box.append(demandsForm(ticket, visits));
    if (!lead) return;
    if (ticket.state === "open") box.append(resolveForm(ticket));
    if (!ticket.extension || ticket.extension.state !== "requested") box.append(extensionForm(ticket));
    if (!(ticket.exemptions || []).some((x) => x.unit_code === mine())) box.append(exemptionForm(ticket));
    if (!(dispatch && dispatch.pending_return)) box.append(returnForm(ticket));
  }

  async function loadReasons() {
    try {
      const answer = await WB.get("followup", "/v1/exemption-reasons");
      exemptionReasons = answer.reasons || [];
    } catch (e) {
      exemptionReasons = [];
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("#worklist-tabs button")) {
      button.addEventListener("click", () => {
        view = button.dataset.view;
        for (const b of document.querySelectorAll("#worklist-tabs button")) b.setAttribute("aria-selected", String(b === button));
        refresh().catch((e) => WB.notice("error", e.message));
      });
    }
  });

  WB.views.unit = { refresh: async () => { if (exemptionReasons === null) await loadReasons(); await refresh(); }, actions };
})();
