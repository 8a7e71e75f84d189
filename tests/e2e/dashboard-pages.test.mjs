// Every dashboard page, at a laptop's width (1280) and a phone's (390), in
// a real headless Chromium, over seeded data (apps, an integration, keys in
// every state, usage by several outcomes): no serious accessibility
// violation (axe-core), no console error, failed request or server error,
// no horizontal scrolling, the Content-Security-Policy on every page and no
// inline script or style; a screenshot of each for a developer to look at
// (tests/e2e/screenshots/dashboard-<page>-<desktop|phone>.png). On a phone
// the navigation works, and a key can be made and its secret copied.
//
// One server, one browser; one signed-in page (resized between the
// widths) for the account's key, and one for a restricted key (the 403
// page).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer, initialCredentials } from './lib/server.mjs';
import {
  launch, newPage, signIn, assertClean, assertAccessible, screenshot, scrollWidth, navigatedBy, DESKTOP, PHONE,
} from './lib/browser.mjs';
import { nativeApi, poll } from './lib/dashboard.mjs';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

let server;
let base;
let admin;
let api;
let browser;
let page; // the account key's
let viewerPage; // a key that may only list and read keys
let viewer;
const ids = {};

before(async () => {
  server = await startServer({ args: ['--allow-private-ips'] });
  base = server.baseURL;
  admin = initialCredentials(server.dataDir);
  api = nativeApi(base, admin);

  // Apps, an integration, and keys in every state, with some usage.
  ids.acme = await api.createApp('Acme Store');
  await api.createApp('Beta Labs');
  await api.createApp('Gamma Games');
  ids.integration = await api.createIntegration(ids.acme, 'Orders backend');
  const soon = new Date(Date.now() + 90 * 86400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const checkout = await api.createKey({
    name: 'Checkout service', owner: { type: 'integration', id: ids.integration, appId: ids.acme }, prefix: 'acme',
    permissions: ['orders.read', 'orders.write'], allowedIps: ['127.0.0.0/8', '10.0.0.0/8'], expiresAt: soon,
    rateLimit: { limit: 100, period: '1m' }, metadata: { plan: 'gold', seats: 3 },
  });
  ids.checkout = checkout.id;
  const storefront = await api.createKey({ name: 'Storefront', owner: { type: 'app', id: ids.acme }, type: 'publishable', permissions: ['catalog.read'] });
  const limited = await api.createKey({ name: 'Nightly report', permissions: ['reports.read'], rateLimit: { limit: 2, period: '1h' } });
  const rotated = await api.createKey({ name: 'Rotated key', permissions: ['orders.read'] });
  await api.roll(rotated.id, '24h');
  const expired = await api.createKey({ name: 'Expired key', permissions: ['orders.read'] });
  await api.patchKey(expired.id, { expiresAt: '2020-01-01T00:00:00Z' });
  const paused = await api.createKey({ name: 'Paused key', permissions: ['orders.read'] });
  await api.patchKey(paused.id, { enabled: false });
  await api.createKey({
    name: 'Scoped partner', permissions: [],
    acl: [{ scope: { organizationId: [ids.acme] }, permissions: ['GetApp', 'ListIntegrations'] }],
  });
  viewer = await api.createKey({ name: 'Read-only viewer', permissions: ['ListKeys', 'GetKey'] });

  const verdicts = [];
  for (let i = 0; i < 5; i++) verdicts.push((await api.verify(checkout.secret, { ip: '127.0.0.1', permissions: ['orders.read'] })).code);
  verdicts.push((await api.verify(checkout.secret, { ip: '127.0.0.1', permissions: ['refunds.create'] })).code);
  verdicts.push((await api.verify(checkout.secret, { ip: '203.0.113.1' })).code);
  verdicts.push((await api.verify(storefront.secret)).code);
  for (let i = 0; i < 3; i++) verdicts.push((await api.verify(limited.secret)).code);
  verdicts.push((await api.verify(expired.secret)).code);
  verdicts.push((await api.verify(paused.secret)).code);
  assert.deepEqual(verdicts, ['VALID', 'VALID', 'VALID', 'VALID', 'VALID', 'INSUFFICIENT_PERMISSIONS', 'IP_NOT_ALLOWED',
    'VALID', 'VALID', 'VALID', 'RATE_LIMITED', 'EXPIRED', 'DISABLED']);

  browser = await launch();
  page = await newPage(browser, { permissions: ['clipboard-read', 'clipboard-write'] });
  page.setDefaultTimeout(15_000);
  viewerPage = await newPage(browser);
  viewerPage.setDefaultTimeout(15_000);

  // Usage is written out every 5 s: wait for it, so that charts are drawn.
  await poll(async () => {
    const u = await api.ok('GET', `/v1/keys/${ids.checkout}/usage?granularity=minute`);
    return u.buckets.some((b) => (b.counts.VALID ?? 0) > 0);
  }, { what: 'the seeded usage to be written out' });
});

after(async () => {
  await browser?.close();
  await stopServer(server);
});

/** The pages every width is checked at: [name, path, status], signed in as the account. */
const pages = () => [
  ['overview', '/dashboard/', 200],
  ['apps', '/dashboard/apps', 200],
  ['app', `/dashboard/apps/${ids.acme}`, 200],
  ['integration', `/dashboard/apps/${ids.acme}/integrations/${ids.integration}`, 200],
  ['keys', '/dashboard/keys', 200],
  ['keys-filtered', '/dashboard/keys?state=grace&q=key', 200],
  ['key-new', '/dashboard/keys/new', 200],
  ['key', `/dashboard/keys/${ids.checkout}`, 200],
  ['key-edit', `/dashboard/keys/${ids.checkout}/edit`, 200],
  ['key-roll', `/dashboard/keys/${ids.checkout}/roll`, 200],
  ['key-revoke', `/dashboard/keys/${ids.checkout}/revoke`, 200],
  ['app-delete', `/dashboard/apps/${ids.acme}/delete`, 200],
  ['audit', '/dashboard/audit', 200],
  ['not-found', '/dashboard/keys/key_01ARZ3NDEKTSV4RRFFQ69G5FAV', 404],
  ['no-such-page', '/dashboard/no-such-page', 404],
];

/**
 * Checks the page p shows, after res loaded it, at the width it is at:
 * status, security headers, no inline script or style, no sideways
 * scrolling, accessibility, cleanliness; then saves its screenshot.
 */
async function checkPage(p, res, name, status, width, tag) {
  const what = `${name} (${tag})`;
  assert.equal(res.status(), status, `${what}: status`);
  const headers = res.headers();
  assert.equal(headers['content-security-policy'], CSP, `${what}: Content-Security-Policy`);
  assert.equal(headers['x-frame-options'], 'DENY', what);
  assert.equal(headers['cache-control'], 'no-store', what);
  const inline = await p.evaluate(() => ({
    scripts: document.querySelectorAll('script:not([src])').length,
    styles: document.querySelectorAll('style, [style]').length,
    handlers: [...document.querySelectorAll('*')].filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length,
  }));
  assert.deepEqual(inline, { scripts: 0, styles: 0, handlers: 0 }, `${what}: no inline script or style`);
  // Every element an ARIA attribute points at exists (a label or a
  // description pointing nowhere is silently lost to a screen reader).
  const dangling = await p.evaluate(() => [...document.querySelectorAll('[aria-describedby], [aria-labelledby], [aria-controls]')]
    .flatMap((el) => ['aria-describedby', 'aria-labelledby', 'aria-controls']
      .flatMap((a) => (el.getAttribute(a) ?? '').split(/\s+/).filter((id) => id && !document.getElementById(id))
        .map((id) => `${el.tagName.toLowerCase()}#${el.id} ${a}=${id}`))));
  assert.deepEqual(dangling, [], `${what}: ARIA references to missing elements`);
  const sw = await scrollWidth(p);
  assert.ok(sw <= width + 1, `${what}: the page is ${sw} px wide in a ${width} px window (it scrolls sideways)`);
  // Key lists hide their less useful columns on a phone so as to fit:
  // their table scrolls sideways neither.
  const keyTables = await p.evaluate(() => [...document.querySelectorAll('table.keys')]
    .map((t) => ({ scroll: t.parentElement.scrollWidth, client: t.parentElement.clientWidth })));
  for (const t of keyTables) assert.ok(t.scroll <= t.client + 1, `${what}: the key list is ${t.scroll} px wide in ${t.client} px`);
  await assertAccessible(p, what);
  assertClean(p, what);
  await screenshot(p, `dashboard-${name}-${tag}`);
}

for (const [tag, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  test(`dashboard pages (${tag}, ${viewport.width} px): every page is accessible, clean, fits, and has no inline script`, async () => {
    await page.setViewportSize(viewport);
    await viewerPage.setViewportSize(viewport);

    // Signed out: the sign-in page; then sign in.
    await page.context().clearCookies();
    let res = await page.goto(`${base}/dashboard/sign-in`);
    await checkPage(page, res, 'sign-in', 200, viewport.width, tag);
    await signIn(page, base, admin);

    for (const [name, path, status] of pages()) {
      res = await page.goto(`${base}${path}`);
      await checkPage(page, res, name, status, viewport.width, tag);
    }

    // The 403 page, as a key that may not list apps.
    await viewerPage.context().clearCookies();
    await signIn(viewerPage, base, viewer);
    res = await viewerPage.goto(`${base}/dashboard/apps`);
    await checkPage(viewerPage, res, 'forbidden', 403, viewport.width, tag);
    assert.equal(await viewerPage.getByRole('heading', { level: 1 }).textContent(), 'Not allowed');
  });
}

test('dashboard pages: the seeded pages show what was seeded', async () => {
  await page.setViewportSize(DESKTOP);
  await page.goto(`${base}/dashboard/`);
  if (new URL(page.url()).pathname !== '/dashboard/') await signIn(page, base, admin);
  // The overview: keys in each state; verifications by outcome.
  const states = (await page.getByRole('region', { name: 'Keys by state', exact: true }).getByRole('link').allTextContents())
    .map((t) => t.replace(/\s+/g, ' ').trim());
  assert.deepEqual(states.filter((s) => / (In grace|Expired|Disabled)$/.test(s)), ['1 In grace', '1 Expired', '1 Disabled']);
  const legend = (await page.getByRole('figure').getByRole('listitem').allTextContents()).map((t) => t.trim());
  for (const label of ['Valid', 'Expired', 'Disabled', 'Insufficient permissions', 'Address not allowed', 'Rate limited']) {
    assert.ok(legend.some((l) => l.startsWith(`${label}: `)), `${label} in the overview's legend: ${legend.join(', ')}`);
  }
  // The key list: each state's badge.
  await page.goto(`${base}/dashboard/keys`);
  const badges = await page.getByRole('region', { name: 'Keys', exact: true }).locator('tbody .badge').allTextContents();
  for (const state of ['Active', 'In grace', 'Expired', 'Disabled']) assert.ok(badges.includes(state), `${state}: ${badges.join(', ')}`);
  assertClean(page);
});

test('dashboard pages: the Content-Security-Policy stops an injected inline script, and assertClean reports it', async () => {
  await page.goto(`${base}/dashboard/keys`);
  assertClean(page);
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.injected = true;';
    document.head.append(s);
  });
  await poll(async () => page.problems.length > 0, { timeout: 5_000, what: 'the CSP violation to be reported' });
  assert.equal(await page.evaluate(() => window.injected), undefined, 'the inline script did not run');
  assert.throws(() => assertClean(page), /Content Security Policy/);
});

test('dashboard on a phone: the navigation works, and a key can be made and its secret copied', async () => {
  await page.setViewportSize(PHONE);
  await page.goto(`${base}/dashboard/`);
  if (new URL(page.url()).pathname !== '/dashboard/') await signIn(page, base, admin);
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const [label, path, heading] of [['Apps', '/dashboard/apps', 'Apps'], ['Keys', '/dashboard/keys', 'Keys'],
    ['Audit log', '/dashboard/audit', 'Audit log'], ['Overview', '/dashboard/', 'Overview']]) {
    const link = nav.getByRole('link', { name: label, exact: true });
    const box = await link.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, `${label} is on screen: ${JSON.stringify(box)}`);
    await navigatedBy(page, () => link.click());
    assert.equal(new URL(page.url()).pathname, path);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), heading);
    assert.equal(await nav.getByRole('link', { name: label, exact: true }).getAttribute('aria-current'), 'page');
  }
  assert.ok((await scrollWidth(page)) <= PHONE.width + 1);

  // A key, made on the phone.
  await navigatedBy(page, () => nav.getByRole('link', { name: 'Keys', exact: true }).click());
  await navigatedBy(page, () => page.getByRole('link', { name: 'New key' }).click());
  await page.getByLabel('Name').fill('Made on a phone');
  await page.getByLabel('Permissions').fill('orders.read');
  const res = await navigatedBy(page, () => page.getByRole('button', { name: 'Create key' }).click());
  assert.equal(res.status(), 201);
  const dialog = page.getByRole('dialog', { name: 'Your new secret' });
  await dialog.waitFor();
  const box = await dialog.boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, `the dialog fits the phone: ${JSON.stringify(box)}`);
  assert.ok((await scrollWidth(page)) <= PHONE.width + 1, 'the page with the dialog fits');
  const shown = await dialog.getByRole('textbox', { name: 'Secret' }).inputValue();
  const copy = dialog.getByRole('button', { name: 'Copy' });
  const copyBox = await copy.boundingBox();
  assert.ok(copyBox.x + copyBox.width <= PHONE.width, 'the Copy button is on screen');
  await copy.click();
  await poll(async () => (await dialog.getByRole('status').textContent()) === 'Copied to the clipboard.', { what: 'the copy confirmation' });
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shown);
  await assertAccessible(page, 'the new secret dialog on a phone');
  await screenshot(page, 'dashboard-key-created-phone');
  assertClean(page);
  const v = await api.verify(shown, { permissions: ['orders.read'] });
  assert.equal(v.code, 'VALID');
  assert.equal(v.name, 'Made on a phone');
});
