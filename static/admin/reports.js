// Reports: a range (presets or dates) and filters, the headline figures with the change from
// the period before, charts (drawn in charts.js) each with its numbers as a table, the busiest
// hours, and the per-agent table. Figures come from /api/v1/reports/* in the browser's zone.

import { download, get } from "./api.js";
import { barChart, heatMap } from "./charts.js";
import { field, h } from "./dom.js";

const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const PRESETS = [
  ["today", "Today"],
  ["7", "Last 7 days"],
  ["30", "Last 30 days"],
  ["month", "This month"],
  ["custom", "Custom dates"],
];

function zone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Today's date (YYYY-MM-DD) in the browser's zone. */
function today() {
  const now = new Date();
  return isoDate(new Date(now.getFullYear(), now.getMonth(), now.getDate()));
}

function isoDate(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function addDays(text, days) {
  const [y, m, d] = text.split("-").map(Number);
  return isoDate(new Date(y, m - 1, d + days));
}

function daysBetween(first, last) {
  const [a, b] = [first, last].map((t) => Date.UTC(...t.split("-").map((n, i) => n - (i === 1))));
  return Math.round((b - a) / 86_400_000) + 1;
}

/** The range a preset means, as {from, to}. */
export function presetRange(preset, now = today()) {
  if (preset === "today") return { from: now, to: now };
  if (preset === "month") return { from: `${now.slice(0, 8)}01`, to: now };
  const n = Number(preset) || 7;
  return { from: addDays(now, -(n - 1)), to: now };
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function number(value) {
  return value === null || value === undefined ? "–" : value.toLocaleString();
}

/** The change from the period before, in words ("+12% vs previous period"). */
function change(now, before) {
  if (now === null || now === undefined || before === null || before === undefined) return "";
  if (before === 0) return now === 0 ? "no change" : "new vs previous period";
  const percent = Math.round(((now - before) / before) * 100);
  if (percent === 0) return "no change";
  return `${percent > 0 ? "+" : ""}${percent}% vs previous period`;
}

function table(caption, headers, rows) {
  return h(
    "div",
    // Focusable and named, so keyboard users can scroll a wide table (the heat map's).
    { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption },
    h(
      "table",
      { class: "table" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
      h(
        "tbody",
        {},
        rows.map(([head, ...cells]) =>
          h("tr", {}, h("th", { scope: "row" }, head), cells.map((c) => h("td", {}, c))),
        ),
      ),
    ),
  );
}

/** A chart with its title and, under it, the same numbers as a table. */
function figure(title, chart, headers, rows) {
  return h(
    "figure",
    { class: "card report-chart" },
    h("figcaption", {}, h("h2", {}, title)),
    chart,
    h("details", {}, h("summary", {}, `${title}: show as table`), table(title, headers, rows)),
  );
}

export function mountReports(host) {
  const tz = zone();
  const initial = presetRange("7");
  const preset = h(
    "select",
    { name: "preset" },
    PRESETS.map(([value, label]) => h("option", { value, selected: value === "7" }, label)),
  );
  const from = h("input", { type: "date", name: "from", value: initial.from, required: true });
  const to = h("input", { type: "date", name: "to", value: initial.to, required: true });
  const site = h("select", { name: "site" }, h("option", { value: "" }, "All sites"));
  const agent = h("select", { name: "agent" }, h("option", { value: "" }, "All agents"));
  const channel = h(
    "select",
    { name: "channel" },
    [
      ["", "All channels"],
      ["web", "Web chat"],
      ["sms", "SMS"],
      ["whatsapp", "WhatsApp"],
    ].map(([value, label]) => h("option", { value }, label)),
  );
  const status = h("p", { class: "form-ok", role: "status" });
  const error = h("p", { class: "form-error", role: "alert" });
  const headline = h("dl", { class: "report-headline" });
  const charts = h("div", { class: "report-charts" });
  const agents = h("div", {});
  const csv = h("button", { type: "button" }, "Download CSV");
  let generation = 0;

  function query(range = { from: from.value, to: to.value }) {
    const params = new URLSearchParams({ from: range.from, to: range.to, tz });
    if (site.value) params.set("site", site.value);
    if (agent.value) params.set("agent", agent.value);
    if (channel.value) params.set("channel", channel.value);
    return params;
  }

  async function load() {
    const mine = ++generation;
    error.textContent = "";
    status.textContent = "Loading…";
    const days = daysBetween(from.value, to.value);
    const previous = { from: addDays(from.value, -days), to: addDays(from.value, -1) };
    const interval = days <= 2 ? "hour" : days > 92 ? "week" : "day";
    const series = (metric, every = interval) =>
      get(`/api/v1/reports/timeseries?${query()}&metric=${metric}&interval=${every}`);
    try {
      const [now, before, convs, msgs, firsts, hours, people] = await Promise.all([
        get(`/api/v1/reports/summary?${query()}`),
        get(`/api/v1/reports/summary?${query(previous)}`),
        series("conversations"),
        series("messages"),
        series("first_response", days > 92 ? "week" : "day"),
        series("conversations", "hour"),
        get(`/api/v1/reports/agents?${query()}`),
      ]);
      if (mine !== generation) return;
      renderHeadline(now, before);
      renderCharts(interval, convs.points, msgs.points, firsts.points, hours.points);
      renderAgents(people.agents);
      status.textContent = `Showing ${from.value} to ${to.value} (${tz}).`;
    } catch (err) {
      if (mine !== generation) return;
      status.textContent = "";
      error.textContent = err.message;
    }
  }

  function renderHeadline(now, before) {
    const items = [
      ["Conversations", number(now.conversations), change(now.conversations, before.conversations)],
      [
        "Messages",
        number(now.messages.visitor + now.messages.agent),
        change(
          now.messages.visitor + now.messages.agent,
          before.messages.visitor + before.messages.agent,
        ),
      ],
      [
        "First response (median)",
        duration(now.first_response_seconds.median),
        change(now.first_response_seconds.median, before.first_response_seconds.median),
      ],
      [
        "Resolution (median)",
        duration(now.resolution_seconds.median),
        change(now.resolution_seconds.median, before.resolution_seconds.median),
      ],
      ["Missed", number(now.missed), change(now.missed, before.missed)],
      ["Escalated", number(now.escalated), change(now.escalated, before.escalated)],
      ["Follow-ups", number(now.followups), change(now.followups, before.followups)],
      [
        "Rating",
        now.rating.count ? `${now.rating.average} (${now.rating.count})` : "–",
        change(now.rating.average, before.rating.average),
      ],
    ];
    headline.replaceChildren(
      ...items.map(([name, value, delta]) =>
        h(
          "div",
          { class: "report-figure card" },
          h("dt", {}, name),
          h("dd", {}, h("span", { class: "report-value" }, value)),
          delta ? h("dd", { class: "report-change" }, delta) : null,
        ),
      ),
    );
  }

  function labelled(points, every) {
    const options =
      every === "hour"
        ? { timeZone: tz, weekday: "short", hour: "2-digit", minute: "2-digit" }
        : { timeZone: tz, month: "short", day: "numeric" };
    const format = new Intl.DateTimeFormat(undefined, options);
    return points.map((p) => ({ label: format.format(new Date(p.start)), value: p.value }));
  }

  function renderCharts(interval, convs, msgs, firsts, hours) {
    const per = interval === "hour" ? "hour" : interval === "week" ? "week" : "day";
    const c = labelled(convs, interval);
    const m = labelled(msgs, interval);
    const f = labelled(firsts, per === "week" ? "week" : "day");
    const rows = (points, format) => points.map((p) => [p.label, format(p.value)]);
    charts.replaceChildren(
      figure(
        `Conversations per ${per}`,
        barChart(`Conversations per ${per}`, c, number),
        [per, "Conversations"],
        rows(c, number),
      ),
      figure(
        `Messages per ${per}`,
        barChart(`Messages per ${per}`, m, number),
        [per, "Messages"],
        rows(m, number),
      ),
      figure(
        "First response, median",
        barChart("First response, median", f, duration),
        [per === "week" ? "week" : "day", "Median"],
        rows(f, duration),
      ),
      busiest(hours),
    );
  }

  function busiest(points) {
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: tz,
      weekday: "short",
      hour: "2-digit",
      hourCycle: "h23",
    });
    const cells = DAYS.map(() => new Array(24).fill(0));
    for (const point of points) {
      const found = Object.fromEntries(
        parts.formatToParts(new Date(point.start)).map((p) => [p.type, p.value]),
      );
      const day = DAYS.indexOf(found.weekday);
      if (day >= 0) cells[day][Number(found.hour) % 24] += point.value || 0;
    }
    const title = "Busiest hours (conversations started, weekday × hour)";
    return figure(
      title,
      heatMap(title, cells, DAYS),
      ["Day", ...Array.from({ length: 24 }, (_, hour) => `${hour}:00`)],
      cells.map((row, day) => [DAYS[day], ...row.map(String)]),
    );
  }

  function renderAgents(list) {
    agents.replaceChildren(
      h("h2", {}, "Agents"),
      table(
        "Figures per agent",
        ["Agent", "Conversations", "Messages", "First response (median)", "Rating"],
        list.map((a) => [
          a.name,
          number(a.conversations),
          number(a.messages),
          duration(a.first_response_seconds.median),
          a.rating.count ? `${a.rating.average} (${a.rating.count})` : "–",
        ]),
      ),
    );
  }

  function applyPreset() {
    const custom = preset.value === "custom";
    from.disabled = to.disabled = !custom;
    if (!custom) {
      const range = presetRange(preset.value);
      from.value = range.from;
      to.value = range.to;
      load();
    }
  }

  function applyDates() {
    if (from.value && to.value && from.value <= to.value) load();
    else error.textContent = "Choose a start date on or before the end date.";
  }

  preset.addEventListener("change", applyPreset);
  from.addEventListener("change", applyDates);
  to.addEventListener("change", applyDates);
  for (const filter of [site, agent, channel]) filter.addEventListener("change", load);
  from.disabled = to.disabled = true;
  csv.addEventListener("click", async () => {
    error.textContent = "";
    try {
      const file = await download(`/api/v1/reports/export.csv?${query()}`, "report.csv");
      status.textContent = `Downloaded ${file.name}.`;
    } catch (err) {
      error.textContent = err.message;
    }
  });

  const controls = h(
    "div",
    { class: "card report-controls" },
    field("Range", preset),
    field("From", from),
    field("To", to),
    field("Site", site),
    field("Agent", agent),
    field("Channel", channel),
    csv,
  );
  host.replaceChildren(
    h(
      "section",
      { class: "page reports", "aria-labelledby": "reports-title" },
      h("h1", { id: "reports-title" }, "Reports"),
      controls,
      status,
      error,
      h("h2", { class: "visually-hidden" }, "Headline figures"),
      headline,
      charts,
      agents,
    ),
  );
  Promise.all([get("/api/v1/sites"), get("/api/v1/users")])
    .then(([sites, users]) => {
      site.append(...sites.sites.map((s) => h("option", { value: String(s.id) }, s.name)));
      agent.append(...users.users.map((u) => h("option", { value: String(u.id) }, u.name)));
    })
    .catch(() => {});
  load();
  return {
    destroy() {
      generation += 1;
    },
  };
}
