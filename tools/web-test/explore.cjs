// Drives the web explorer in Debian's chromium for tests/test_web.py and prints what it saw as JSON.
// Usage: node explore.cjs SCENARIO BASE_URL ARTIFACT_DIR [TOKEN]
// Scenarios: "open" (a service without tokens), "token" (one that needs a read token) and "wide"
// (a store whose dataset base-data:1 has more consumers than a walk follows).
// Every step waits for a selector or a condition, never for a fixed time; a step that times out
// fails the run with a screenshot of the page as it was.
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const [scenario, base, artifacts, token] = process.argv.slice(2);
const STEP_TIMEOUT = 15000;
const node = (label) => `#graph .node[data-label="${label}"]`;

async function labels(page) {
  return page.$$eval("#graph .node", (nodes) => nodes.map((n) => n.dataset.label));
}

async function open(page, seen) {
  await page.goto(base);
  await page.waitForSelector("#search");
  seen.hint = await page.textContent("#hint");

  // Search, with suggestions from /v1/search; Enter submits what was typed.
  await page.fill("#search", "api v1.2.3");
  await page.waitForSelector('#suggestions li[data-label="taxi-api v1.2.3"]');
  seen.suggestions = await page.$$eval("#suggestions li", (items) => items.map((i) => i.dataset.label));
  await page.press("#search", "Enter");
  await page.waitForSelector(node("05ee055"));
  seen.search_nodes = await labels(page);
  seen.search_badges = await page.$$eval("#graph .more-badge", (badges) => badges.length);
  seen.search_url = page.url();
  seen.summary = await page.textContent("#summary");
  await page.waitForSelector("#verify .verify");
  seen.verify = await page.textContent("#verify");

  // Select a node: its properties in the side panel.
  await page.click(node("05ee055"));
  await page.waitForSelector("#details:not([hidden]) #recentre");
  seen.details = await page.textContent("#details");
  await page.screenshot({ path: path.join(artifacts, "trace-api-v1.2.3.png"), fullPage: true });

  // Re-centre on it, then the browser's Back button returns to the release (pushState + popstate).
  await page.click("#recentre");
  await page.waitForSelector('#graph .node.root[data-kind="commit"]');
  seen.recentre_url = page.url();
  seen.recentre_root = await page.getAttribute("#graph .node.root", "data-label");
  await page.goBack();
  await page.waitForSelector('#graph .node.root[data-kind="api"]');
  seen.back_url = page.url();

  // The impact toggle on the same node.
  await page.click('#direction button[data-direction="impact"]');
  await page.waitForFunction(() => location.search.includes("direction=impact"));
  await page.waitForSelector("#summary h2:has-text('Made from')");
  seen.toggle_url = page.url();

  // A deep link loads directly.
  await page.goto(`${base}/?kind=dataset&ref=green-taxi-data:5&direction=impact`);
  await page.waitForSelector(node("taxi-api v1.2.3"));
  seen.deep_link_nodes = await labels(page);
  seen.deep_link_pressed = await page.getAttribute('#direction button[data-direction="impact"]', "aria-pressed");
  await page.screenshot({ path: path.join(artifacts, "impact-green-taxi-data-5.png"), fullPage: true });

  // An unknown reference: the 404's candidates are buttons that load the one clicked.
  await page.goto(`${base}/?kind=api&ref=v9.9.9`);
  await page.waitForSelector("#message .candidate");
  seen.not_found = await page.textContent("#message");
  seen.candidates = await page.$$eval("#message .candidate", (bs) => bs.map((b) => b.dataset.label));
  await page.click('#message .candidate[data-label="taxi-api v1.2.3"]');
  await page.waitForSelector(node("green-taxi-data:5"));
  seen.candidate_url = page.url();
  seen.message_hidden_after = await page.$eval("#message", (m) => m.hidden);

  // An ambiguous one: a 409 listing where it exists.
  await page.goto(`${base}/?kind=deployment&ref=taxi-api`);
  await page.waitForSelector("#message .candidate");
  seen.ambiguous = await page.textContent("#message");

  // The diff of two releases.
  await page.click("#diff-box summary");
  await page.fill("#diff-a", "v1.2.2");
  await page.fill("#diff-b", "v1.2.3");
  await page.click("#diff-form button");
  await page.waitForSelector("#diff .diff-summary");
  seen.diff = await page.textContent("#diff");

  // The README's picture: the release's trace with its commit selected.
  await page.goto(`${base}/?kind=api&ref=v1.2.3`);
  await page.waitForSelector("#verify .verify");
  await page.click(node("05ee055"));
  await page.waitForSelector("#details:not([hidden])");
  await page.screenshot({ path: path.join(artifacts, "explorer.png"), fullPage: true });
}

// A capped node: its badge, the hidden links paged in its panel, and a click on one re-centres.
async function wide(page, seen) {
  const listed = () => page.$$eval("#details .more li", (items) => items.map((i) => i.dataset.label));
  await page.goto(`${base}/?kind=dataset&ref=base-data:1&direction=impact`);
  await page.waitForSelector("#graph .node.root .more-badge");
  seen.graph_nodes = await labels(page);
  seen.badges = await page.$$eval("#graph .more-badge", (badges) => badges.map((b) => ({
    node: b.closest(".node").dataset.label, edge_kind: b.dataset.edgeKind, count: b.dataset.count,
    text: b.querySelector("text").textContent, title: b.querySelector("title").textContent,
    width: Number(b.querySelector("rect").getAttribute("width")) })));
  await page.click("#graph .node.root .more-badge");
  await page.waitForSelector("#details .more li");
  seen.panel_heading = await page.textContent("#details .more h3");
  seen.first_page = await listed();
  seen.first_count = await page.textContent("#details .more .more-count");
  await page.click("#details .more .load-more");
  await page.waitForFunction((n) => document.querySelectorAll("#details .more li").length > n, seen.first_page.length);
  await page.waitForSelector("#details .more .load-more:not([disabled])");
  seen.second_page = await listed();
  seen.second_count = await page.textContent("#details .more .more-count");
  seen.load_more_visible = await page.isVisible("#details .more .load-more");
  await page.screenshot({ path: path.join(artifacts, "impact-wide-dataset.png"), fullPage: true });
  // A listed neighbour re-centres the graph on itself, in the same direction.
  const pick = seen.second_page[seen.second_page.length - 1];
  seen.picked = pick;
  await page.click(`#details .more li[data-label="${pick}"] a`);
  await page.waitForSelector(`#graph .node.root[data-label="${pick}"]`);
  seen.picked_url = page.url();
  seen.picked_root = await page.getAttribute("#graph .node.root", "data-label");
}

async function secured(page, seen) {
  await page.goto(`${base}/?kind=api&ref=v1.2.3`);
  await page.waitForSelector("#message.auth");
  seen.auth_message = await page.textContent("#message");
  seen.graph_hidden = await page.$eval("#graph", (g) => g.hasAttribute("hidden"));
  await page.screenshot({ path: path.join(artifacts, "token-needed.png"), fullPage: true });
  // With the token typed in, the same view loads, and the token stays for this tab only.
  await page.fill("#token", token);
  await page.click("#token-form button");
  await page.waitForSelector(node("05ee055"));
  seen.after_token_nodes = await labels(page);
  seen.stored = await page.evaluate(() => sessionStorage.getItem("lineage.token") !== null);
  seen.local_storage_keys = await page.evaluate(() => Object.keys(localStorage));
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "lineage-web-"));  // a fresh profile each run
  // A persistent context is how playwright passes --user-data-dir; headless: true adds --headless.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    headless: true,
    viewport: { width: 1680, height: 960 },
  });
  const seen = { console_errors: [], failed_requests: [] };
  const page = browser.pages()[0] || await browser.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  // The 401, 404 and 409 the page is made to meet are logged by chromium as failed loads: expected.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) seen.console_errors.push(m.text());
  });
  page.on("pageerror", (e) => seen.console_errors.push(String(e)));
  // Anything the page asks of another origin would be a CDN or a leak: recorded, and the test fails.
  page.on("request", (r) => { if (!r.url().startsWith(base)) seen.failed_requests.push(r.url()); });
  let failure = null;
  try {
    await ({ token: secured, wide }[scenario] || open)(page, seen);
  } catch (error) {
    failure = String(error.stack || error);
    await page.screenshot({ path: path.join(artifacts, `failure-${scenario}.png`), fullPage: true }).catch(() => {});
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ ok: failure === null, failure, seen }));
  process.exitCode = failure === null ? 0 : 1;
}

main();
