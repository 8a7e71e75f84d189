// Browser harness for the dashboard tests: Debian's Chromium
// (/usr/bin/chromium, installed by scripts/test-deps), driven headless by
// playwright-core. No browser is ever downloaded.
//
// Every page a test opens is watched: a console error, an uncaught
// exception, a failed request or a response of 500 or more fails the test
// (assertClean). axe-core checks a page for accessibility problems
// (assertAccessible), and screenshot() saves a full-page PNG under
// tests/e2e/screenshots/ for a developer to look at after the run.

import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { repoRoot } from './server.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Where screenshots go. */
export const screenshotDir = path.join(repoRoot, 'tests', 'e2e', 'screenshots');

/** The two widths every page is checked at: a laptop and a phone. */
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

/** Executable of the system Chromium; LATCHKEY_CHROMIUM overrides it. */
export const chromiumPath = process.env.LATCHKEY_CHROMIUM || '/usr/bin/chromium';

/**
 * Launches headless Chromium. The flags keep it off the network beyond
 * loopback (this machine's network is closed; without them it retries
 * Google's hosts at every start) and give it a fresh profile.
 */
export async function launch() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
  });
}

/**
 * A new browser context (its own cookies) at a viewport, with a page whose
 * console, errors and failed requests are recorded in page.problems.
 */
export async function newPage(browser, { viewport = DESKTOP, permissions = [] } = {}) {
  const context = await browser.newContext({ viewport, permissions });
  const page = await context.newPage();
  page.problems = [];
  // Chromium logs "Failed to load resource: … status of 404" for a page
  // whose own status is 4xx. The dashboard answers pages so on purpose (a
  // form's problems 400, a refusal 403, a missing record 404, a throttled
  // sign-in 429), and the tests assert those statuses themselves; such a
  // message about a page's own document is set aside (see assertClean),
  // any other load failure (a script, a stylesheet) is a problem.
  page.loadErrors = [];
  page.documentStatuses = new Map(); // url -> Set of statuses it answered
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const m = /^Failed to load resource: the server responded with a status of (\d+)/.exec(msg.text());
    if (m) {
      page.loadErrors.push({ text: msg.text(), url: msg.location().url, status: Number(m[1]) });
      return;
    }
    page.problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => page.problems.push(`uncaught: ${err.message}`));
  page.on('requestfailed', (req) => {
    const error = req.failure()?.errorText;
    // A load cancelled by a navigation (the favicon while a redirect is
    // followed, say) is the browser's doing, not a failure of the page.
    if (error === 'net::ERR_ABORTED') return;
    page.problems.push(`request failed: ${req.url()} ${error}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 500) page.problems.push(`server error ${res.status()}: ${res.url()}`);
    if (res.request().isNavigationRequest() && res.frame() === page.mainFrame()) {
      if (!page.documentStatuses.has(res.url())) page.documentStatuses.set(res.url(), new Set());
      page.documentStatuses.get(res.url()).add(res.status());
    }
  });
  return page;
}

/** Fails if the page met any problem (see newPage); then forgets them. */
export function assertClean(page, what = page.url()) {
  for (const e of page.loadErrors.splice(0)) {
    const own = e.status < 500 && page.documentStatuses.get(e.url)?.has(e.status);
    if (!own) page.problems.push(`console error: ${e.text} (${e.url})`);
  }
  const problems = page.problems.splice(0);
  assert.deepEqual(problems, [], `problems on ${what}`);
}

/**
 * Runs axe-core on the page and fails on any serious or critical
 * violation, naming the rule and the elements.
 */
export async function assertAccessible(page, what = page.url()) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    // Added through the DevTools protocol, so the page's
    // Content-Security-Policy (no inline script) does not stop it.
    await page.evaluate(axeSource);
  }
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.impact} ${v.id}: ${v.help}\n  ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n  ')}`);
  assert.deepEqual(report, [], `accessibility violations on ${what}`);
}

/** Saves a full-page screenshot as screenshots/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

/** Signs in through the form; resolves once the overview shows. */
export async function signIn(page, baseURL, { id, secret }) {
  await page.goto(`${baseURL}/dashboard/sign-in`);
  await page.getByLabel('Key ID').fill(id);
  await page.getByLabel('Secret').fill(secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${baseURL}/dashboard/`);
}

/** The CSRF token of the signed-in page (every signed-in page has one, in its sign-out form). */
export async function csrfToken(page) {
  const token = await page.locator('input[name="csrf"]').first().inputValue();
  assert.ok(token.length >= 20, `no CSRF token on ${page.url()}`);
  return token;
}

/** The dashboard's session cookie in page's context, or undefined. */
export async function sessionCookie(page) {
  return (await page.context().cookies()).find((c) => c.name === 'latchkey_session');
}

/** How wide the page's content is (more than the viewport: it scrolls sideways). */
export async function scrollWidth(page) {
  return page.evaluate(() => document.documentElement.scrollWidth);
}

/**
 * Reads a table as rows of cell texts (header row first), for checking the
 * numbers a chart is drawn from.
 */
export async function tableRows(table) {
  return table.evaluate((t) => [...t.rows].map((r) => [...r.cells].map((c) => c.textContent.trim())));
}

/**
 * Runs action (a click that submits a form or follows a link) and waits
 * for the page it leads to to load; returns the response of that page's
 * document (the last one, after any redirect), for its status.
 */
export async function navigatedBy(page, action) {
  const responses = [];
  const onResponse = (res) => {
    if (res.request().isNavigationRequest() && res.frame() === page.mainFrame()) responses.push(res);
  };
  page.on('response', onResponse);
  try {
    await Promise.all([page.waitForEvent('load'), action()]);
  } finally {
    page.off('response', onResponse);
  }
  assert.ok(responses.length > 0, 'no page was loaded');
  return responses.at(-1);
}
