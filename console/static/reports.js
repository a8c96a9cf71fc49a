/*
 * Switchboard console: the Reports view (supervisors and admins). Plain JavaScript, no
 * dependencies; the charts are inline SVG drawn here.
 *
 * Reads GET /api/v1/reports?since=&until=&tz= (every figure with its definition) and downloads
 * GET /api/v1/reports/{figure}.csv. Uses only what console.js exposes on window.SwitchboardConsole
 * and registers itself as the "reports" view. Everything from the server goes on the page as
 * text (h() and svg() set attributes and text nodes, never HTML).
 */
(function () {
  "use strict";

  const C = window.SwitchboardConsole;
  if (!C) return;
  const { api, download, h, humanize, channelLabel, formatDuration, report } = C;
  const $ = (id) => document.getElementById(id);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const DAY_MS = 86400000;
  const RESIZE_DEBOUNCE_MS = 150;

  const view = { data: null, seq: 0, wired: false, query: null, resizeTimer: null };

  // ================================================================== helpers

  /** SVG element factory, like h(): attributes via setAttribute, strings as text nodes. */
  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
    for (const child of [].concat(children === undefined ? [] : children).flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function pct(value) {
    return value === null || value === undefined ? "—" : Math.round(Number(value) * 100) + "%";
  }

  function num(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits || 0);
  }

  /** "YYYY-MM-DD" of an instant in a time zone. */
  function localDate(instant, tz) {
    const parts = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(instant);
    const get = (type) => parts.find((p) => p.type === type).value;
    return get("year") + "-" + get("month") + "-" + get("day");
  }

  function addDays(isoDate, days) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d) + days * DAY_MS).toISOString().slice(0, 10);
  }

  function zones(current) {
    let list = [];
    try {
      list = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
    } catch (e) {
      list = [];
    }
    const mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return Array.from(new Set(["UTC", current, mine, ...list].filter(Boolean)));
  }

  // ================================================================== loading

  function params() {
    const since = $("rep-since").value;
    const to = $("rep-until").value;
    const tz = $("rep-tz").value;
    if (!since || !to) return view.query || "";
    const query = new URLSearchParams({ since, until: addDays(to, 1) });
    if (tz) query.set("tz", tz);
    return query.toString();
  }

  async function load(query) {
    const seq = ++view.seq;
    $("rep-status").textContent = "Loading…";
    $("rep-error").hidden = true;
    try {
      const data = await api("GET", "/reports" + (query ? "?" + query : ""));
      if (seq !== view.seq) return;
      view.data = data;
      view.query = query || new URLSearchParams({
        since: localDate(new Date(data.since), data.tz),
        until: localDate(new Date(data.until), data.tz),
        tz: data.tz,
      }).toString();
      fillForm(data);
      render(data);
      $("rep-status").textContent = "Generated " + new Date(data.generated_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    } catch (err) {
      if (seq !== view.seq) return;
      $("rep-status").textContent = "";
      if (err && err.status === 401) return;
      $("rep-error").textContent = (err && err.message) || "Could not load the reports.";
      $("rep-error").hidden = false;
    }
  }

  function fillForm(data) {
    const select = $("rep-tz");
    if (!select.options.length || ![...select.options].some((o) => o.value === data.tz)) {
      select.replaceChildren(...zones(data.tz).map((z) => h("option", { value: z }, z.replace(/_/g, " "))));
    }
    select.value = data.tz;
    $("rep-since").value = localDate(new Date(data.since), data.tz);
    $("rep-until").value = localDate(new Date(Date.parse(data.until) - 1), data.tz);
  }

  function preset(days) {
    const tz = $("rep-tz").value || (view.data && view.data.tz) || "UTC";
    const today = localDate(new Date(), tz);
    $("rep-until").value = today;
    $("rep-since").value = addDays(today, 1 - days);
    load(params());
  }

  // ================================================================== charts

  /** Vertical bars: one per item ({label, value, title}); tick labels every `every` items. */
  function columnChart(container, items, options) {
    const opts = options || {};
    // Drawn at the container's own width, so text keeps its size whatever the card's width.
    const width = Math.max(320, Math.round(container.clientWidth || 720));
    const height = 180;
    const top = 16;
    const bottom = 22;
    const left = 8;
    const max = Math.max(1, ...items.map((i) => i.value));
    const slot = (width - left * 2) / Math.max(1, items.length);
    const bar = Math.max(2, Math.min(slot * 0.72, 64));
    const plot = height - top - bottom;
    const every = slot < 20 ? Math.max(opts.every || 1, 3) : opts.every || 1; // room for the ticks
    const parts = [svg("line", { class: "rep-axis", x1: left, x2: width - left, y1: top + plot, y2: top + plot })];
    items.forEach((item, i) => {
      const x = left + i * slot + (slot - bar) / 2;
      const barHeight = item.value ? Math.max(2, (item.value / max) * plot) : 0;
      const y = top + plot - barHeight;
      parts.push(svg("rect", {
        class: "rep-bar", x: x.toFixed(1), y: y.toFixed(1), width: bar.toFixed(1), height: barHeight.toFixed(1), rx: 2,
        "data-label": item.label, "data-value": item.value,
      }, svg("title", null, item.title || item.label + ": " + item.value)));
      if (item.value) {
        parts.push(svg("text", { class: "rep-value", x: (x + bar / 2).toFixed(1), y: (y - 4).toFixed(1), "text-anchor": "middle" }, String(item.value)));
      }
      if (i % every === 0) {
        parts.push(svg("text", { class: "rep-tick", x: (x + bar / 2).toFixed(1), y: height - 6, "text-anchor": "middle" }, item.tick || item.label));
      }
    });
    container.replaceChildren(svg("svg", { class: "rep-svg", viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": opts.label || "" }, parts));
  }

  /**
   * Horizontal bars, one row per item: {label, parts: [{value, cls, title}], text}. The bar's
   * length is the sum of its parts over `max`.
   */
  function barChart(items, options) {
    const opts = options || {};
    const width = 420;
    const row = 26;
    const labelWidth = 120;
    const textWidth = 84;
    const height = Math.max(1, items.length) * row + 4;
    const max = opts.max || Math.max(1e-9, ...items.map((i) => i.parts.reduce((a, p) => a + (p.value || 0), 0)));
    const span = width - labelWidth - textWidth;
    const parts = [];
    items.forEach((item, i) => {
      const y = 2 + i * row;
      parts.push(svg("text", { class: "rep-label", x: labelWidth - 8, y: y + row / 2 + 4, "text-anchor": "end" }, clip(item.label, 18)));
      parts.push(svg("rect", { class: "rep-track", x: labelWidth, y: y + 5, width: span, height: row - 10, rx: 3 }));
      let x = labelWidth;
      for (const part of item.parts) {
        const w = Math.max(0, ((part.value || 0) / max) * span);
        if (w > 0) {
          parts.push(svg("rect", {
            class: "rep-bar " + (part.cls || ""), x: x.toFixed(1), y: y + 5, width: w.toFixed(1), height: row - 10, rx: 3,
            "data-label": item.label, "data-value": part.value,
          }, svg("title", null, part.title || item.label)));
        }
        x += w;
      }
      parts.push(svg("text", { class: "rep-value", x: width - textWidth + 6, y: y + row / 2 + 4 }, item.text));
    });
    if (!items.length) parts.push(svg("text", { class: "rep-tick", x: 4, y: 18 }, "No data in this range"));
    return svg("svg", { class: "rep-svg rep-svg-bars", viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": opts.label || "" }, parts);
  }

  function clip(text, n) {
    const s = String(text);
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  function chartTitle(text) {
    return h("p", { class: "rep-chart-title" }, text);
  }

  // ================================================================== rendering

  /** The column charts (volume by hour and by day), drawn at their containers' width. */
  function renderColumns(data) {
    const f = data.figures || {};
    const hours = f.volume_by_hour.rows;
    columnChart($("rep-chart-hour"), hours.map((r) => ({
      label: String(r.hour).padStart(2, "0") + ":00", tick: String(r.hour), value: r.conversations,
      title: String(r.hour).padStart(2, "0") + ":00 — " + r.conversations + " conversations, " + r.messages + " messages",
    })), { every: 1, label: "Conversations by hour of day in " + data.tz });
    const days = f.volume_by_day.rows;
    columnChart($("rep-chart-day"), days.map((r) => ({
      label: r.date, tick: r.date.slice(5), value: r.conversations, title: r.date + " — " + r.conversations + " conversations",
    })), { every: Math.ceil(days.length / 12), label: "Conversations by day" });
  }

  /**
   * After a resize: the column charts are drawn at their container's width (the bar charts
   * only scale), so draw them again from the data on show, if that width changed.
   */
  function redrawColumns() {
    if (!view.data) return;
    const box = $("rep-chart-hour");
    const drawn = box.querySelector("svg");
    const width = Math.round(box.clientWidth);
    if (!width || (drawn && drawn.viewBox.baseVal.width === Math.max(320, width))) return;
    renderColumns(view.data);
  }

  function render(data) {
    const f = data.figures || {};
    renderTiles(f, data);
    renderColumns(data);
    $("rep-chart-channel").replaceChildren(barChart(f.volume_by_channel.rows.map((r) => ({
      label: channelLabel(r.channel), text: String(r.conversations),
      parts: [{ value: r.conversations, title: channelLabel(r.channel) + ": " + r.conversations + " conversations, " + r.messages + " customer messages" }],
    })), { label: "Conversations by channel" }));
    const c = f.containment;
    const contain = [{ channel: null, started: c.started, contained: c.contained, escalated: c.escalated, rate: c.rate }, ...c.rows];
    $("rep-chart-containment").replaceChildren(
      barChart(contain.map((r) => ({
        label: r.channel ? channelLabel(r.channel) : "All channels", text: pct(r.rate),
        parts: [
          { value: r.contained, cls: "rep-ok", title: r.contained + " contained by the bot" },
          { value: r.escalated, cls: "rep-muted", title: r.escalated + " reached a person" },
        ],
      })), { label: "Bot containment" }),
      h("p", { class: "rep-legend" }, [h("span", { class: "rep-key rep-ok" }), "contained by the bot ", h("span", { class: "rep-key rep-muted" }), "reached a person"]),
    );
    const business = data.business_hours && data.business_hours.defined;
    const median = business ? "median_business_seconds" : "median_seconds";
    const teamRows = (fig) => fig.rows.filter((r) => r.group === "team" && r.count);
    const durationBars = (fig) => barChart(teamRows(fig).map((r) => ({
      label: r.label, text: formatDuration(r[median]),
      parts: [{ value: r[median], title: r.label + ": median " + formatDuration(r[median]) + ", p90 " + formatDuration(r.p90_seconds) }],
    })), { label: "by team" });
    $("rep-chart-frt").replaceChildren(
      chartTitle("First reply, median" + (business ? " in business hours" : "")), durationBars(f.first_response),
      chartTitle("Resolution, median" + (business ? " in business hours" : "")), durationBars(f.resolution),
    );
    $("rep-chart-csat").replaceChildren(barChart(f.csat.rows.filter((r) => r.group === "agent").map((r) => ({
      label: r.label, text: num(r.average, 1) + " (" + r.count + ")",
      parts: [{ value: r.average, cls: r.average >= 4 ? "rep-ok" : r.average < 3 ? "rep-bad" : "", title: r.label + ": " + num(r.average, 2) + " from " + r.count }],
    })), { max: 5, label: "Satisfaction by agent" }));
    renderTables(f);
    $("rep-definitions").replaceChildren(
      ...Object.entries(f).flatMap(([name, fig]) => [h("dt", null, humanize(name)), h("dd", null, fig.definition)]),
      h("dt", null, "Medians and percentiles"), h("dd", null, data.percentiles || ""),
    );
  }

  function renderTiles(f, data) {
    const business = data.business_hours && data.business_hours.defined;
    const tile = (key, label, value, hint, tone) => h("div", { class: "tile" + (tone ? " tile-" + tone : ""), "data-figure": key }, [
      h("span", { class: "tile-value" }, value),
      h("span", { class: "tile-label" }, label),
      hint ? h("span", { class: "tile-hint" }, hint) : null,
    ]);
    const v = f.volume_by_channel;
    const c = f.containment;
    const fr = f.first_response;
    const sla = f.sla;
    const csat = f.csat;
    const wait = f.queue_wait;
    const res = f.resolution;
    const frMedian = business ? fr.median_business_seconds : fr.median_seconds;
    $("rep-tiles").replaceChildren(
      tile("conversations", "Conversations", String(v.conversations), v.messages + " customer messages"),
      tile("containment", "Bot containment", pct(c.rate), c.contained + " of " + c.started + " without a person"),
      tile("escalations", "Escalations", String(f.escalation_reasons.total)),
      tile("first_response", "First reply (median)", formatDuration(frMedian),
        (business ? "business hours · " : "") + "p90 " + formatDuration(business ? fr.p90_business_seconds : fr.p90_seconds)),
      tile("sla", "SLA attainment", pct(sla.attainment), sla.met + " met · " + sla.breached + " breached",
        sla.attainment !== null && sla.attainment < 0.8 ? "bad" : null),
      tile("csat", "CSAT", csat.average === null ? "—" : num(csat.average, 1) + " / 5",
        csat.count + (csat.count === 1 ? " answer" : " answers") + " · " + pct(csat.satisfied_share) + " 4–5"),
      tile("queue_wait", "Queue wait (median)", formatDuration(wait.median_seconds), "p90 " + formatDuration(wait.p90_seconds)),
      tile("resolution", "Resolution (median)", formatDuration(res.median_seconds), res.count + " closed"),
      tile("knowledge_gaps", "Knowledge gaps", String(f.knowledge_gaps.count), "unanswered questions"),
    );
  }

  const DURATION = [
    ["label", "Name"], ["count", "Count", "num"], ["median_seconds", "Median", "dur"], ["p90_seconds", "p90", "dur"],
    ["median_business_seconds", "Median (business)", "dur"], ["p90_business_seconds", "p90 (business)", "dur"],
  ];
  const TABLES = [
    ["escalation_reasons", "Escalation reasons", [["reason", "Reason", "human"], ["count", "Count", "num"], ["share", "Share", "pct"]]],
    ["sla", "SLA attainment (first reply)", [["team", "Team", "team"], ["met", "Met", "num"], ["breached", "Breached", "num"], ["pending", "Pending", "num"], ["attainment", "Attainment", "pct"]]],
    ["first_response", "First reply", [["group", "By", "human"], ...DURATION, ["unanswered", "Unanswered", "num"]]],
    ["resolution", "Resolution", [["group", "By", "human"], ...DURATION]],
    ["queue_wait", "Queue wait", [["group", "By", "human"], ["label", "Name"], ["count", "Claimed", "num"], ["median_seconds", "Median", "dur"], ["p90_seconds", "p90", "dur"], ["unclaimed", "Unclaimed", "num"]]],
    ["csat", "Satisfaction", [["group", "By", "human"], ["label", "Name"], ["count", "Answers", "num"], ["average", "Average", "avg"], ["satisfied_share", "4–5", "pct"]]],
    ["top_articles", "Top articles", [["title", "Article"], ["locale", "Language"], ["answers", "Answers", "num"], ["helpful", "Helpful", "num"], ["not_helpful", "Not helpful", "num"], ["helpful_share", "Share helpful", "pct"]]],
  ];

  function cell(value, kind) {
    if (kind === "dur") return formatDuration(value);
    if (kind === "pct") return pct(value);
    if (kind === "avg") return num(value, 2);
    if (kind === "human") return humanize(value);
    if (kind === "team") return value ? String(value) : "No team";
    return value === null || value === undefined ? "—" : String(value);
  }

  function renderTables(f) {
    $("rep-tables").replaceChildren(...TABLES.map(([name, title, columns]) => {
      const rows = (f[name] && f[name].rows) || [];
      const numeric = (kind) => kind && kind !== "human" && kind !== "team";
      const wide = ["first_response", "resolution", "top_articles"].includes(name);
      return h("section", { class: "sup-card" + (wide ? " rep-wide" : ""), "data-table": name }, [
        h("div", { class: "rep-card-head" }, [
          h("h3", null, title), h("span", { class: "spacer" }),
          h("button", { class: "btn btn-small", type: "button", "data-csv": name }, "CSV"),
        ]),
        rows.length
          ? h("div", { class: "rep-table-wrap" }, h("table", { class: "table" }, [
            h("thead", null, h("tr", null, columns.map(([, label, kind]) => h("th", { scope: "col", class: numeric(kind) ? "num" : null }, label)))),
            h("tbody", null, rows.map((row) => h("tr", null, columns.map(([key, , kind]) => {
              let value = row[key];
              if (name === "top_articles" && key === "title") value = row.title || row.article_id;
              if (key === "label" && row.group === "channel") value = channelLabel(row.key);
              return h("td", { class: numeric(kind) ? "num" : null, dir: kind ? null : "auto" }, cell(value, kind));
            })))),
          ]))
          : h("p", { class: "list-empty" }, "Nothing in this range."),
      ]);
    }));
  }

  // ================================================================== view hooks

  function wire() {
    if (view.wired) return;
    view.wired = true;
    $("rep-form").addEventListener("submit", (event) => {
      event.preventDefault();
      load(params());
    });
    $("rep-tz").addEventListener("change", () => load(params()));
    window.addEventListener("resize", () => {
      clearTimeout(view.resizeTimer);
      view.resizeTimer = setTimeout(redrawColumns, RESIZE_DEBOUNCE_MS);
    });
    for (const button of document.querySelectorAll("#rep-form [data-days]")) {
      button.addEventListener("click", () => preset(Number(button.dataset.days)));
    }
    $("reports-view").addEventListener("click", async (event) => {
      const button = event.target.closest("[data-csv]");
      if (!button) return;
      button.disabled = true;
      try {
        await download("/reports/" + encodeURIComponent(button.dataset.csv) + ".csv?" + (view.query || params()), button.dataset.csv + ".csv");
      } catch (err) {
        report(err, "Could not download the CSV.");
      } finally {
        button.disabled = false;
      }
    });
  }

  C.onView("reports", {
    enter() {
      wire();
      if (!view.data) load(view.query);
      else redrawColumns(); // the window may have changed while another view was shown
    },
    reset() {
      view.data = null;
      view.query = null;
      view.seq += 1;
      $("rep-tiles").replaceChildren();
      $("rep-tables").replaceChildren();
      for (const id of ["rep-chart-hour", "rep-chart-day", "rep-chart-channel", "rep-chart-containment", "rep-chart-frt", "rep-chart-csat"]) {
        $(id).replaceChildren();
      }
    },
  });
})();
