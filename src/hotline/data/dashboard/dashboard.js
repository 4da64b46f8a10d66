// Hotline metrics dashboard: rankings per kind, live over server-sent events, a unit's trend, hotspots.
// Plain JS, no libraries. Rows are built once per snapshot and their cells updated in place.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const state = {
    kind: params.get("kind") || "street",
    period: params.get("period") || "",  // "" follows the latest settled month (else the latest)
    district: params.get("district") || "",
    search: "",
    shownPeriod: null,
    latestPeriod: null,
    settledPeriod: null,
    rows: new Map(),  // unit_code -> {tr, cells, data}
    order: [],
    source: null,
    selected: null,
    hotTimer: null,
    labels: null,
  };

  const pct = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%");
  const num = (v, d = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  const get = (row, key) => key.split(".").reduce((o, k) => (o == null ? o : o[k]), row);

  const ARROWS = { up: "▲", down: "▼", same: "–", new: "新" };
  const COLUMNS = [
    // Listed, not ranked: "样本不足" when the month has fewer valid callbacks than the policy's minimum.
    { key: "rank", fmt: (r) => (r.rank != null ? String(r.rank) : r.unranked_reason === "minimum_sample" ? "样本不足" : "—") },
    { key: "movement", cls: "move", fmt: (r) => ARROWS[r.movement] + (r.rank_change ? " " + Math.abs(r.rank_change) : ""),
      title: (r) => (r.previous_rank == null ? "new this month" : "last month #" + r.previous_rank) },
    { key: "name", cls: "text", fmt: (r) => r.name },
    { key: "district_name", cls: "text", fmt: (r) => r.district_name || "" },
    { key: "score", fmt: (r) => num(r.score) },
    { key: "rates.response", fmt: (r) => pct(r.rates && r.rates.response) },
    { key: "rates.resolution", fmt: (r) => pct(r.rates && r.rates.resolution) },
    { key: "rates.satisfaction", fmt: (r) => pct(r.rates && r.rates.satisfaction) },
    { key: "face_to_face_share", fmt: (r) => pct(r.face_to_face_share) },
    { key: "dispatched", fmt: (r) => String(r.dispatched) },
  ];
  const FALLBACK_LABELS = {
    rank: { zh: "排名", en: "Rank" }, movement: { zh: "较上月", en: "Change" }, name: { zh: "单位", en: "Unit" },
    district_name: { zh: "区", en: "District" }, score: { zh: "综合得分", en: "Score" },
    "rates.response": { zh: "响应率", en: "Response rate" }, "rates.resolution": { zh: "解决率", en: "Resolution rate" },
    "rates.satisfaction": { zh: "满意率", en: "Satisfaction rate" }, face_to_face_share: { zh: "见面率", en: "Face-to-face share" },
    dispatched: { zh: "派单量", en: "Tickets dispatched" },
  };
  const cssKey = (key) => key.replace(/^rates\./, "");

  function renderHead(labels) {
    const tr = $("head");
    tr.textContent = "";
    for (const col of COLUMNS) {
      const l = (labels && labels[col.key]) || FALLBACK_LABELS[col.key];
      const th = document.createElement("th");
      th.className = (col.cls === "text" ? "text " : "") + cssKey(col.key);
      th.append(l.zh, document.createElement("br"));
      const en = document.createElement("small");
      en.textContent = l.en;
      th.append(en);
      tr.append(th);
    }
  }

  // --- rows ---------------------------------------------------------------------------------

  function makeRow(data) {
    const tr = document.createElement("tr");
    tr.dataset.code = data.unit_code;
    const cells = {};
    for (const col of COLUMNS) {
      const td = document.createElement("td");
      td.className = (col.cls || "") + " " + cssKey(col.key);
      cells[col.key] = td;
      tr.append(td);
    }
    const entry = { tr, cells, data: null, text: {} };
    updateRow(entry, data, false);
    return entry;
  }

  function updateRow(entry, data, flash) {
    entry.data = data;
    entry.tr.classList.toggle("unranked", data.rank == null);
    entry.tr.dataset.district = data.district_code || "";
    entry.tr.dataset.search = ((data.name || "") + " " + (data.name_en || "") + " " + data.unit_code).toLowerCase();
    for (const col of COLUMNS) {
      const text = col.fmt(data);
      if (entry.text[col.key] === text) continue;
      const td = entry.cells[col.key];
      td.textContent = text;
      entry.text[col.key] = text;
      if (col.key === "movement") {
        td.className = "move " + data.movement;
        td.title = col.title(data);
      }
      if (col.key === "name" && data.name_en) td.title = data.name_en;
      if (flash) {
        td.classList.remove("flash");
        void td.offsetWidth;  // restart the animation
        td.classList.add("flash");
      }
    }
  }

  function sortKey(d) {
    return [d.rank == null ? Infinity : d.rank, d.unit_code];
  }

  function reorder() {
    const entries = Array.from(state.rows.values());
    entries.sort((a, b) => {
      const [ra, ca] = sortKey(a.data), [rb, cb] = sortKey(b.data);
      return ra !== rb ? ra - rb : ca < cb ? -1 : ca > cb ? 1 : 0;
    });
    const order = entries.map((e) => e.data.unit_code);
    if (order.length === state.order.length && order.every((c, i) => c === state.order[i])) return;
    state.order = order;
    const frag = document.createDocumentFragment();
    for (const e of entries) frag.append(e.tr);  // moves the existing nodes
    $("rows").append(frag);
  }

  function applySnapshot(view) {
    state.labels = view.labels;
    renderHead(view.labels);
    const tbody = $("rows");
    tbody.textContent = "";
    state.rows.clear();
    state.order = [];
    const frag = document.createDocumentFragment();
    for (const data of view.rows.concat(view.unranked || [])) {
      const entry = makeRow(data);
      state.rows.set(data.unit_code, entry);
      frag.append(entry.tr);
    }
    tbody.append(frag);
    reorder();
    if (state.shownPeriod !== view.period || view.latest_period !== state.latestPeriod ||
        view.settled_period !== state.settledPeriod) {
      state.shownPeriod = view.period;
      state.latestPeriod = view.latest_period || view.period;
      state.settledPeriod = view.settled_period || null;
      fillPeriods();
    }
    showSettle(view);
    const w = view.weights || {};
    const p = view.policy || {};
    const basis = p.response_definition === "contact" ? "单位联系记录 unit's contact record" : "回访 callback";
    $("weights").textContent = `权重 Weights: 响应 ${w.response} / 解决 ${w.resolution} / 满意 ${w.satisfaction}` +
      ` · 响应口径 Response by: ${basis} · 最少有效回访 Min. callbacks ${p.minimum_sample ? p.minimum_sample.callbacks : "—"}` +
      ` · 规则版本 Policy ${p.version || "—"}`;
    fillDistricts();
    applyFilter();
    touched(view.version);
    scheduleHotspots(0);
  }

  function applyChanges(msg) {
    for (const data of msg.changed) {
      const entry = state.rows.get(data.unit_code);
      if (entry) updateRow(entry, data, true);
      else {
        const fresh = makeRow(data);
        state.rows.set(data.unit_code, fresh);
        $("rows").append(fresh.tr);
      }
    }
    for (const code of msg.removed) {
      const entry = state.rows.get(code);
      if (entry) { entry.tr.remove(); state.rows.delete(code); }
    }
    reorder();
    fillDistricts();
    applyFilter();
    touched(msg.version);
    scheduleHotspots(1000);
    if (state.selected && msg.changed.some((r) => r.unit_code === state.selected)) loadUnit(state.selected);
  }

  function touched(version) {
    $("updated").textContent = `更新 Updated ${new Date().toLocaleTimeString()} · v${version}`;
    $("ranking").dataset.version = String(version);
  }

  // --- filters ------------------------------------------------------------------------------

  function fillDistricts() {
    const select = $("district");
    const known = new Map();
    for (const e of state.rows.values()) {
      if (e.data.district_code) known.set(e.data.district_code, e.data.district_name || e.data.district_code);
    }
    if (state.district && !known.has(state.district)) known.set(state.district, state.district);
    const codes = Array.from(known.keys()).sort();
    const have = Array.from(select.options).slice(1).map((o) => o.value);
    if (have.length === codes.length && have.every((c, i) => c === codes[i])) return;
    select.length = 1;
    for (const code of codes) select.add(new Option(`${known.get(code)} ${code}`, code));
    select.value = state.district;
    select.disabled = codes.length === 0;
  }

  function applyFilter() {
    const q = state.search.trim().toLowerCase();
    let shown = 0;
    for (const e of state.rows.values()) {
      const visible = (!state.district || e.tr.dataset.district === state.district) &&
        (!q || e.tr.dataset.search.includes(q));
      if (e.tr.hidden === visible) e.tr.hidden = !visible;
      if (visible) shown++;
    }
    $("shown").textContent = `显示 Showing ${shown} / ${state.rows.size}`;
    $("shown").dataset.shown = String(shown);
    $("empty").hidden = state.rows.size > 0;
  }

  // A month after the latest settled one is still provisional: its figures move.
  const provisional = (p) => !state.settledPeriod || p > state.settledPeriod;

  function fillPeriods() {
    const select = $("period");
    const chosen = state.period;
    const latest = state.latestPeriod;
    select.length = 1;
    select.options[0].textContent = state.settledPeriod
      ? `最近已定 Last settled (${state.settledPeriod})`
      : `暂无已定月份 No settled month yet (${state.shownPeriod})`;
    let [y, m] = latest.split("-").map(Number);
    for (let i = 0; i < 12; i++) {
      const p = `${y}-${String(m).padStart(2, "0")}`;
      select.add(new Option(provisional(p) ? `${p} 暂定 provisional` : p, p));
      if (--m === 0) { m = 12; y--; }
    }
    if (chosen && !Array.from(select.options).some((o) => o.value === chosen)) select.add(new Option(chosen, chosen));
    select.value = chosen;
  }

  const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : null);

  function showSettle(view) {
    const el = $("settle");
    el.dataset.settled = String(Boolean(view.settled));
    if (view.settled) {
      el.textContent = `已定 Settled ${view.period} · ${when(view.settled_at)}`;
      el.title = "figures and ranking frozen at the settle time; later events do not move them";
    } else {
      const at = when(view.settles_at);
      el.textContent = `暂定 Provisional ${view.period} · ` +
        (at ? `${at} 定档 settles` : "待全部回访 settles when every callback is in");
      el.title = "this month is still open: its figures and ranking move";
    }
  }

  // --- live stream ----------------------------------------------------------------------------

  function connect() {
    if (state.source) state.source.close();
    const q = new URLSearchParams({ kind: state.kind, period: state.period || "settled" });
    setStatus("connecting");
    const source = new EventSource("/v1/rankings/stream?" + q);
    state.source = source;
    source.addEventListener("snapshot", (ev) => { setStatus("live"); applySnapshot(JSON.parse(ev.data)); });
    source.addEventListener("changes", (ev) => { setStatus("live"); applyChanges(JSON.parse(ev.data)); });
    source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? "error" : "connecting");
  }

  function setStatus(s) {
    const el = $("status");
    el.dataset.state = s;
    el.textContent = { live: "实时 Live", connecting: "连接中 Connecting…", error: "已断开 Disconnected" }[s];
  }

  function syncUrl() {
    const q = new URLSearchParams();
    if (state.kind !== "street") q.set("kind", state.kind);
    if (state.period) q.set("period", state.period);
    if (state.district) q.set("district", state.district);
    history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q : ""));
  }

  // --- unit panel ---------------------------------------------------------------------------

  async function loadUnit(code) {
    state.selected = code;
    for (const e of state.rows.values()) e.tr.classList.toggle("selected", e.data.unit_code === code);
    const res = await fetch("/v1/units/" + encodeURIComponent(code));
    if (!res.ok || state.selected !== code) return;
    const unit = await res.json();
    $("unit").hidden = false;
    $("unit").dataset.code = code;
    $("unit-name").textContent = unit.name;
    $("unit-meta").textContent = [unit.name_en, unit.district_name, unit.kind_label && `${unit.kind_label.zh} ${unit.kind_label.en}`, code]
      .filter(Boolean).join(" · ");
    drawTrend(unit.months);
    $("lost").hidden = true;
    $("lost-summary").textContent = "";
    if ($("lost-token").value.trim()) loadExplain(code);
    const tbody = $("unit-months").tBodies[0];
    tbody.textContent = "";
    for (const m of unit.months.slice().reverse()) {
      const tr = tbody.insertRow();
      for (const v of [m.period, m.rank == null ? "—" : `${m.rank}/${m.ranked_units}`, num(m.score),
        pct(m.rates.response), pct(m.rates.resolution), pct(m.rates.satisfaction), String(m.dispatched)]) {
        tr.insertCell().textContent = v;
      }
    }
  }

  // The lost points list the unit's tickets: only its own token or the centre's reads them. The
  // token stays in this page's memory (the input), never in storage or the URL.
  async function loadExplain(code) {
    const period = state.period || state.shownPeriod;
    const token = $("lost-token").value.trim();
    const summary = $("lost-summary"), table = $("lost");
    $("lost-period").textContent = period || "";
    table.hidden = true;
    if (!token || !period) { summary.textContent = "需要令牌 A token is needed."; return; }
    const res = await fetch(`/v1/units/${encodeURIComponent(code)}/months/${encodeURIComponent(period)}/explain`,
      { headers: { Authorization: "Bearer " + token } });
    if (state.selected !== code) return;
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      summary.textContent = `${res.status}: ` + ((body.detail || []).map((d) => d.msg).join("; ") || res.statusText);
      return;
    }
    const found = await res.json();
    const reasons = (found.labels && found.labels.reasons) || {};
    summary.textContent = `得分 Score ${num(found.score)} · 失分 Lost ${num(found.gap)} · ` +
      (found.rank == null ? "未排名 not ranked" : `排名 Rank ${found.rank}/${found.ranked_units}`);
    const tbody = table.tBodies[0];
    tbody.textContent = "";
    for (const item of found.items) {
      const tr = tbody.insertRow();
      const said = item.reasons.map((r) => (reasons[r] ? `${reasons[r].zh} ${reasons[r].en}` : r)).join(", ");
      for (const [v, cls] of [[item.ticket_id, "text"], [said, "text"], [num(item.points, 4), ""],
        [num(item.score_if_right, 4), ""], [item.rank_if_right == null ? "—" : String(item.rank_if_right), ""]]) {
        const td = tr.insertCell();
        td.textContent = v;
        if (cls) td.className = cls;
      }
    }
    table.hidden = found.items.length === 0;
  }

  const SERIES = [
    { key: "score", zh: "得分", en: "Score", color: "#b91c1c", value: (m) => m.score },
    { key: "response", zh: "响应率", en: "Response", color: "#2563eb", value: (m) => m.rates.response == null ? null : 100 * m.rates.response },
    { key: "resolution", zh: "解决率", en: "Resolution", color: "#15803d", value: (m) => m.rates.resolution == null ? null : 100 * m.rates.resolution },
    { key: "satisfaction", zh: "满意率", en: "Satisfaction", color: "#d97706", value: (m) => m.rates.satisfaction == null ? null : 100 * m.rates.satisfaction },
  ];

  function drawTrend(months) {
    const NS = "http://www.w3.org/2000/svg";
    const W = 360, H = 170, L = 30, R = 10, T = 10, B = 24;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", "100%");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "monthly trend");
    svg.id = "trend";
    const el = (name, attrs, text) => {
      const e = document.createElementNS(NS, name);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      svg.append(e);
      return e;
    };
    const n = months.length;
    const x = (i) => (n <= 1 ? L + (W - L - R) / 2 : L + (i * (W - L - R)) / (n - 1));
    const y = (v) => T + ((100 - v) * (H - T - B)) / 100;
    for (const v of [0, 50, 100]) {
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e5e7eb" });
      el("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, String(v));
    }
    const step = Math.max(1, Math.ceil(n / 6));
    months.forEach((m, i) => {
      if (i % step === 0 || i === n - 1) el("text", { x: x(i), y: H - 6, "text-anchor": n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle" }, m.period);
    });
    for (const s of SERIES) {
      const pts = months.map((m, i) => [i, s.value(m)]).filter(([, v]) => v != null);
      if (pts.length > 1) {
        el("polyline", { points: pts.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
          fill: "none", stroke: s.color, "stroke-width": s.key === "score" ? 2.5 : 1.5, class: "series-" + s.key });
      }
      for (const [i, v] of pts) {
        const c = el("circle", { cx: x(i), cy: y(v), r: s.key === "score" ? 3 : 2, fill: s.color, class: "point-" + s.key });
        const t = document.createElementNS(NS, "title");
        t.textContent = `${months[i].period} ${s.zh} ${s.en}: ${v.toFixed(1)}`;
        c.append(t);
      }
    }
    const box = $("unit-chart");
    box.textContent = "";
    box.append(svg);
    const legend = document.createElement("div");
    legend.className = "legend";
    for (const s of SERIES) {
      const span = document.createElement("span");
      const i = document.createElement("i");
      i.style.background = s.color;
      span.append(i, `${s.zh} ${s.en}`);
      legend.append(span);
    }
    box.append(legend);
  }

  // --- hotspots -----------------------------------------------------------------------------

  function scheduleHotspots(delay) {
    clearTimeout(state.hotTimer);
    state.hotTimer = setTimeout(loadHotspots, delay);
  }

  async function loadHotspots() {
    const q = state.period || state.shownPeriod;
    const res = await fetch("/v1/hotspots" + (q ? "?period=" + encodeURIComponent(q) : ""));
    if (!res.ok) return;
    const hot = await res.json();
    $("hot-period").textContent = `${hot.period} · ${hot.total} 件 tickets`;
    const city = $("hot-city");
    city.textContent = "";
    const top = hot.city.length ? hot.city[0].share : 1;
    for (const c of hot.city) {
      const li = document.createElement("li");
      li.append(`${c.label.zh} ${c.label.en} — ${c.count} (${(c.share * 100).toFixed(1)}%)`);
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = Math.round((80 * c.share) / top) + "px";
      li.append(bar);
      city.append(li);
    }
    if (!hot.city.length) city.innerHTML = '<li class="muted">暂无 None yet</li>';
    const clusters = $("hot-clusters");
    clusters.textContent = "";
    for (const c of hot.clusters.slice(0, 15)) {
      const li = document.createElement("li");
      li.textContent = `${c.place_name || c.place_code} ${c.community}: ${c.label.zh} ${c.label.en} — ${c.count} 件, 重复 repeats ${c.repeats}`;
      clusters.append(li);
    }
    if (!hot.clusters.length) clusters.innerHTML = '<li class="muted">暂无 None yet</li>';
  }

  // --- wiring -------------------------------------------------------------------------------

  function selectKind(kind) {
    state.kind = kind;
    for (const b of document.querySelectorAll("#kinds button")) b.setAttribute("aria-selected", String(b.dataset.kind === kind));
    const cityWide = kind === "department" || kind === "enterprise";
    if (cityWide) state.district = "";
    $("district").disabled = cityWide;
    $("rows").textContent = "";
    state.rows.clear();
    state.order = [];
    syncUrl();
    connect();
  }

  document.querySelectorAll("#kinds button").forEach((b) => b.addEventListener("click", () => selectKind(b.dataset.kind)));
  $("district").addEventListener("change", (e) => { state.district = e.target.value; syncUrl(); applyFilter(); });
  $("search").addEventListener("input", (e) => { state.search = e.target.value; applyFilter(); });
  $("period").addEventListener("change", (e) => { state.period = e.target.value; syncUrl(); selectKind(state.kind); });
  $("rows").addEventListener("click", (e) => { const tr = e.target.closest("tr"); if (tr) loadUnit(tr.dataset.code); });
  $("unit-close").addEventListener("click", () => { $("unit").hidden = true; state.selected = null; for (const e of state.rows.values()) e.tr.classList.remove("selected"); });
  $("lost-form").addEventListener("submit", (ev) => { ev.preventDefault(); if (state.selected) loadExplain(state.selected); });
  renderHead(null);
  selectKind(state.kind);
})();
