#!/usr/bin/env node
// Checks the interactivity of a splitbrain report page (a run's index.html) in headless
// Chromium, driven by playwright-core:
//
//   node check-report.mjs PAGE.html [--xss] [--steps] [--screenshot FILE.png]
//
// It opens file://PAGE in Debian's Chromium (CHROMIUM, default /usr/bin/chromium) and
// checks, printing one line per check, stopping with exit 1 and a message at the first
// failure:
//
//   a. the page loads with no console error and no page error (and none follows during
//      the interactions below);
//   b. the data contract: #ops-data is JSON with at least one op of the documented shape,
//      #timeline-geometry is JSON with the documented fields, #timeline holds an <svg>
//      whose viewBox spans the geometry's width, #tip is hidden before any hover;
//   c. hovering the bar of the first op with an error (the first op if none) shows #tip
//      with the op's f and error;
//   d. clicking the first a.jump link brings #timeline into the viewport and shows #tip
//      naming index=<the link's data-op>;
//   e. #zoom-in narrows the svg's viewBox, #zoom-out widens it again, #zoom-reset brings
//      back the original;
//   f. typing an op's f into #filter sets #timeline's data-filter to it;
//   h. with --steps (a linearizability page): #step-next and #step-prev walk the stepped
//      links, each step's op shown in #tip and its table row marked tr.current;
//   g. with --xss: hovering an op whose value holds "<script>" shows it in #tip as text,
//      not markup; and no dialog (alert, confirm, prompt) opens during the whole run.
//
// A dialog fails the check without --xss too: a report never opens one.
//
// The page's data contract (what reports/src/page.rs writes):
//   <script id="ops-data" type="application/json">[{"i","row","s","e","p","f","v","o",
//     "err","node","token"}, ...]</script>
//   <script id="timeline-geometry" type="application/json">{"width","height","left",
//     "right","top","rowPx","endNs"}</script>  (SVG user units): an op's bar spans x from
//     left + s/endNs*(width-left-right) to left + e/endNs*(width-left-right), row r spans
//     y from top + r*rowPx to top + (r+1)*rowPx.
//   #timeline (the div around the <svg>), #tip, a.jump[data-op], #zoom-in, #zoom-out,
//   #zoom-reset, <input id="filter">.
//
// Exit status: 0 every check passed, 1 a check failed, 2 bad usage, 3 the machine lacks
// playwright-core or Chromium (scripts/install-deps installs both).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const TIMEOUT_MS = 10000; // per wait: generous, for a CI machine busy with other tests

class CheckFailed extends Error {}

function usage(message) {
  if (message) console.error(`check-report: ${message}`);
  console.error('usage: node check-report.mjs PAGE.html [--xss] [--steps] [--screenshot FILE.png]');
  process.exit(2);
}

function missing(message) {
  console.error(`check-report: ${message}`);
  process.exit(3);
}

function fail(message) {
  throw new CheckFailed(message);
}

function ok(line) {
  console.log(`ok   ${line}`);
}

function parseArgs(argv) {
  const opts = { page: null, xss: false, steps: false, screenshot: null };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    if (a === '--xss') opts.xss = true;
    else if (a === '--steps') opts.steps = true;
    else if (a === '--screenshot') {
      opts.screenshot = argv[++k];
      if (!opts.screenshot) usage('--screenshot needs a file name');
    } else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (opts.page === null) opts.page = a;
    else usage(`one page only (got ${opts.page} and ${a})`);
  }
  if (opts.page === null) usage('no page given');
  return opts;
}

async function loadPlaywright() {
  try {
    return await import('playwright-core');
  } catch (e) {
    if (e && (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND')) {
      missing(
        `the npm package playwright-core is not installed beside ${path.join(here, 'check-report.mjs')}: ` +
          'run scripts/install-deps (it copies tests/browser to ' +
          '${SPLITBRAIN_CACHE:-$HOME/.cache/splitbrain}/browser-tests and runs npm ci there), ' +
          `or npm ci in ${here}`,
      );
    }
    throw e;
  }
}

function chromiumPath() {
  const exe = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(exe)) {
    missing(
      `Chromium is not at ${exe}: install Debian's chromium (apt-get install --no-install-recommends chromium; ` +
        'scripts/install-deps does), or point CHROMIUM at a Chromium binary',
    );
  }
  return exe;
}

// The op whose bar check c hovers: the first with an error, else the first, among the
// ops wide enough to be hit alone (a dense page draws many ops in one unit); all ops if
// none is.
function hoverTarget(ops, g) {
  const wide = g ? ops.filter((op) => barWidth(op, g) >= 4) : ops;
  const pool = wide.length ? wide : isolated(ops, g);
  return pool.find((op) => typeof op.err === 'string' && op.err.length > 0) || pool[0];
}

// On a page where every bar is thinner than a few units, the ops with at least 3 units
// to the next op on either side in their row (the pointer lands on them unambiguously),
// most isolated first; the single most isolated op when none is that far from the rest.
function isolated(ops, g) {
  const unit = g.endNs / (g.width - g.left - g.right);
  const rows = new Map();
  for (const op of ops) {
    if (!rows.has(op.row)) rows.set(op.row, []);
    rows.get(op.row).push(op);
  }
  const scored = [];
  for (const list of rows.values()) {
    list.sort((a, b) => a.s - b.s);
    list.forEach((op, k) => {
      const before = k > 0 ? (op.s - list[k - 1].e) / unit : Infinity;
      const after = k + 1 < list.length ? (list[k + 1].s - op.e) / unit : Infinity;
      scored.push({ op, gap: Math.min(before, after) });
    });
  }
  scored.sort((a, b) => b.gap - a.gap);
  const far = scored.filter((x) => x.gap >= 3).map((x) => x.op);
  return far.length ? far : scored.slice(0, 1).map((x) => x.op);
}

// An op's bar width in SVG user units.
function barWidth(op, g) {
  return ((op.e - op.s) / g.endNs) * (g.width - g.left - g.right);
}

function describeOp(op) {
  return `op i=${op.i} (row ${op.row}, f=${JSON.stringify(op.f)}${op.err ? `, err=${JSON.stringify(op.err)}` : ''})`;
}

function checkOpShape(op, k) {
  const where = `#ops-data[${k}]`;
  if (op === null || typeof op !== 'object' || Array.isArray(op)) fail(`${where} is not an object: ${JSON.stringify(op)}`);
  const num = (x) => typeof x === 'number' && Number.isFinite(x);
  const problems = [];
  for (const field of ['i', 'row', 's', 'e', 'p']) if (!num(op[field])) problems.push(`"${field}" is not a number`);
  if (num(op.row) && (op.row < 0 || !Number.isInteger(op.row))) problems.push('"row" is not a row number (0-based)');
  if (typeof op.f !== 'string') problems.push('"f" is not a string');
  if (typeof op.v !== 'string') problems.push('"v" is not a string (the completion value as JSON text)');
  if (!['ok', 'fail', 'info'].includes(op.o)) problems.push('"o" is not "ok", "fail" or "info"');
  if (!(op.err === null || typeof op.err === 'string')) problems.push('"err" is neither a string nor null');
  if (!(op.node === null || typeof op.node === 'string')) problems.push('"node" is neither a string nor null');
  if (!(op.token === null || num(op.token))) problems.push('"token" is neither a number nor null');
  if (num(op.s) && num(op.e) && op.e < op.s) problems.push('"e" (end) is before "s" (start)');
  if (problems.length) fail(`${where} does not follow the contract: ${problems.join('; ')}: ${JSON.stringify(op)}`);
}

function checkGeometry(g) {
  if (g === null || typeof g !== 'object' || Array.isArray(g)) fail(`#timeline-geometry is not an object: ${JSON.stringify(g)}`);
  const problems = [];
  for (const field of ['width', 'height', 'rowPx', 'endNs']) {
    if (!(typeof g[field] === 'number' && g[field] > 0)) problems.push(`"${field}" is not a positive number`);
  }
  for (const field of ['left', 'right', 'top']) {
    if (!(typeof g[field] === 'number' && g[field] >= 0)) problems.push(`"${field}" is not a number >= 0`);
  }
  if (!problems.length && g.width - g.left - g.right <= 0) problems.push('"left" + "right" leave no room for bars');
  if (problems.length) fail(`#timeline-geometry does not follow the contract: ${problems.join('; ')}: ${JSON.stringify(g)}`);
}

// Where to hover op's bar, in SVG user units: the middle of the bar (at least 2 units
// past its start), the middle of its row.
function barPoint(op, g) {
  const span = g.width - g.left - g.right;
  const x0 = g.left + (op.s / g.endNs) * span;
  const x1 = g.left + (op.e / g.endNs) * span;
  return { x: Math.max((x0 + x1) / 2, x0 + 2), y: g.top + (op.row + 0.5) * g.rowPx };
}

function parseViewBox(text) {
  if (text === null) return null;
  const parts = text.trim().split(/[\s,]+/).map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) return null;
  return { x: parts[0], y: parts[1], width: parts[2], height: parts[3] };
}

function sameViewBox(a, b) {
  const close = (p, q) => Math.abs(p - q) <= 1e-6 * Math.max(1, Math.abs(p), Math.abs(q));
  return close(a.x, b.x) && close(a.y, b.y) && close(a.width, b.width) && close(a.height, b.height);
}

async function readJsonScript(page, id) {
  const found = await page.evaluate((id) => {
    const el = document.getElementById(id);
    if (!el) return null;
    return { tag: el.tagName.toLowerCase(), type: el.getAttribute('type'), text: el.textContent };
  }, id);
  if (!found) fail(`the page has no #${id}`);
  if (found.tag !== 'script' || found.type !== 'application/json') {
    fail(`#${id} is a <${found.tag} type=${JSON.stringify(found.type)}>, not a <script type="application/json">`);
  }
  try {
    return JSON.parse(found.text);
  } catch (e) {
    fail(`#${id} is not JSON: ${e.message}`);
  }
}

async function tipState(page) {
  return page.evaluate(() => {
    const tip = document.getElementById('tip');
    if (!tip) return null;
    const style = getComputedStyle(tip);
    const r = tip.getBoundingClientRect();
    return {
      visible: style.display !== 'none' && style.visibility !== 'hidden' && r.width > 0 && r.height > 0,
      text: tip.textContent,
      html: tip.innerHTML,
      markup: [...tip.querySelectorAll('script, img, iframe, object, embed, svg')].map((e) => e.tagName.toLowerCase()),
    };
  });
}

// Polls until #tip is visible and satisfies `wanted(text)`; fails with what it showed.
async function waitForTip(page, wanted, what) {
  const deadline = Date.now() + TIMEOUT_MS;
  let state = null;
  for (;;) {
    state = await tipState(page);
    if (state === null) fail('the page has no #tip');
    if (state.visible && wanted(state.text)) return state;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(50);
  }
  if (!state.visible) fail(`#tip did not become visible within ${TIMEOUT_MS} ms ${what} (its text: ${JSON.stringify(state.text)})`);
  fail(`#tip ${what} does not show what it should: its text is ${JSON.stringify(state.text)}`);
}

async function hoverOp(page, svg, op, geometry) {
  await svg.scrollIntoViewIfNeeded();
  const box = await svg.boundingBox();
  if (!box || box.width <= 0) fail('#timeline svg has no size on the page');
  const scale = box.width / geometry.width;
  const p = barPoint(op, geometry);
  const position = { x: p.x * scale, y: p.y * scale };
  try {
    // Scrolls the point into view, checks that it hits the svg (not something over
    // it), then moves the mouse there.
    await svg.hover({ position, timeout: TIMEOUT_MS });
  } catch (e) {
    fail(
      `could not move the mouse onto ${describeOp(op)} at SVG (${p.x.toFixed(1)}, ${p.y.toFixed(1)}), ` +
        `CSS (${position.x.toFixed(1)}, ${position.y.toFixed(1)}) in the svg: ${e.message.split('\n')[0]}`,
    );
  }
  return { p, position };
}

async function intersectsWindow(page, selector) {
  return page.evaluate((selector) => {
    const el = document.querySelector(selector);
    if (!el) return false;
    const r = el.getBoundingClientRect();
    return r.bottom > 0 && r.right > 0 && r.top < window.innerHeight && r.left < window.innerWidth;
  }, selector);
}

async function waitForViewBox(page, svg, wanted, what) {
  const deadline = Date.now() + TIMEOUT_MS;
  let text;
  for (;;) {
    text = await svg.getAttribute('viewBox');
    const vb = parseViewBox(text);
    if (vb && wanted(vb)) return vb;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(50);
  }
  fail(`${what}: the svg's viewBox is ${JSON.stringify(text)} after ${TIMEOUT_MS} ms`);
}

async function run(opts, chromium, executablePath) {
  const file = path.resolve(opts.page);
  if (!existsSync(file)) usage(`no such page: ${file}`);
  const url = pathToFileURL(file).href;

  let browser;
  try {
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  } catch (e) {
    missing(
      `Chromium at ${executablePath} did not start under playwright-core: ${e.message.split('\n')[0]}\n` +
        'install Debian\'s chromium (scripts/install-deps does), or point CHROMIUM at a working Chromium',
    );
  }
  const errors = [];
  const dialogs = [];
  let reported = { errors: 0, dialogs: 0 }; // how many of each a failure has named
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1600, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS * 2);
    page.on('console', (msg) => {
      if (msg.type() === 'error') {
        const loc = msg.location();
        errors.push(`console error: ${msg.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
      }
    });
    page.on('pageerror', (err) => errors.push(`page error: ${err.stack || err.message || err}`));
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}(${JSON.stringify(dialog.message())})`);
      dialog.dismiss().catch(() => {});
    });
    // Fails when an error or a dialog came since the last call, naming what was going on.
    const noErrors = (when) => {
      const newDialogs = dialogs.slice(reported.dialogs);
      const newErrors = errors.slice(reported.errors);
      reported = { errors: errors.length, dialogs: dialogs.length };
      if (newDialogs.length) {
        fail(
          `the page opened ${newDialogs.length} dialog(s) ${when}: ${newDialogs.join(', ')}` +
            (newErrors.length ? `\n     errors with them:\n       ${newErrors.join('\n       ')}` : ''),
        );
      }
      if (newErrors.length) fail(`${newErrors.length} error(s) ${when}:\n  ${newErrors.join('\n  ')}`);
    };

    // a. The page loads cleanly.
    const response = await page.goto(url, { waitUntil: 'load' });
    if (response && !response.ok()) fail(`loading ${url} answered ${response.status()}`);
    await page.waitForTimeout(200); // let timers the page set on load run
    noErrors('while loading the page');
    ok(`a. ${url} loaded with no console error and no page error`);

    // b. The data contract.
    const ops = await readJsonScript(page, 'ops-data');
    if (!Array.isArray(ops)) fail('#ops-data is not a JSON array');
    if (ops.length === 0) fail('#ops-data holds no op');
    ops.forEach(checkOpShape);
    const geometry = await readJsonScript(page, 'timeline-geometry');
    checkGeometry(geometry);
    const svg = page.locator('#timeline svg').first();
    if ((await page.locator('#timeline svg').count()) === 0) fail('the page has no #timeline svg');
    const viewBox0 = parseViewBox(await svg.getAttribute('viewBox'));
    if (!viewBox0) fail(`#timeline svg has no viewBox of four numbers: ${JSON.stringify(await svg.getAttribute('viewBox'))}`);
    if (Math.abs(viewBox0.width - geometry.width) > 1e-6 * geometry.width || viewBox0.x !== 0) {
      fail(
        `#timeline svg's viewBox (${viewBox0.x} ${viewBox0.y} ${viewBox0.width} ${viewBox0.height}) does not start at 0 ` +
          `and span the geometry's width ${geometry.width}: bar positions cannot be computed from #timeline-geometry`,
      );
    }
    for (const id of ['tip', 'zoom-in', 'zoom-out', 'zoom-reset', 'filter']) {
      if ((await page.locator(`#${id}`).count()) === 0) fail(`the page has no #${id}`);
    }
    if (await page.evaluate(() => document.getElementById('filter').tagName.toLowerCase() !== 'input')) {
      fail('#filter is not an <input>');
    }
    const tip0 = await tipState(page);
    if (tip0.visible) fail(`#tip is visible before any hover (its text: ${JSON.stringify(tip0.text)})`);
    ok(
      `b. data contract: #ops-data holds ${ops.length} op(s) of the documented shape, #timeline-geometry ` +
        `${JSON.stringify(geometry)}, #timeline svg, #tip hidden, #zoom-in/out/reset, input#filter`,
    );

    // c. Hovering an op's bar shows it in #tip.
    const target = hoverTarget(ops, geometry);
    const at = await hoverOp(page, svg, target, geometry);
    const hovered = await waitForTip(
      page,
      (text) => text.includes(target.f) && (!target.err || text.includes(target.err)),
      `on hovering ${describeOp(target)} at SVG (${at.p.x.toFixed(1)}, ${at.p.y.toFixed(1)})`,
    );
    noErrors(`while hovering ${describeOp(target)}`);
    ok(`c. hovering ${describeOp(target)} shows #tip: ${JSON.stringify(hovered.text.slice(0, 160))}`);

    // g (first half). A hostile value shows as text.
    if (opts.xss) {
      const hostile = ops.find((op) => op.v.includes('<script>'));
      if (!hostile) {
        ok('g. (no op has "<script>" in its value: nothing to hover for --xss)');
      } else {
        const hat = await hoverOp(page, svg, hostile, geometry);
        const shown = await waitForTip(
          page,
          (text) => text.includes('<script>') && text.includes(hostile.f),
          `on hovering ${describeOp(hostile)} at SVG (${hat.p.x.toFixed(1)}, ${hat.p.y.toFixed(1)}), whose value is ${JSON.stringify(hostile.v)}`,
        );
        if (shown.markup.length) fail(`#tip holds markup from the value: <${shown.markup.join('>, <')}> (innerHTML ${JSON.stringify(shown.html)})`);
        if (!shown.html.includes('&lt;script&gt;')) fail(`#tip's innerHTML does not escape <script>: ${JSON.stringify(shown.html)}`);
        noErrors(`while hovering ${describeOp(hostile)}`);
        ok(`g. hovering ${describeOp(hostile)} shows its value's <script> as text in #tip, no markup`);
      }
    }

    // d. A violation's jump link brings the op into view in the timeline.
    const links = page.locator('a.jump');
    const nLinks = await links.count();
    if (nLinks === 0) fail('the page has no a.jump link (no violation listed, or the links lack class="jump")');
    const link = links.first();
    const dataOp = await link.getAttribute('data-op');
    if (dataOp === null || dataOp === '') fail(`the first a.jump has no data-op: ${await link.evaluate((a) => a.outerHTML)}`);
    await page.mouse.move(0, 0);
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    const inViewBefore = await intersectsWindow(page, '#timeline');
    await link.click();
    const deadline = Date.now() + TIMEOUT_MS;
    while (!(await intersectsWindow(page, '#timeline'))) {
      if (Date.now() > deadline) fail(`clicking the first a.jump (data-op=${dataOp}) did not bring #timeline into the viewport within ${TIMEOUT_MS} ms`);
      await page.waitForTimeout(50);
    }
    const indexRe = new RegExp(`index=${dataOp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![0-9])`);
    const jumped = await waitForTip(page, (text) => indexRe.test(text), `after clicking the first a.jump (data-op=${dataOp}), wanting "index=${dataOp}"`);
    noErrors('while following the first a.jump link');
    ok(
      `d. clicking the first of ${nLinks} a.jump link(s) (data-op=${dataOp}) brings #timeline into view` +
        `${inViewBefore ? ' (it was in view already)' : ''} and #tip shows: ${JSON.stringify(jumped.text.slice(0, 160))}`,
    );

    // e. Zoom in, out and back.
    const fmt = (vb) => `${vb.x} ${vb.y} ${vb.width} ${vb.height}`;
    // (The jump may have zoomed already: "before" is the viewBox as the click finds it.)
    const before = parseViewBox(await svg.getAttribute('viewBox'));
    if (!before) fail(`#timeline svg's viewBox is no longer four numbers: ${JSON.stringify(await svg.getAttribute('viewBox'))}`);
    await page.locator('#zoom-in').click();
    const zoomed = await waitForViewBox(page, svg, (vb) => !sameViewBox(vb, before), `after clicking #zoom-in the viewBox did not change from "${fmt(before)}"`);
    if (!(zoomed.width < before.width)) fail(`#zoom-in changed the viewBox from "${fmt(before)}" to "${fmt(zoomed)}", which is not narrower`);
    await page.locator('#zoom-out').click();
    const unzoomed = await waitForViewBox(page, svg, (vb) => vb.width > zoomed.width, `after #zoom-in ("${fmt(zoomed)}"), clicking #zoom-out did not widen the viewBox`);
    await page.locator('#zoom-in').click();
    await waitForViewBox(page, svg, (vb) => vb.width < unzoomed.width, `clicking #zoom-in again did not narrow the viewBox`);
    await page.locator('#zoom-reset').click();
    await waitForViewBox(page, svg, (vb) => sameViewBox(vb, viewBox0), `after clicking #zoom-reset the viewBox is not back to "${fmt(viewBox0)}"`);
    noErrors('while zooming');
    ok(`e. zoom: #zoom-in "${fmt(before)}" -> "${fmt(zoomed)}", #zoom-out -> "${fmt(unzoomed)}", #zoom-reset -> "${fmt(viewBox0)}"`);

    // f. The filter.
    const typed = target.f;
    const filter = page.locator('#filter');
    await filter.fill('');
    await filter.pressSequentially(typed);
    const fdeadline = Date.now() + TIMEOUT_MS;
    let attr;
    while ((attr = await page.locator('#timeline').getAttribute('data-filter')) !== typed) {
      if (Date.now() > fdeadline) fail(`after typing ${JSON.stringify(typed)} into #filter, #timeline's data-filter is ${JSON.stringify(attr)}`);
      await page.waitForTimeout(50);
    }
    noErrors('while typing into #filter');
    ok(`f. typing ${JSON.stringify(typed)} into #filter sets #timeline's data-filter to it`);

    // h. With --steps (a linearizability page): the step buttons walk the linearization,
    // each step showing its op in #tip and marking its table row.
    if (opts.steps) {
      const links = await page.locator('a.jump[data-step]').count();
      if (links < 2) fail(`--steps: the page has ${links} stepped link(s), expected at least 2`);
      for (let k = 1; k <= 2; k++) {
        await page.click('#step-next');
        const at = await page.locator('#step-at').textContent();
        if (at !== `step ${k} of ${links}`) fail(`after ${k} click(s) on #step-next, #step-at says ${JSON.stringify(at)}`);
        const op = await page.locator('tr.current a.jump').getAttribute('data-op');
        const tipText = await page.locator('#tip').textContent();
        if (!tipText.includes(`index=${op}`)) fail(`step ${k}: #tip does not show op ${op}: ${JSON.stringify(tipText)}`);
      }
      await page.click('#step-prev');
      const back = await page.locator('#step-at').textContent();
      if (back !== `step 1 of ${links}`) fail(`#step-prev did not go back: ${JSON.stringify(back)}`);
      noErrors('while stepping');
      ok(`h. the step buttons walk the ${links} steps, each op shown in #tip and its row marked`);
    }

    // a and g, over the whole run.
    await page.waitForTimeout(200);
    noErrors('during the interactions');
    ok('a. no console error and no page error during the interactions');
    if (opts.xss) ok('g. no dialog opened during the whole run');
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });
    return 0;
  } catch (e) {
    if (page && opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true }).catch(() => {});
    if (e instanceof CheckFailed) {
      console.log(`FAIL ${e.message}`);
      // What came since the last check and is not in the message yet: a page error
      // often says why a check failed.
      const unreported = errors.slice(reported.errors);
      const unreportedDialogs = dialogs.slice(reported.dialogs);
      if (unreported.length) console.log(`     errors the page logged meanwhile:\n       ${unreported.join('\n       ')}`);
      if (unreportedDialogs.length) console.log(`     dialogs the page opened meanwhile: ${unreportedDialogs.join(', ')}`);
      return 1;
    }
    console.log(`FAIL the checker itself failed: ${e.stack || e}`);
    return 1;
  } finally {
    await browser.close().catch(() => {});
  }
}

const opts = parseArgs(process.argv.slice(2));
const { chromium } = await loadPlaywright();
const executablePath = chromiumPath();
const code = await run(opts, chromium, executablePath);
if (code !== 0) console.error(`check-report: ${opts.page}: FAILED`);
else console.log(`check-report: ${opts.page}: all checks passed`);
process.exit(code);
