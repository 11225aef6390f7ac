// The report and the viewer: one page, two sources. A report file carries the overview as JSON and each
// item as a gzip+base64 blob read only when its page opens; the viewer fetches the same documents from
// its read-only API and refreshes the overview while the run is still going.
//
// Every string from a run is data, never markup: it reaches the page through textContent, attribute
// properties and Chart.js canvases only. Nothing here assigns innerHTML.
"use strict";

const MODE = document.body.dataset.mode; // "file" or "live"
const PAGE_ROWS = 50;
const REFRESH_MS = 5000;
const IDLE_REFRESH_MS = 30000;
const charts = [];
let overview = null;
const table = { query: "", status: "", sort: "index", descending: false, page: 0 };

// -- small DOM helpers -----------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (key === "data") Object.assign(node.dataset, value);
    else node[key] = value;
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmt = (v, digits = 4) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
const int = (v) => (v === null || v === undefined ? "—" : Math.round(v).toLocaleString("en-US"));
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

// -- data sources ----------------------------------------------------------------------------------------

async function loadOverview() {
  if (MODE === "file") return JSON.parse(document.getElementById("reer-overview").textContent);
  const response = await fetch("api/overview", { cache: "no-store" });
  if (!response.ok) throw new Error(`the viewer answered ${response.status}`);
  return response.json();
}

async function unpack(blob) {
  const bytes = Uint8Array.from(atob(blob.textContent.trim()), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

async function fetchJson(path, params) {
  const response = await fetch(`${path}?${new URLSearchParams(params)}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`the viewer answered ${response.status}`);
  return response.json();
}

async function loadItem(row) {
  if (MODE !== "file") return fetchJson("api/item", { id: row.item_id, rollout: String(row.rollout) });
  const blob = document.getElementById(`item-${row.index}`);
  if (!blob) {
    throw new Error(
      `this report holds the item pages of the first ${overview.item_pages} trajectories; ` +
        "write it with a larger --item-pages, or open the run with `reer view`",
    );
  }
  return unpack(blob);
}

// An evaluation ("eval") or an experiment's table ("experiment"), by its number in the overview's lists.
async function loadDocument(kind, number) {
  if (MODE !== "file") return fetchJson(`api/${kind}`, { k: String(number) });
  const blob = document.getElementById(`${kind}-${number}`);
  if (!blob) throw new Error("no such page in this report");
  return unpack(blob);
}

// -- charts ----------------------------------------------------------------------------------------------

function chart(canvas, config) {
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options);
  charts.push(new Chart(canvas, config));
}

// Not Math.max(...values): spreading hundreds of thousands of arguments overflows the stack.
const largest = (values, floor) => values.reduce((a, b) => (b > a ? b : a), floor);

function histogram(values, bins, lo, hi) {
  const counts = new Array(bins).fill(0);
  const width = (hi - lo) / bins || 1;
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))] += 1;
  const digits = width >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(width)) + 1);
  const labels = counts.map((_, i) => (lo + (i + 0.5) * width).toFixed(digits));
  return { labels, counts };
}

function chartBox(title, note) {
  const canvas = el("canvas");
  const box = el("figure", { class: "chart" }, el("figcaption", {}, title), el("div", { class: "plot" }, canvas));
  if (note) box.append(el("p", { class: "note" }, note));
  return { box, canvas };
}

function overviewCharts(data) {
  const done = data.items.filter((r) => r.status === "done" && r.initial_score !== null && r.final_score !== null);
  const grid = el("div", { class: "charts" });
  const clip = (data.config.search && data.config.search.clip) || 2;

  const scores = chartBox("Score: initial vs final (lower is better)", `${done.length} finished trajectories`);
  const initial = histogram(done.map((r) => r.initial_score), 20, 0, clip);
  const final = histogram(done.map((r) => r.final_score), 20, 0, clip);
  grid.append(scores.box);

  const reductions = done.map((r) => r.initial_score - r.final_score);
  const top = largest(reductions, 0.01);
  const reduction = chartBox("Score reduction per item (initial − final)");
  const reduced = histogram(reductions, 20, 0, top);
  grid.append(reduction.box);

  const accept = chartBox("Acceptance rate per refinement step", "share of visits whose rewrite was kept");
  grid.append(accept.box);

  const lengths = data.items.filter((r) => r.thinking_chars !== null).map((r) => r.thinking_chars);
  const length = chartBox("Thinking length (characters)", "final thinking, or the initial trace where none");
  const spread = histogram(lengths, 20, 0, largest(lengths, 1));
  grid.append(length.box);

  return {
    grid,
    draw() {
      chart(scores.canvas, {
        type: "bar",
        data: {
          labels: initial.labels,
          datasets: [
            { label: "initial", data: initial.counts, backgroundColor: "#c9a227" },
            { label: "final", data: final.counts, backgroundColor: "#2f6fb0" },
          ],
        },
        options: { scales: { x: { title: { display: true, text: "score" } } } },
      });
      chart(reduction.canvas, {
        type: "bar",
        data: { labels: reduced.labels, datasets: [{ label: "items", data: reduced.counts, backgroundColor: "#3c8d5a" }] },
      });
      chart(accept.canvas, {
        type: "bar",
        data: {
          labels: data.acceptance.map((a) => `step ${a.step + 1}`),
          datasets: [{ label: "accepted", data: data.acceptance.map((a) => (a.visits ? a.accepted / a.visits : 0)), backgroundColor: "#7a4fb0" }],
        },
        options: { scales: { y: { min: 0, max: 1 } } },
      });
      chart(length.canvas, {
        type: "bar",
        data: { labels: spread.labels, datasets: [{ label: "trajectories", data: spread.counts, backgroundColor: "#888" }] },
      });
    },
  };
}

// -- overview page ---------------------------------------------------------------------------------------

function card(label, value) {
  return el("div", { class: "card" }, el("div", { class: "value" }, value), el("div", { class: "label" }, label));
}

function reasonTable(title, reasons) {
  const entries = Object.entries(reasons || {});
  if (!entries.length) return null;
  return el(
    "section",
    {},
    el("h3", {}, title),
    el("table", { class: "small" }, el("tbody", {}, entries.map(([reason, n]) => el("tr", {}, el("td", {}, reason), el("td", { class: "num" }, int(n)))))),
  );
}

// The thinking that passes the filters, as the last `reer filter` measured it (filters/quality.py).
function qualitySection(q) {
  if (!q || !q.samples) return null;
  const num = (v, digits) => fmt(v, digits);
  const spread = ["mean", "p10", "median", "p90", "max"];
  const rows = [["length (words; characters in Chinese)", q.thinking_units, 0], ...Object.entries(q.distinct).map(([k, v]) => [k, v, 3])];
  const head = (cells) => el("thead", {}, el("tr", {}, cells.map((c) => el("th", {}, c))));
  const shape = el(
    "table",
    { class: "small", id: "quality-shape" },
    head(["", ...spread]),
    el("tbody", {}, rows.map(([label, v, d]) => el("tr", {}, el("td", {}, label), spread.map((k) => el("td", { class: "num" }, v ? num(v[k], d) : ""))))),
  );
  const measures = el(
    "table",
    { class: "small", id: "quality-repetition" },
    head(["repetition measure", "median", "p90", "max", "limit", "over"]),
    el("tbody", {}, Object.values(q.repetition).map((m) =>
      el("tr", {}, el("td", {}, m.label), ["median", "p90", "max", "limit"].map((k) => el("td", { class: "num" }, num(m[k], 2))), el("td", { class: "num" }, int(m.over))))),
  );
  const languages = Object.entries(q.languages).map(([l, n]) => `${l} ${n}`).join(", ");
  const near = q.near_duplicates;
  return el(
    "section",
    { id: "quality" },
    el("h2", {}, `Quality of the thinking kept by the filters (${int(q.samples)} trajectories)`),
    shape,
    measures,
    el("p", {}, `Languages: ${languages}. Near-duplicates (estimated Jaccard ≥ ${near.threshold}): ${int(near.count)} (${(100 * near.share).toFixed(1)}%).`),
  );
}

let drawn = ""; // the signature of the overview on screen

// What changes when the run does: a new stage moves the totals, a finished item the counts.
function signature(data) {
  return JSON.stringify([data.counts, data.totals, data.running, data.filtered, data.search_calls, data.quality.samples]);
}

function renderOverview(data) {
  drawn = signature(data);
  const counts = data.counts;
  const search = data.config.search || {};
  const header = el(
    "header",
    {},
    el("h1", {}, `REER run ${data.run}`),
    data.running ? el("span", { class: "badge live", id: "live" }, MODE === "live" ? "running — refreshing" : "still running when this report was written") : null,
    el("p", { class: "sub" }, `generator ${data.models.generator} · scorer ${data.models.scorer} · reer ${data.reer_version}`),
  );
  const cards = el(
    "div",
    { class: "cards" },
    ["done", "rejected", "failed", "pending", "running"].map((s) => card(s, int(counts[s] || 0))),
    card("filtered out", int(Object.values(data.filtered).reduce((a, b) => a + b, 0))),
    card("mean score initial → final", `${fmt(data.mean_initial)} → ${fmt(data.mean_final)}`),
    card(`wall time (${data.search_calls} reer synthesize call${data.search_calls === 1 ? "" : "s"})`, duration(data.wall_seconds)),
    card("model time generating / scoring", `${duration(data.totals.generate_seconds)} / ${duration(data.totals.score_seconds)}`),
    card("tokens generated", int(data.totals.generated_tokens)),
    card("thinking traces scored", int(data.totals.scoring_calls)),
    card("server retries", int(data.retries)),
  );
  const settings = ["max_steps", "num_expansion", "stop_threshold", "clip", "temperature", "top_p", "rollouts", "repetition_penalty", "frequency_penalty", "presence_penalty"]
    .filter((k) => k in search)
    .map((k) => `${k} ${search[k]}`)
    .join(" · ");
  const config = el(
    "section",
    {},
    el("h2", {}, "Configuration"),
    el("p", {}, settings, ` · seed ${data.config.seed} · fingerprint ${data.fingerprint}`),
    el("details", {}, el("summary", {}, "the whole configuration"), el("pre", {}, JSON.stringify(data.config, null, 2))),
  );
  const reasons = el(
    "div",
    { class: "reasons" },
    reasonTable("Rejected, by reason", data.rejected),
    reasonTable(data.filters_ran ? "Filtered out, by check" : "Filters not run yet", data.filtered),
  );
  const charts = overviewCharts(data);
  const main = el("main", { id: "overview" }, header, contentsNav(data), cards, config, reasons, qualitySection(data.quality), el("h2", {}, "Search"), charts.grid, itemTable(data));
  return { main, draw: charts.draw };
}

const COLUMNS = [
  ["index", "#"],
  ["item_id", "item"],
  ["rollout", "rollout"],
  ["status", "status"],
  ["initial_score", "initial"],
  ["final_score", "final"],
  ["reduction", "reduction"],
  ["steps", "steps"],
  ["accepted", "kept"],
  ["generated_tokens", "tokens"],
  ["thinking_chars", "thinking"],
  ["query", "request"],
];

function visibleRows(data) {
  const needle = table.query.toLowerCase();
  let rows = data.items.filter(
    (r) =>
      (!table.status || r.status === table.status || (table.status === "filtered" && r.filtered.length)) &&
      (!needle || r.item_id.toLowerCase().includes(needle) || r.query.toLowerCase().includes(needle) || r.note.toLowerCase().includes(needle)),
  );
  const key = table.sort;
  const sign = table.descending ? -1 : 1;
  rows = rows.slice().sort((a, b) => {
    const x = a[key];
    const y = b[key];
    if (x === y) return a.index - b.index;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * sign;
  });
  return rows;
}

function itemTable(data) {
  const box = el("section", { id: "items" });
  const search = el("input", {
    type: "search",
    id: "search",
    placeholder: "search item ids, requests, notes",
    value: table.query,
    on: { input: (e) => { table.query = e.target.value; table.page = 0; fill(); } },
  });
  const statuses = ["", "done", "rejected", "failed", "pending", "running", "filtered"];
  const status = el(
    "select",
    { id: "status-filter", on: { change: (e) => { table.status = e.target.value; table.page = 0; fill(); } } },
    statuses.map((s) => el("option", { value: s, selected: s === table.status }, s || "every status")),
  );
  const summary = el("span", { class: "sub", id: "table-summary" });
  const head = el(
    "tr",
    {},
    COLUMNS.map(([key, label]) =>
      el("th", { data: { key }, on: { click: () => { table.descending = table.sort === key ? !table.descending : false; table.sort = key; fill(); } } }, label),
    ),
  );
  const body = el("tbody");
  const pager = el("div", { class: "pager" });
  box.append(el("h2", {}, "Items"), el("div", { class: "controls" }, search, status, summary), el("table", { class: "items" }, el("thead", {}, head), body), pager);

  function fill() {
    const rows = visibleRows(data);
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
    table.page = Math.min(table.page, pages - 1);
    const shown = rows.slice(table.page * PAGE_ROWS, (table.page + 1) * PAGE_ROWS);
    body.replaceChildren(
      ...shown.map((r) =>
        el(
          "tr",
          { class: r.status },
          el("td", { class: "num" }, r.index + 1),
          el("td", {}, el("a", { href: `#/item/${r.index}` }, r.item_id)),
          el("td", { class: "num" }, r.rollout),
          el("td", {}, r.status, r.filtered.length ? el("span", { class: "badge", title: r.filtered.join(", ") }, "filtered") : null),
          el("td", { class: "num" }, fmt(r.initial_score)),
          el("td", { class: "num" }, fmt(r.final_score)),
          el("td", { class: "num" }, fmt(r.reduction)),
          el("td", { class: "num" }, r.steps),
          el("td", { class: "num" }, r.accepted),
          el("td", { class: "num" }, int(r.generated_tokens)),
          el("td", { class: "num" }, int(r.thinking_chars)),
          el("td", { class: "query", title: r.note || "" }, r.query),
        ),
      ),
    );
    for (const th of head.children) th.className = th.dataset.key === table.sort ? (table.descending ? "sorted desc" : "sorted") : "";
    summary.textContent = `${rows.length.toLocaleString("en-US")} of ${data.items.length.toLocaleString("en-US")} trajectories`;
    const button = (label, page, disabled) => el("button", { disabled, on: { click: () => { table.page = page; fill(); } } }, label);
    pager.replaceChildren(
      button("« first", 0, table.page === 0),
      button("‹ previous", table.page - 1, table.page === 0),
      el("span", { id: "page" }, ` page ${table.page + 1} of ${pages} `),
      button("next ›", table.page + 1, table.page >= pages - 1),
      button("last »", pages - 1, table.page >= pages - 1),
    );
  }
  fill();
  return box;
}

// -- item page -------------------------------------------------------------------------------------------

function textBlock(title, text, id) {
  return el("section", {}, el("h3", {}, title), el("div", { class: "text", id }, text));
}

function scoreChart(item) {
  const { box, canvas } = chartBox("Score over the search (lower is better)", "line: the incumbent after each step; dots: every candidate");
  const path = [item.initial.score, ...item.steps.map((s) => s.best_score)];
  const dots = item.steps.flatMap((s, i) => s.candidates.filter((c) => c.score !== null).map((c) => ({ x: i + 1, y: c.score })));
  return {
    box,
    draw() {
      chart(canvas, {
        type: "line",
        data: {
          datasets: [
            { label: "incumbent", data: path.map((y, x) => ({ x, y })), borderColor: "#2f6fb0", backgroundColor: "#2f6fb0", stepped: false },
            { label: "candidates", type: "scatter", data: dots, backgroundColor: "#c9a227" },
          ],
        },
        options: { scales: { x: { type: "linear", title: { display: true, text: "step" }, ticks: { stepSize: 1 } }, y: { title: { display: true, text: "score" } } } },
      });
    },
  };
}

function heatMap(heat, reference) {
  const section = el("section", { id: "heat" }, el("h3", {}, "Reference tokens: log-probability change, initial → final thinking"));
  if (!heat) return section.append(el("p", { class: "note" }, "no scores to compare")), section;
  section.append(
    el("p", { class: "legend" }, el("span", { class: "swatch up" }, "easier to predict"), " ", el("span", { class: "swatch down" }, "harder to predict"), " ", el("span", { class: "unscored" }, "not scored"), " — hover a token for its values"),
  );
  const box = el("div", { class: "text heat" });
  // The scored span is the reference's tail (REER.md §1); what comes before it is context, shown greyed.
  const scored = heat.tokens.join("");
  const start = reference.lastIndexOf(scored.trim());
  if (start > 0) box.append(el("span", { class: "unscored" }, reference.slice(0, start).trimEnd()));
  heat.tokens.forEach((token, i) => {
    const delta = heat.final[i] - heat.initial[i];
    const alpha = Math.min(1, Math.abs(delta) / 2).toFixed(3);
    box.append(
      el("span", {
        class: "tok",
        textContent: token,
        title: `log p ${heat.initial[i].toFixed(3)} → ${heat.final[i].toFixed(3)} (${delta >= 0 ? "+" : ""}${delta.toFixed(3)})`,
        style: `background: rgba(${delta >= 0 ? "46,160,67" : "207,34,46"}, ${alpha})`,
      }),
    );
  });
  section.append(box);
  return section;
}

function diffView(runs) {
  return el("div", { class: "text diff" }, runs.map(([op, text]) => (op === "=" ? text : el(op === "+" ? "ins" : "del", {}, text))));
}

function stepView(step) {
  const kept = step.chosen === null ? "original kept" : `candidate ${step.chosen + 1} kept`;
  const details = el("details", { class: "step" }, el("summary", {}, `Step ${step.step + 1} · segment ${step.segment + 1} · ${kept} · best ${fmt(step.best_score)}`));
  details.append(el("h4", {}, "original segment"), el("div", { class: "text" }, step.original));
  step.candidates.forEach((c, k) => {
    const label = c.dropped ? `dropped: ${c.dropped}` : `score ${fmt(c.score)}`;
    const box = el("div", { class: k === step.chosen ? "candidate chosen" : "candidate" }, el("h4", {}, `candidate ${k + 1} · ${label} · ${c.num_tokens} tokens · ${c.finish_reason}`));
    if (c.text !== null) box.append(diffView(c.diff));
    box.append(el("details", {}, el("summary", {}, "as generated (with its analysis)"), el("div", { class: "text raw" }, c.raw)));
    details.append(box);
  });
  return details;
}

function renderItem(row, item) {
  const main = el("main", { id: "item" });
  main.append(
    el("p", {}, el("a", { href: "#/" }, "← all items")),
    el("h1", {}, `${item.item_id} · rollout ${item.rollout}`),
    el("p", { class: "sub" }, `${item.status}${item.note ? ` — ${item.note}` : ""} · ${item.stop_reason || ""} · score ${fmt(item.initial_score)} → ${fmt(item.final_score)}`),
  );
  const verdicts = Object.entries(item.filtered);
  if (verdicts.length) {
    main.append(el("section", { id: "verdicts" }, el("h3", {}, "Filtered out"), el("ul", {}, verdicts.map(([reason, detail]) => el("li", {}, `${reason}: ${detail}`)))));
  }
  main.append(textBlock("Request", item.query, "query"), textBlock("Reference", item.reference, "reference"));
  const draws = [];
  if (item.initial) {
    const scores = scoreChart(item);
    draws.push(scores.draw);
    main.append(scores.box, heatMap(item.heat, item.reference));
    if (item.segments.length) {
      main.append(
        el(
          "section",
          { id: "thinking" },
          el("h3", {}, "Final thinking"),
          el("p", { class: "legend" }, el("span", { class: "swatch rewritten" }, "rewritten by the search"), " ", el("span", { class: "swatch" }, "as first generated")),
          item.segments.map((s) =>
            el("div", { class: s.rewritten_at === null ? "segment" : "segment rewritten", title: s.rewritten_at === null ? "original" : `rewritten at step ${s.rewritten_at + 1}` }, s.text),
          ),
        ),
      );
    } else {
      main.append(textBlock("Initial thinking", item.initial.trace, "thinking"));
    }
    main.append(el("section", { id: "steps" }, el("h3", {}, `Refinement steps (${item.steps.length})`), item.steps.map(stepView)));
  }
  return { main, draw: () => draws.forEach((d) => d()) };
}

// -- evaluations and experiments -------------------------------------------------------------------------

function contentsNav(data) {
  const links = [
    ...data.evaluations.map((e, k) => el("a", { href: `#/eval/${k}` }, `evaluation: ${e.name}`)),
    ...data.experiments.map((t, k) => el("a", { href: `#/experiment/${k}` }, `experiment: ${t.name}`)),
  ];
  return links.length ? el("nav", { id: "contents" }, links) : null;
}

function estimate(e, digits = 1) {
  if (!e || e.mean === null || e.mean === undefined) return e && e.unscored ? `— (${e.unscored} unscored)` : "—";
  const text = `${e.mean.toFixed(digits)} [${e.ci_low.toFixed(digits)}, ${e.ci_high.toFixed(digits)}]`;
  return e.unscored ? `${text}, ${e.unscored} unscored` : text;
}

function smokeNotice(smoke) {
  return smoke ? el("p", { class: "smoke" }, "SMOKE TEST ONLY — judged by the embedded 135M model: these scores mean nothing.") : null;
}

function groupBars(name, metric, summary) {
  const groups = Object.entries(summary.groups).filter(([, e]) => e.mean !== null);
  if (!groups.length) return null;
  const { box, canvas } = chartBox(`${name}: ${metric} per group (bars: mean; dark: interval)`);
  return {
    box,
    draw() {
      chart(canvas, {
        type: "bar",
        data: {
          labels: groups.map(([g]) => g),
          datasets: [
            { label: "mean", data: groups.map(([, e]) => e.mean), backgroundColor: "#2f6fb0", grouped: false },
            { label: "interval", data: groups.map(([, e]) => [e.ci_low, e.ci_high]), backgroundColor: "rgba(0,0,0,0.55)", barPercentage: 0.12, grouped: false },
          ],
        },
        options: { scales: { y: { min: 0, max: 100 } } },
      });
    },
  };
}

function lengthScatter(name, rows) {
  const points = rows.filter((r) => r.required_length).map((r) => ({ x: r.required_length, y: Math.max(1, r.answer_units) }));
  if (!points.length) return null;
  const { box, canvas } = chartBox(`${name}: produced vs required length`, "the dashed line is produced = required");
  const xs = points.map((p) => p.x);
  const line = [Math.min(...xs) / 2, Math.max(...xs) * 2];
  return {
    box,
    draw() {
      chart(canvas, {
        type: "scatter",
        data: {
          datasets: [
            { label: "answers", data: points, backgroundColor: "#2f6fb0" },
            { label: "produced = required", type: "line", data: line.map((v) => ({ x: v, y: v })), borderDash: [6, 4], borderColor: "#888", pointRadius: 0 },
          ],
        },
        options: { scales: { x: { type: "logarithmic", title: { display: true, text: "required" } }, y: { type: "logarithmic", title: { display: true, text: "produced" } } } },
      });
    },
  };
}

function answerView(row) {
  const scores = Object.entries(row.scores).map(([k, v]) => `${k} ${v === null ? "unscored" : fmt(v, 1)}`).join(" · ");
  const details = el("details", { class: "answer" }, el("summary", {}, `${row.id} · ${row.group} · ${scores} · ${row.tokens} tokens · ${row.finish_reason}`));
  details.addEventListener("toggle", () => {
    if (!details.open || details.dataset.filled) return;
    details.dataset.filled = "1";
    if (row.thinking) details.append(el("h4", {}, `thinking (${row.thinking_units} units)`), el("div", { class: "text" }, row.thinking));
    details.append(el("h4", {}, `answer (${row.answer_units} units)`), el("div", { class: "text" }, row.answer));
    for (const verdict of row.verdicts) {
      const result = verdict.scores ? Object.entries(verdict.scores).map(([k, v]) => `${k} ${v}`).join(", ") : "never parsed";
      details.append(el("h4", {}, `judge, ${verdict.part}: ${result} (${verdict.raws.length} call${verdict.raws.length === 1 ? "" : "s"})`));
      verdict.raws.forEach((raw) => details.append(el("div", { class: "text raw" }, raw)));
    }
  });
  return details;
}

function renderEval(doc) {
  const main = el(
    "main",
    { id: "eval" },
    el("p", {}, el("a", { href: "#/" }, "← the run")),
    el("h1", {}, `Evaluation ${doc.name}`),
    el("p", { class: "sub" }, `model ${doc.model} · judge ${doc.judge} · ${doc.created} · ${Math.round(doc.confidence * 100)}% bootstrap intervals`),
    smokeNotice(doc.smoke_test_only),
  );
  const draws = [];
  for (const [name, bench] of Object.entries(doc.benchmarks)) {
    const section = el("section", { class: "benchmark" }, el("h2", {}, `${name} (${bench.items} items)`));
    const deviations = bench.protocol ? bench.protocol.deviations : null;
    const comparability = !deviations
      ? "Protocol not recorded: not comparable with published figures."
      : deviations.length
        ? `Not comparable with published figures: ${deviations.join("; ")}.`
        : "Computed as published: the benchmark's own prompt, parsing, sampling, attempts and scores.";
    section.append(el("p", { class: "protocol" }, comparability));
    const headlines = Object.entries(bench.headlines);
    if (headlines.length) section.append(el("div", { class: "cards" }, headlines.map(([label, e]) => card(label, estimate(e)))));
    const groups = Object.keys(Object.values(bench.metrics)[0]?.groups || {});
    section.append(
      el(
        "table",
        { class: "metrics" },
        el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", {}, "overall"), groups.map((g) => el("th", {}, g)))),
        el("tbody", {}, Object.entries(bench.metrics).map(([metric, m]) => el("tr", {}, el("td", {}, metric), el("td", {}, estimate(m.overall)), groups.map((g) => el("td", {}, estimate(m.groups[g])))))),
      ),
    );
    const metric = name === "longbench-write" ? "S" : "score";
    const plots = el("div", { class: "charts" });
    for (const plot of [bench.metrics[metric] && groupBars(name, metric, bench.metrics[metric]), name === "longbench-write" && lengthScatter(name, bench.per_item)]) {
      if (plot) plots.append(plot.box), draws.push(plot.draw);
    }
    section.append(plots);
    const t = bench.thinking;
    if (t) {
      section.append(
        el("p", {}, `Thinking: ${Math.round(t.with_thinking * 100)}% of answers think; mean ${t.thinking_units.toFixed(0)} thinking and ${t.answer_units.toFixed(0)} answer units; ${t.reflections_per_1k.toFixed(1)} reflection phrases per 1k thinking units; top-3 trigram share ${t.top3_trigram_share.toFixed(2)}; ${t.cut_off} cut off; ${t.seconds_per_answer.toFixed(1)} s per answer.`),
      );
    }
    const j = bench.judge;
    section.append(el("p", { class: "sub" }, `Judge: ${j.tasks} verdicts, ${j.unscored} unscored, ${j.retried} needed a retry (${j.calls} calls).`));
    section.append(el("h3", {}, "Answers"), el("div", { class: "answers" }, bench.per_item.map(answerView)));
    main.append(section);
  }
  const lik = doc.likelihood;
  if (lik) {
    const columns = [["without thinking", lik.nll_without_thinking], ["with the model's thinking", lik.nll_with_thinking], ["gain", lik.gain], ["REER score without", lik.reer_without_thinking], ["REER score with", lik.reer_with_thinking]];
    main.append(
      el("h2", {}, `Reference likelihood (${lik.pairs} held-out pairs, ${lik.source})`),
      el("div", { class: "cards" }, columns.map(([label, e]) => card(label, estimate(e, 3)))),
    );
  }
  return { main, draw: () => draws.forEach((d) => d()) };
}

function renderExperiment(doc) {
  const arms = Object.entries(doc.arms);
  // The published figures stand beside ours only when every arm was computed as the benchmarks publish.
  const comparable = arms.length > 0 && arms.every(([, a]) => a.as_published);
  const published = comparable ? doc.published : {};
  const columns = [...new Set([...Object.values(published).flatMap(Object.keys), ...arms.flatMap(([, a]) => Object.keys(a.headlines))])];
  const evalLinks = new Map(overview.evaluations.map((e, k) => [e.name, k]));
  const note = comparable
    ? `run ${doc.run} · published: DeepWriter-8B (Qwen3-8B-Base), GPT-4o / Claude 3.7 judges`
    : `run ${doc.run} · not computed as the benchmarks publish (each arm's evaluation lists the deviations): the published figures are not shown`;
  const main = el(
    "main",
    { id: "experiment" },
    el("p", {}, el("a", { href: "#/" }, "← the run")),
    el("h1", {}, `Experiment ${doc.name}`),
    el("p", { class: "sub" }, note),
    smokeNotice(arms.some(([, a]) => a.smoke_test_only)),
  );
  const heads = columns.map((c) => (comparable ? [el("th", {}, `${c} ours`), el("th", {}, `${c} published`)] : el("th", {}, `${c} ours`)));
  main.append(
    el(
      "table",
      { class: "ablation" },
      el("thead", {}, el("tr", {}, el("th", {}, "arm"), el("th", {}, "samples"), heads)),
      el(
        "tbody",
        {},
        arms.map(([arm, row]) => {
          const link = evalLinks.has(`arm: ${arm}`) ? el("a", { href: `#/eval/${evalLinks.get(`arm: ${arm}`)}` }, arm) : arm;
          const theirs = published[arm] || {};
          const cells = columns.map((c) => (comparable ? [el("td", {}, estimate(row.headlines[c])), el("td", { class: "num" }, theirs[c] ?? "—")] : el("td", {}, estimate(row.headlines[c]))));
          return el("tr", {}, el("td", {}, link), el("td", { class: "num" }, row.samples), cells);
        }),
      ),
    ),
  );
  const { box, canvas } = chartBox(comparable ? "Headlines per arm: ours (solid) and published (light)" : "Headlines per arm");
  main.append(el("div", { class: "charts wide" }, box));
  const palette = ["#2f6fb0", "#c9a227", "#3c8d5a", "#7a4fb0", "#b0492f"];
  const datasets = columns.flatMap((c, i) => [
    { label: `${c} ours`, data: arms.map(([, row]) => row.headlines[c]?.mean ?? null), backgroundColor: palette[i % palette.length] },
    ...(comparable ? [{ label: `${c} published`, data: arms.map(([arm]) => published[arm]?.[c] ?? null), backgroundColor: palette[i % palette.length] + "55" }] : []),
  ]);
  return { main, draw: () => chart(canvas, { type: "bar", data: { labels: arms.map(([arm]) => arm), datasets }, options: { scales: { y: { min: 0, max: 100 } } } }) };
}

// -- routing ---------------------------------------------------------------------------------------------

function show(view) {
  while (charts.length) charts.pop().destroy();
  document.getElementById("app").replaceChildren(view.main);
  view.draw();
}

function withIndex(data) {
  data.items.forEach((r, i) => {
    r.index = i;
    r.reduction = r.initial_score !== null && r.final_score !== null ? r.initial_score - r.final_score : null;
  });
  return data;
}

async function route() {
  const match = location.hash.match(/^#\/(item|eval|experiment)\/(\d+)$/);
  try {
    if (!overview) overview = withIndex(await loadOverview());
    if (!match) return show(renderOverview(overview));
    const [, kind, number] = match;
    if (kind === "item") {
      const row = overview.items[Number(number)];
      if (!row) throw new Error("no such item");
      show(renderItem(row, await loadItem(row)));
    } else {
      const document_ = await loadDocument(kind, Number(number));
      show(kind === "eval" ? renderEval(document_) : renderExperiment(document_));
    }
    window.scrollTo(0, 0);
  } catch (error) {
    document.getElementById("app").replaceChildren(el("main", {}, el("p", { class: "error" }, `Cannot show this page: ${error.message}`), el("a", { href: "#/" }, "← all items")));
  }
}

// The viewer polls: every 5 s while a `reer synthesize` writes the run, every 30 s otherwise (one may start).
// The overview is drawn again only when the run changed, and never under the user's typing.
async function refresh() {
  try {
    overview = withIndex(await loadOverview());
    const onOverview = !/^#\/(item|eval|experiment)\//.test(location.hash);
    if (onOverview && signature(overview) !== drawn && document.activeElement?.id !== "search") show(renderOverview(overview));
  } catch {
    // The viewer may be restarting: try again at the next tick.
  } finally {
    setTimeout(refresh, overview && overview.running ? REFRESH_MS : IDLE_REFRESH_MS);
  }
}

window.addEventListener("hashchange", route);
route();
if (MODE === "live") setTimeout(refresh, REFRESH_MS);
