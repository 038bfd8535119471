// The lineage explorer: one page over the JSON routes (/v1/trace, /v1/impact, /v1/search, /v1/verify,
// /v1/diff, /v1/neighbours). No framework and no build step, so the service ships it as three static files.
"use strict";

const KINDS = ["api", "deployment", "image", "model", "job", "dataset", "run", "commit", "repo", "person"];
const TOKEN_KEY = "lineage.token";  // sessionStorage: gone when the tab closes, never written to disk
const TOKEN_NEEDED = "This service needs a token with the read scope.";
const BOX = { w: 180, h: 42, colGap: 70, rowGap: 16, pad: 20 };
const NEIGHBOUR_PAGE = 50;  // hidden links listed per "load more": a screenful, one small request

const $ = (selector) => document.querySelector(selector);

// A tiny element builder: el("li", {class: "x", onclick: f}, "text", child).
function el(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "rect", "text", "path", "title", "tspan"].includes(tag);
  const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// replaceChildren, skipping the nulls that stand for "nothing to show here".
function fill(parent, ...children) {
  parent.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
}

// --- talking to the service -------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function getJson(path, params) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${path}?${new URLSearchParams(params)}`, { headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new HttpError(response.status, body);
  return body;
}

// --- state: the URL is the state, so every view is a deep link ---------------------------------

function stateFromUrl() {
  const params = new URLSearchParams(location.search);
  return {
    kind: params.get("kind") || "",
    ref: params.get("ref") || "",
    direction: params.get("direction") === "impact" ? "impact" : "trace",
  };
}

function navigate(state) {
  const params = new URLSearchParams({ kind: state.kind, ref: state.ref });
  if (state.direction === "impact") params.set("direction", "impact");
  history.pushState(null, "", `/?${params}`);
  show(state);
}

let current = stateFromUrl();
let requestSeq = 0;  // answers that arrive after a newer request started are dropped
// The answer's "more" entries by node id: the nodes whose links of some kind were capped (issue 9).
let moreByNode = new Map();

async function show(state) {
  current = state;
  syncControls(state);
  if (!state.kind || !state.ref) return;
  const seq = ++requestSeq;
  setBusy(true);
  try {
    const answer = await getJson(`/v1/${state.direction}`, { kind: state.kind, ref: state.ref });
    if (seq !== requestSeq) return;
    hideMessage();
    renderAnswer(answer, state);
    if (answer.root.kind === "api" && state.direction === "trace") loadVerify(state, seq);
  } catch (error) {
    if (seq === requestSeq) showError(error);
  } finally {
    if (seq === requestSeq) setBusy(false);
  }
}

function syncControls(state) {
  if (state.kind && state.ref && document.activeElement !== $("#search")) {
    $("#search").value = `${state.kind} ${state.ref}`;
  }
  for (const button of document.querySelectorAll("#direction button")) {
    button.setAttribute("aria-pressed", String(button.dataset.direction === state.direction));
  }
  document.title = state.ref ? `${state.direction} ${state.kind} ${state.ref} · lineage` : "lineage explorer";
}

function setBusy(busy) {
  document.body.classList.toggle("busy", busy);
}

// --- messages and errors ----------------------------------------------------------------------

function hideMessage() {
  $("#message").hidden = true;
  $("#message").replaceChildren();
}

function showMessage(kind, ...content) {
  const box = $("#message");
  box.className = kind;
  box.replaceChildren(...content);
  box.hidden = false;
}

function showError(error) {
  if (!(error instanceof HttpError)) {
    showMessage("error", `Could not reach the service: ${error.message}`);
    return;
  }
  if (error.status === 401 || error.status === 403) {
    // The service's own detail says which: no token, a wrong token, or a token without the scope.
    showMessage("auth", el("strong", {}, TOKEN_NEEDED), " ", error.message,
      " Paste one in the token field; it is kept for this tab only.");
    $("#token").focus();
    return;
  }
  const candidates = error.problem.candidates || [];
  const parts = [el("strong", {}, error.status === 409 ? "Ambiguous reference. " : "Not found. "), error.message];
  if (candidates.length) {
    parts.push(el("div", { class: "candidates" }, el("span", {}, error.status === 409 ? "Pick one:" : "Did you mean:"),
      candidates.map((c) => el("button", {
        type: "button", class: `candidate kind-${c.kind}`, dataset: { kind: c.kind, label: c.label },
        onclick: () => navigate({ ...current, kind: c.kind, ref: c.label }),
      }, `${c.kind} ${c.label}`))));
  }
  showMessage("error", ...parts);
}

// --- the graph: columns by depth from the root, hand-written SVG ------------------------------

function layout(nodes, edges) {
  const columns = new Map();
  for (const node of nodes) {
    const depth = node.depth ?? 0;
    if (!columns.has(depth)) columns.set(depth, []);
    columns.get(depth).push(node);
  }
  const neighbours = new Map(nodes.map((n) => [n.id, []]));
  for (const edge of edges) {
    neighbours.get(edge.source)?.push(edge.target);
    neighbours.get(edge.target)?.push(edge.source);
  }
  // Order each column by the mean row of its neighbours in the column before it (barycentre):
  // one sweep keeps most edges from crossing, which is all a graph of a few dozen nodes needs.
  const row = new Map();
  const depths = [...columns.keys()].sort((a, b) => a - b);
  for (const depth of depths) {
    const column = columns.get(depth);
    const score = (n) => {
      const rows = neighbours.get(n.id).filter((id) => row.has(id)).map((id) => row.get(id));
      return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : Infinity;
    };
    column.sort((a, b) => score(a) - score(b) || a.kind.localeCompare(b.kind) || a.label.localeCompare(b.label));
    column.forEach((n, i) => row.set(n.id, i));
  }
  const tallest = Math.max(...[...columns.values()].map((c) => c.length));
  const height = BOX.pad * 2 + tallest * (BOX.h + BOX.rowGap) - BOX.rowGap;
  const position = new Map();
  depths.forEach((depth, x) => {
    const column = columns.get(depth);
    const top = (height - (column.length * (BOX.h + BOX.rowGap) - BOX.rowGap)) / 2;  // centre short columns
    column.forEach((n, i) => position.set(n.id, {
      x: BOX.pad + x * (BOX.w + BOX.colGap), y: top + i * (BOX.h + BOX.rowGap),
    }));
  });
  // + colGap / 2: links within a column arc out to the right, also in the last column.
  return { position, width: BOX.pad * 2 + depths.length * (BOX.w + BOX.colGap) - BOX.colGap / 2, height };
}

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// The capped links of one node as at most two badges: above the box the first kind, below it the
// second, or the sum of the rest when a node is capped in three kinds or more (rare; the panel lists all).
function badgeTexts(entries) {
  const hidden = (e) => Math.max(e.total - e.shown, 0);
  const texts = entries.slice(0, 2).map((e) => ({ edgeKind: e.edge_kind, count: hidden(e),
    text: `+${hidden(e).toLocaleString("en")} more ${e.edge_kind}` }));
  if (entries.length > 2) {
    const count = entries.slice(1).reduce((sum, e) => sum + hidden(e), 0);
    texts[1] = { edgeKind: "", count, text: `+${count.toLocaleString("en")} more links` };
  }
  return texts;
}

function moreBadges(node, entries) {
  return badgeTexts(entries).map((badge, i) => el("g", {
    // The first straddles the box's top edge, clear of its text; a second hangs just below the box.
    class: "more-badge", transform: `translate(0,${i === 0 ? 0 : BOX.h + 8})`,
    dataset: { edgeKind: badge.edgeKind, count: badge.count },
    // The badge opens the node's panel and scrolls to the hidden links, not only to its properties.
    onclick: (e) => { e.stopPropagation(); selectNode(node); $("#details .more")?.scrollIntoView({ block: "nearest" }); },
  },
  el("rect", { y: -8, height: 16, rx: 8 }),
  el("text", { x: BOX.w - 8, y: 3.5, "text-anchor": "end" }, badge.text),
  el("title", {}, entries.map((e) => `${e.total - e.shown} of ${e.total} ${e.edge_kind} links (${e.direction}) `
    + "not drawn: select the node to list them").join("\n"))));
}

// A badge's pill fits its text, which only has a size once the SVG is shown.
function sizeBadges(svg) {
  for (const badge of svg.querySelectorAll(".more-badge")) {
    const text = badge.querySelector("text");
    let { width } = text.getBBox();
    if (!width) width = text.textContent.length * 6;  // not laid out (a hidden pane): a fair guess
    const rect = badge.querySelector("rect");
    rect.setAttribute("x", String(BOX.w - 8 - width - 7));
    rect.setAttribute("width", String(width + 14));
  }
}

function drawGraph(answer) {
  const svg = $("#graph");
  const { position, width, height } = layout(answer.nodes, answer.edges);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  // Fit the pane's width, but never shrink text below ~3/4 of its size: wider graphs scroll instead.
  svg.style.maxWidth = `${width}px`;
  svg.style.minWidth = `${Math.round(width * 0.75)}px`;
  const edgeLayer = el("g", { class: "edges" });
  for (const edge of answer.edges) {
    let a = position.get(edge.source);
    let b = position.get(edge.target);
    if (!a || !b) continue;
    if (a.x > b.x) [a, b] = [b, a];  // always draw left to right, whatever the edge's direction
    const x1 = a.x + BOX.w, y1 = a.y + BOX.h / 2, x2 = b.x, y2 = b.y + BOX.h / 2;
    const bend = a.x === b.x ? 40 : (x2 - x1) / 2;
    const d = a.x === b.x
      ? `M${x1},${y1} C${x1 + bend},${y1} ${x1 + bend},${y2} ${x1},${y2 - 0.01}`
      : `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
    const evidence = edge.props?.evidence || "declared";
    const sources = (edge.props?.sources || []).join(", ");
    edgeLayer.append(el("g", { class: `edge evidence-${evidence}`, dataset: { kind: edge.kind, evidence } },
      el("path", { d }),
      el("title", {}, `${edge.kind} (${evidence}${sources ? ` by ${sources}` : ""})`),
      // The evidence is the label (how sure we are of the link); the link's kind is in the tooltip,
      // since "built_from · observed" on every edge piled up into unreadable text.
      el("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 3, "text-anchor": "middle" }, evidence)));
  }
  const nodeLayer = el("g", { class: "nodes" });
  for (const node of answer.nodes) {
    const p = position.get(node.id);
    const isRoot = node.id === answer.root.id;
    nodeLayer.append(el("g", {
      class: `node kind-${node.kind}${isRoot ? " root" : ""}`, transform: `translate(${p.x},${p.y})`,
      tabindex: 0, role: "button", "aria-label": `${node.kind} ${node.label}`,
      dataset: { id: node.id, kind: node.kind, label: node.label },
      onclick: () => selectNode(node),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); selectNode(node); } },
    },
    el("rect", { width: BOX.w, height: BOX.h, rx: 7 }),
    el("text", { x: 10, y: 15, class: "kind" }, node.kind),
    el("text", { x: 10, y: 32, class: "label" }, shorten(node.label, 24)),
    el("title", {}, `${node.kind} ${node.label}`),
    moreByNode.has(node.id) ? moreBadges(node, moreByNode.get(node.id)) : null));
  }
  svg.replaceChildren(edgeLayer, nodeLayer);
  svg.removeAttribute("hidden");  // an SVG element has no .hidden property, only the attribute
  sizeBadges(svg);
  $("#hint").hidden = true;
  const kinds = [...new Set(answer.nodes.map((n) => n.kind))];
  $("#legend").replaceChildren(...kinds.map((k) => el("span", { class: `swatch kind-${k}` }, k)),
    ...["observed", "declared", "inferred"].map((e) => el("span", { class: `line evidence-${e}` }, e)));
  $("#legend").hidden = false;
}

// --- side panel: the selected node, the summary, verify, diff ---------------------------------

function valueCell(value) {
  if (value === null || value === undefined) return el("span", { class: "muted" }, "—");
  if (typeof value === "object") return el("pre", {}, JSON.stringify(value, null, 2));
  return String(value);
}

function table(entries) {
  return el("table", { class: "props" },
    entries.map(([name, value]) => el("tr", {}, el("th", {}, name), el("td", {}, valueCell(value)))));
}

function selectNode(node) {
  for (const g of document.querySelectorAll("#graph .node")) g.classList.toggle("selected", g.dataset.id === node.id);
  const recentre = el("button", {
    type: "button", id: "recentre", onclick: () => navigate({ ...current, kind: node.kind, ref: node.label }),
  }, `Re-centre on this ${node.kind}`);
  const flip = current.direction === "trace" ? "impact" : "trace";
  const other = el("button", {
    type: "button", onclick: () => navigate({ kind: node.kind, ref: node.label, direction: flip }),
  }, flip === "impact" ? "What was made from it" : "What produced it");
  $("#details").replaceChildren(
    el("h2", {}, el("span", { class: `badge kind-${node.kind}` }, node.kind), " ", node.label),
    el("div", { class: "actions" }, recentre, other),
    el("h3", {}, "Key"), table(Object.entries(node.key || {})),
    el("h3", {}, "Properties"),
    Object.keys(node.props || {}).length ? table(Object.entries(node.props)) : el("p", { class: "muted" }, "none"),
    el("h3", {}, "Seen"),
    table([["sources", (node.sources || []).join(", ")], ["first seen", node.first_seen],
      ["last seen", node.last_seen], ["aliases", (node.aliases || []).join(", ") || null]]),
    ...(moreByNode.get(node.id) || []).map(hiddenLinks));
  $("#details").hidden = false;
}

// The links of one kind a capped walk did not draw, paged from /v1/neighbours: the entry's cursor
// starts after the links the graph shows, and each page hands out the next one.
function hiddenLinks(entry) {
  const items = el("ul", {});
  const count = el("p", { class: "muted more-count" });
  const button = el("button", { type: "button", class: "load-more", hidden: true }, `Load ${NEIGHBOUR_PAGE} more`);
  const hidden = Math.max(entry.total - entry.shown, 0);
  let cursor = entry.after;
  async function load() {
    button.disabled = true;
    try {
      const page = await getJson("/v1/neighbours", { after: cursor, limit: NEIGHBOUR_PAGE });
      items.append(...page.links.filter((link) => link.node).map((link) => el("li", {
        dataset: { id: link.node.id, kind: link.node.kind, label: link.node.label },
      }, el("span", { class: `badge kind-${link.node.kind}` }, link.node.kind), " ",
      nodeLink(link.node.kind, link.node.label),  // a click re-centres on it, as the graph's nodes do
      el("span", { class: "muted small" }, ` ${link.props?.evidence || ""}`))));
      cursor = page.next;
      // Links may have arrived since the trace: the page's own total is the newer count.
      const now = Math.max(page.total - entry.shown, items.children.length);
      count.textContent = `${items.children.length.toLocaleString("en")} of ${now.toLocaleString("en")} listed`;
      button.hidden = !cursor;
    } catch (error) {
      count.textContent = error.status === 401 || error.status === 403 ? TOKEN_NEEDED : `Could not list them: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener("click", load);
  load();
  return el("section", { class: "group more", dataset: { edgeKind: entry.edge_kind, total: entry.total } },
    el("h3", {}, `${hidden.toLocaleString("en")} more ${entry.edge_kind} (${entry.direction}) not drawn`),
    count, items, button);
}

function list(title, items, render) {
  if (!items || !items.length) return null;
  return el("section", { class: "group" }, el("h3", {}, `${title} (${items.length})`),
    el("ul", {}, items.map((item) => el("li", {}, render(item)))));
}

function nodeLink(kind, label, text = label) {
  return el("a", {
    href: `/?${new URLSearchParams({ kind, ref: label })}`, class: "node-link",
    onclick: (e) => { e.preventDefault(); navigate({ ...current, kind, ref: label }); },
  }, text);
}

function renderAnswer(answer, state) {
  moreByNode = new Map();
  for (const entry of answer.more || []) {
    if (!moreByNode.has(entry.node)) moreByNode.set(entry.node, []);
    moreByNode.get(entry.node).push(entry);
  }
  drawGraph(answer);
  $("#details").hidden = true;
  const s = answer.summary || {};
  const messages = [
    ...(answer.warnings || []).map((w) => el("li", { class: "warning" }, typeof w === "string" ? w : JSON.stringify(w))),
    ...(answer.notes || []).map((n) => el("li", { class: "note" }, typeof n === "string" ? n : JSON.stringify(n))),
  ];
  if (answer.truncated) messages.push(el("li", { class: "warning" }, "The answer was truncated: not every node is shown."));
  fill($("#summary"),
    el("h2", {}, state.direction === "impact" ? "Made from " : "Produced ",
      el("span", { class: `badge kind-${answer.root.kind}` }, answer.root.kind), " ", answer.root.label),
    messages.length ? el("ul", { class: "messages" }, messages) : null,
    el("div", { id: "verify" }),
    list("Commits", s.commits, (c) => [nodeLink("commit", c.short, el("code", {}, c.short)), " ",
      el("span", { class: "author" }, c.author || "unknown author"), el("div", { class: "message" }, c.message || "")]),
    list("Datasets", s.datasets, (d) => [nodeLink("dataset", d.label),
      d.requested_as ? el("span", { class: "muted" }, ` (asked for ${d.requested_as})`) : null]),
    list("Models", s.models, (m) => [nodeLink("model", m.label),
      m.metrics ? el("span", { class: "muted" }, ` ${Object.entries(m.metrics).map(([k, v]) => `${k} ${v}`).join(", ")}`) : null]),
    list("Images", s.images, (i) => [nodeLink("image", i.label, el("code", {}, i.label)),
      el("div", { class: "muted small" }, (i.references || []).find((r) => /:v\d/.test(r)) || (i.references || [])[0] || "")]),
    list("Deployments", s.deployments, (d) => [nodeLink("deployment", d.label),
      el("span", { class: d.live ? "live" : "muted" }, deploymentState(d, answer.at))]),
    list("APIs", s.apis, (a) => nodeLink("api", a.label)));
  $("#summary").hidden = false;
}

// As of a time (answer.at), "live" means live then, not now (issue 10).
function deploymentState(d, at) {
  if (!at) return d.live ? " live" : ` until ${d.active_to || "?"}`;
  if (d.live) return ` live at ${at}`;
  return d.state === "not started" ? ` not live at ${at} (started ${d.active_from || "?"})`
    : ` not live at ${at} (ended ${d.active_to || "?"})`;
}

async function loadVerify(state, seq) {
  try {
    const result = await getJson("/v1/verify", { kind: state.kind, ref: state.ref });
    if (seq !== requestSeq) return;
    const worth = result.findings.filter((f) => f.severity !== "ok");
    $("#verify").replaceChildren(el("section", { class: `group verify ${result.passed ? "passed" : "failed"}` },
      el("h3", {}, `Verify: ${result.passed ? "passed" : "failed"}`),
      el("p", { class: "muted" }, Object.entries(result.counts).map(([k, v]) => `${v} ${k}`).join(" · ")),
      el("ul", {}, worth.map((f) => el("li", { class: `finding ${f.severity}` },
        el("strong", {}, `${f.severity} ${f.check}: `), f.message, f.fix ? el("div", { class: "fix" }, `Fix: ${f.fix}`) : null)))));
  } catch (error) {
    // Verify is extra information: its failure must not hide the trace that did load.
    if (seq === requestSeq) $("#verify").replaceChildren(el("p", { class: "muted" }, `verify: ${error.message}`));
  }
}

async function runDiff(event) {
  event.preventDefault();
  const params = { kind: $("#diff-kind").value.trim(), a: $("#diff-a").value.trim(), b: $("#diff-b").value.trim() };
  const out = $("#diff");
  try {
    const result = await getJson("/v1/diff", params);
    fill(out, el("p", { class: "diff-summary" }, result.summary),
      (result.warnings || []).length ? el("ul", { class: "messages" },
        result.warnings.map((w) => el("li", { class: "warning" }, typeof w === "string" ? w : JSON.stringify(w)))) : null);
  } catch (error) {
    out.replaceChildren(el("p", { class: "error" },
      error.status === 401 || error.status === 403 ? TOKEN_NEEDED : error.message));
  }
}

// --- search: "KIND REF", with suggestions from /v1/search -------------------------------------

function parseQuery(text) {
  const trimmed = text.trim();
  const space = trimmed.indexOf(" ");
  const first = (space < 0 ? trimmed : trimmed.slice(0, space)).toLowerCase();
  if (KINDS.includes(first)) return { kind: first, ref: space < 0 ? "" : trimmed.slice(space + 1).trim() };
  return { kind: "", ref: trimmed };
}

let suggestSeq = 0;
let suggestTimer = 0;

function suggest() {
  // A short pause between keystrokes before asking: one request per word, not per letter.
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(fetchSuggestions, 150);
}

async function fetchSuggestions() {
  const { kind, ref } = parseQuery($("#search").value);
  const box = $("#suggestions");
  if (!ref) { box.hidden = true; return; }
  const seq = ++suggestSeq;
  try {
    const params = { q: ref, limit: 8 };
    if (kind) params.kind = kind;
    const { results } = await getJson("/v1/search", params);
    if (seq !== suggestSeq) return;
    box.replaceChildren(...results.map((r) => el("li", {
      role: "option", class: `kind-${r.kind}`, dataset: { kind: r.kind, label: r.label },
      onmousedown: (e) => {  // mousedown, not click: it lands before the input's blur hides the list
        e.preventDefault();
        box.hidden = true;
        navigate({ ...current, kind: r.kind, ref: r.label });
      },
    }, el("span", { class: `badge kind-${r.kind}` }, r.kind), " ", r.label)));
    box.hidden = results.length === 0;
  } catch {
    box.hidden = true;  // suggestions are a convenience; the search itself reports errors
  }
}

function submitSearch(event) {
  event.preventDefault();
  $("#suggestions").hidden = true;
  const { kind, ref } = parseQuery($("#search").value);
  if (!kind || !ref) {
    showMessage("error", el("strong", {}, "Start with a kind. "),
      `Type KIND REF, e.g. "api v1.2.3"; kinds: ${KINDS.join(", ")}.`);
    return;
  }
  $("#search").blur();
  navigate({ ...current, kind, ref });
}

// --- wiring -----------------------------------------------------------------------------------

function start() {
  $("#search-form").addEventListener("submit", submitSearch);
  $("#search").addEventListener("input", suggest);
  $("#search").addEventListener("blur", () => { $("#suggestions").hidden = true; });
  $("#search").addEventListener("keydown", (e) => { if (e.key === "Escape") $("#suggestions").hidden = true; });
  for (const button of document.querySelectorAll("#direction button")) {
    button.addEventListener("click", () => {
      if (current.kind && current.ref) navigate({ ...current, direction: button.dataset.direction });
      else syncControls({ ...current, direction: button.dataset.direction });
      current = { ...current, direction: button.dataset.direction };
    });
  }
  $("#token").value = sessionStorage.getItem(TOKEN_KEY) || "";
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    show(current);
  });
  $("#diff-form").addEventListener("submit", runDiff);
  window.addEventListener("popstate", () => show(stateFromUrl()));
  show(current);
}

start();
