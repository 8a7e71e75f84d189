// The dashboard's key work, in a real headless Chromium: making an app, an
// integration and a key with a policy through the forms, copying the secret
// from its dialog and using it against the API; the server's field messages;
// editing (and saving unchanged), disabling and revealing; the masked
// secret; rolling with a custom grace period; revoking (and its audit
// event); deleting an app with what it holds; usage charts and sparklines;
// searching and filtering the key list.
//
// One server, one browser and one signed-in context (allowed to use the
// clipboard) for the file; each test makes the records it needs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer, initialCredentials } from './lib/server.mjs';
import {
  launch, newPage, signIn, assertClean, assertAccessible, screenshot, navigatedBy, tableRows,
} from './lib/browser.mjs';
import { nativeApi, poll, formTime } from './lib/dashboard.mjs';

let server;
let base;
let admin;
let api;
let browser;
let page;
// A key verified in before() (3 VALID, 1 INSUFFICIENT_PERMISSIONS), so
// that its usage is written out (every 5 s) while the other tests run.
let usageKey;

before(async () => {
  server = await startServer({ args: ['--allow-private-ips'] });
  base = server.baseURL;
  admin = initialCredentials(server.dataDir);
  api = nativeApi(base, admin);
  usageKey = await api.createKey({ name: 'Usage meter', permissions: ['reports.read'] });
  for (let i = 0; i < 3; i++) assert.equal((await api.verify(usageKey.secret, { permissions: ['reports.read'] })).code, 'VALID');
  assert.equal((await api.verify(usageKey.secret, { permissions: ['reports.write'] })).code, 'INSUFFICIENT_PERMISSIONS');

  browser = await launch();
  page = await newPage(browser, { permissions: ['clipboard-read', 'clipboard-write'] });
  page.setDefaultTimeout(15_000);
  await signIn(page, base, admin);
});

after(async () => {
  await browser?.close();
  await stopServer(server);
});

/** Opens a dashboard path; asserts its status. */
async function open(path, status = 200) {
  const res = await page.goto(`${base}/dashboard${path}`);
  assert.equal(res.status(), status, `GET /dashboard${path}`);
  return res;
}

/** Clicks and waits for the page it leads to; asserts that page's status. */
async function clickThrough(locator, status = 200) {
  const res = await navigatedBy(page, () => locator.click());
  assert.equal(res.status(), status, `after clicking, ${res.url()} answered ${res.status()}`);
  return res;
}

/** The notice a change leaves on the page it leads to. */
const notice = () => page.locator('main > p.notice[role="status"]');

/**
 * The problem shown beside a form control: the text of the elements its
 * aria-describedby names (every one must exist) that sit in the control's
 * own field, not its hint.
 */
async function problemOf(control) {
  return control.evaluate((el) => {
    const refs = (el.getAttribute('aria-describedby') ?? '').split(/\s+/).filter(Boolean);
    const missing = refs.filter((id) => !document.getElementById(id));
    if (missing.length) return `aria-describedby names missing elements: ${missing.join(', ')}`;
    return refs.map((id) => document.getElementById(id))
      .filter((m) => m.classList.contains('problem') && el.parentElement.contains(m))
      .map((m) => m.textContent.trim()).join(' ') || 'no problem beside the field';
  });
}

/** The names in the page's key table, in order. */
async function listedKeyNames() {
  return page.getByRole('region', { name: 'Keys', exact: true }).locator('tbody tr td:first-child a').allTextContents();
}

test('dashboard keys: an app, an integration and a key with a policy, made through the forms; the copied secret verifies', async () => {
  // The app.
  await open('/apps');
  await page.getByLabel('Name').fill('Acme Store');
  await clickThrough(page.getByRole('button', { name: 'Create app' }));
  assert.match(page.url(), /\/dashboard\/apps\/[0-9a-f]{24}\?done=app-created$/);
  assert.equal(await notice().textContent(), 'App created.');
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Acme Store');
  const appId = /apps\/([0-9a-f]{24})/.exec(page.url())[1];

  // The integration, in it.
  await page.getByLabel('New integration name').fill('Orders backend');
  await clickThrough(page.getByRole('button', { name: 'Create integration' }));
  assert.match(page.url(), new RegExp(`/dashboard/apps/${appId}/integrations/[0-9a-f]{24}\\?done=integration-created$`));
  assert.equal(await notice().textContent(), 'Integration created.');
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Orders backend');
  const integrationId = /integrations\/([0-9a-f]{24})/.exec(page.url())[1];

  // Its "New key" presets the integration as the owner.
  await clickThrough(page.getByRole('link', { name: 'New key' }));
  assert.equal(new URL(page.url()).searchParams.get('owner'), `integration:${appId}:${integrationId}`);
  const owner = page.getByLabel('Owner');
  assert.equal(await owner.inputValue(), `integration:${appId}:${integrationId}`);
  assert.equal(await owner.locator('option:checked').textContent(), 'Integration: Orders backend');

  const expires = formTime(new Date(Date.now() + 30 * 86400_000));
  await page.getByLabel('Name').fill('Orders service');
  await page.getByLabel('Prefix').fill('acme');
  assert.equal(await page.getByRole('radio', { name: /^Secret: for servers/ }).isChecked(), true, 'secret is the default type');
  await page.getByLabel('Permissions').fill('orders.read\norders.write');
  await page.getByLabel('Allowed IPs').fill('127.0.0.0/8');
  await page.getByLabel('Expires at').fill(expires);
  await page.getByLabel('Rate limit').fill('600');
  await page.getByLabel('Per', { exact: true }).selectOption('1m');
  await page.getByLabel('Metadata').fill('{"plan": "gold", "seats": 3}');
  await clickThrough(page.getByRole('button', { name: 'Create key' }), 201);

  // The secret, once, in a modal dialog.
  const dialog = page.getByRole('dialog', { name: 'Your new secret' });
  await dialog.waitFor();
  assert.equal(await dialog.evaluate((d) => d.matches(':modal')), true, 'the secret dialog is modal');
  const shown = await dialog.getByRole('textbox', { name: 'Secret' }).inputValue();
  assert.match(shown, /^acme_sk_live_[A-Za-z0-9_-]{20,}$/);
  const keyId = /key_[0-9A-Z]{26}/.exec(await dialog.textContent())?.[0];
  assert.ok(keyId, 'the dialog names the key id');
  await screenshot(page, 'dashboard-key-created-desktop');

  await dialog.getByRole('button', { name: 'Copy' }).click();
  await poll(async () => (await dialog.getByRole('status').textContent()) === 'Copied to the clipboard.', { what: 'the copy confirmation' });
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, shown, 'the clipboard holds the secret');
  await dialog.getByRole('button', { name: 'I have copied it' }).click();
  await poll(async () => !(await dialog.isVisible()), { what: 'the dialog to close' });

  // The page shows the policy as entered.
  const policy = page.getByRole('region', { name: 'Policy', exact: true });
  assert.match(await policy.textContent(), /Owner\s*Orders backend \(Integration\)/);
  assert.match(await policy.textContent(), /Permissions\s*orders\.read, orders\.write/);
  assert.match(await policy.textContent(), /Allowed IPs\s*127\.0\.0\.0\/8/);
  assert.match(await policy.textContent(), /Rate limit\s*600 per 1m/);
  assert.match(await policy.textContent(), new RegExp(`Expires\\s*${expires.replace('T', ' ')} UTC`));
  await assertAccessible(page, 'the key page with its secret dialog');
  assertClean(page);

  // The copied secret, against the API.
  const verdict = await api.verify(copied, { ip: '127.0.0.1', permissions: ['orders.read'] });
  const { rateLimit, ...rest } = verdict;
  assert.deepEqual(rest, {
    valid: true, code: 'VALID', keyId, name: 'Orders service',
    owner: { type: 'integration', id: integrationId, appId },
    permissions: ['orders.read', 'orders.write'], metadata: { plan: 'gold', seats: 3 },
    expiresAt: `${expires}:00Z`,
  });
  assert.equal(rateLimit.limit, 600);
  // The address range and the permissions are enforced.
  assert.equal((await api.verify(copied, { ip: '203.0.113.7' })).code, 'IP_NOT_ALLOWED');
  assert.equal((await api.verify(copied, { ip: '127.0.0.1', permissions: ['refunds.create'] })).code, 'INSUFFICIENT_PERMISSIONS');
});

test('dashboard keys: the server\'s field messages show beside the fields, and nothing is created', async () => {
  const before = (await api.keys()).length;
  await open('/keys/new');
  await page.getByLabel('Name').fill('Badly formed');
  await page.getByLabel('Prefix').fill('ACME!');
  await page.getByLabel('Rate limit').fill('ten');
  await clickThrough(page.getByRole('button', { name: 'Create key' }), 400);

  assert.match(await page.getByRole('alert').textContent(), /The key was not created: see the fields marked below/);
  const prefix = page.getByLabel('Prefix');
  assert.equal(await prefix.getAttribute('aria-invalid'), 'true');
  assert.equal(await prefix.inputValue(), 'ACME!', 'what was typed is kept');
  assert.match(await problemOf(prefix), /Must be 1 to 16 lowercase letters, digits and underscores/);

  const rate = page.getByLabel('Rate limit');
  assert.equal(await rate.getAttribute('aria-invalid'), 'true');
  assert.equal(await rate.inputValue(), 'ten');
  assert.match(await problemOf(rate), /Must be an integer/);

  // Fields without a problem are not marked.
  for (const label of ['Name', 'Permissions', 'Metadata']) {
    assert.equal(await page.getByLabel(label).getAttribute('aria-invalid'), null, `${label} is not marked`);
  }
  assert.equal(await page.getByLabel('Name').inputValue(), 'Badly formed');
  await assertAccessible(page, 'the key form with problems');
  assertClean(page);

  const keys = await api.keys();
  assert.equal(keys.length, before, 'no key was created');
  assert.ok(!keys.some((k) => k.name === 'Badly formed'));
});

test('dashboard keys: edit the policy, disable and enable, reveal the secret', async () => {
  const key = await api.createKey({ name: 'Editable key', permissions: ['orders.read'] });
  await open(`/keys/${key.id}`);
  await clickThrough(page.getByRole('link', { name: 'Edit policy' }));
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Edit “Editable key”');
  assert.equal(await page.getByLabel('Permissions').inputValue(), 'orders.read');
  await page.getByLabel('Permissions').fill('orders.read\ninvoices.read');
  await page.getByLabel('Rate limit').fill('5');
  await page.getByLabel('Per', { exact: true }).selectOption('1h');
  await clickThrough(page.getByRole('button', { name: 'Save' }));
  assert.equal(new URL(page.url()).pathname, `/dashboard/keys/${key.id}`);
  assert.equal(await notice().textContent(), 'Key saved.');
  let v = await api.verify(key.secret, { permissions: ['invoices.read'] });
  assert.equal(v.code, 'VALID', JSON.stringify(v));
  assert.deepEqual(v.permissions, ['orders.read', 'invoices.read']);
  assert.equal(v.rateLimit.limit, 5);

  await clickThrough(page.getByRole('button', { name: 'Disable' }));
  assert.equal(await notice().textContent(), 'Key disabled: it no longer authenticates.');
  assert.equal(await page.locator('main .badge').first().textContent(), 'Disabled');
  v = await api.verify(key.secret);
  assert.equal(v.code, 'DISABLED');
  await clickThrough(page.getByRole('button', { name: 'Enable' }));
  assert.equal(await notice().textContent(), 'Key enabled: it authenticates again.');
  assert.equal((await api.verify(key.secret)).code, 'VALID');

  // The secret is masked until revealed.
  const secrets = page.getByRole('region', { name: 'Secret', exact: true });
  assert.ok(!(await secrets.textContent()).includes(key.secret), 'the secret is masked');
  await clickThrough(page.getByRole('button', { name: 'Reveal secret' }));
  assert.ok((await page.getByRole('region', { name: 'Secret', exact: true }).textContent()).includes(key.secret), 'the revealed secret');
  assertClean(page);
});

test('dashboard keys: saving the edit form unchanged leaves the key exactly as it was', async () => {
  const appId = await api.createApp('Round trip app');
  const { secret, ...before } = await api.createKey({
    name: 'Round trip', owner: { type: 'app', id: appId }, type: 'publishable', prefix: 'acme',
    permissions: ['orders.read', 'orders.*'], acl: [{ scope: { organizationId: [appId] }, permissions: ['GetApp'] }],
    allowedIps: ['10.0.0.0/8', '2001:db8::/32'], expiresAt: '2030-01-01T12:34:56Z', rateLimit: { limit: 7, period: '90s' },
    metadata: { plan: 'gold', seats: 3, ratio: 1.5, nested: { a: [1, 'x', null, true] }, emoji: '🔑' },
  });
  await open(`/keys/${before.id}/edit`);
  await clickThrough(page.getByRole('button', { name: 'Save' }));
  // The form sends only the fields that changed: none, so nothing is
  // written, not even updatedAt.
  assert.equal(await notice().textContent(), 'Nothing to save: the key is as it was.');
  const after = await api.ok('GET', `/v1/keys/${before.id}`);
  const changed = Object.keys(before).filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]))
    .map((f) => `${f}: ${JSON.stringify(before[f])} -> ${JSON.stringify(after[f])}`);
  assert.deepEqual(changed, [], 'saving the form unchanged changed the key');
  assertClean(page);
});

test('dashboard keys: a masked secret shows its public prefix and last 4 characters, nothing of the rest', async () => {
  // Secrets are base64url after sk_live_, so "_" may occur in the random
  // part too: take a key whose secret has one there (about every other
  // key does), which a mask must not take for the end of the prefix.
  let key;
  const spare = [];
  for (let i = 0; i < 60 && !key; i++) {
    const k = await api.createKey({ name: `Masked ${i}` });
    const body = k.secret.slice('sk_live_'.length, -4);
    if (body.includes('_')) key = k;
    else spare.push(k);
  }
  for (const k of spare) await api.deleteKey(k.id);
  assert.ok(key, 'no secret with "_" in its random part in 60 tries');
  await open(`/keys/${key.id}`);
  const shown = (await page.getByRole('region', { name: 'Secret', exact: true }).getByRole('listitem').first().textContent())
    .trim().split(/\s/)[0];
  assert.equal(shown, `sk_live_••••••••${key.secret.slice(-4)}`,
    `the mask of ${key.secret} shows ${shown}: more than the prefix and the last 4 characters`);
  assertClean(page);
});

test('dashboard keys: roll with a custom grace period of a few seconds; both secrets work until it ends', async () => {
  const key = await api.createKey({ name: 'Rolling key', permissions: ['orders.read'] });
  assert.equal((await api.verify(key.secret)).code, 'VALID');
  await open(`/keys/${key.id}`);
  await clickThrough(page.getByRole('link', { name: 'Roll secret…' }));
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Roll the secret of “Rolling key”?');
  await assertAccessible(page, 'the roll confirmation');
  const custom = page.getByLabel('Custom grace period');
  assert.equal(await page.getByRole('radio', { name: '24 hours' }).isChecked(), true, '24 hours is the default');
  assert.equal(await custom.isDisabled(), true, 'the custom field waits for "Custom"');

  // A grace period the server cannot read is refused, and nothing rolls.
  await page.getByRole('radio', { name: 'Custom' }).check();
  assert.equal(await custom.isDisabled(), false);
  await custom.fill('soon');
  await clickThrough(page.getByRole('button', { name: 'Roll secret' }), 400);
  assert.match(await page.getByRole('alert').textContent(), /Enter a grace period such as 30m, 36h or 3d/);
  const keyPage = await (await page.request.get(`${base}/dashboard/keys/${key.id}`)).text();
  assert.match(keyPage, /<h2 id="secrets-h">Secret<\/h2>/, 'the key was not rolled: it has one secret');

  // The form came back with "Custom" chosen and what was typed.
  assert.equal(await page.getByRole('radio', { name: 'Custom' }).isChecked(), true);
  await custom.fill('6s');
  await clickThrough(page.getByRole('button', { name: 'Roll secret' }), 201);
  const dialog = page.getByRole('dialog', { name: 'Your new secret' });
  await dialog.waitFor();
  const fresh = await dialog.getByRole('textbox', { name: 'Secret' }).inputValue();
  assert.match(fresh, /^sk_live_/);
  assert.notEqual(fresh, key.secret);
  const rolledAt = Date.now();

  // Both work during the grace period.
  const [oldV, newV] = await Promise.all([api.verify(key.secret), api.verify(fresh)]);
  assert.equal(oldV.code, 'VALID', 'the old secret, in its grace period');
  assert.equal(newV.code, 'VALID', 'the new secret');
  assert.ok(Date.now() - rolledAt < 6000, 'checked within the grace period');

  // Shown once: the key's page shows it masked from now on.
  await open(`/keys/${key.id}`);
  assert.equal(await page.getByRole('dialog').count(), 0, 'no dialog on a later visit');
  assert.ok(!(await page.content()).includes(fresh), 'the new secret is not on the page');
  assert.equal(await page.locator('main .badge').first().textContent(), 'In grace');
  assert.match(await page.getByRole('region', { name: 'Secrets', exact: true }).textContent(), /works until .* \(grace period\)/);

  // After the grace period only the new secret works.
  const ended = await poll(async () => {
    const v = await api.verify(key.secret);
    return v.valid ? false : v;
  }, { timeout: 20_000, interval: 500, what: 'the old secret to stop working' });
  assert.equal(ended.code, 'NOT_FOUND');
  assert.ok(Date.now() - rolledAt >= 5000, `the old secret stopped ${Date.now() - rolledAt} ms after the roll, before its 6 s grace ended`);
  assert.equal((await api.verify(fresh)).code, 'VALID');
  await open(`/keys/${key.id}`);
  assert.equal(await page.locator('main .badge').first().textContent(), 'Active');
  assertClean(page);
});

test('dashboard keys: revoke through the confirmation page; the API refuses the key at once', async () => {
  const key = await api.createKey({ name: 'Doomed key', permissions: ['orders.read'] });
  assert.equal((await api.verify(key.secret)).code, 'VALID'); // warm in the verifier's cache
  await open(`/keys/${key.id}`);
  await clickThrough(page.getByRole('link', { name: 'Revoke…' }));
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Revoke “Doomed key”?');
  assert.equal((await api.verify(key.secret)).code, 'VALID', 'the confirmation page changes nothing');
  await clickThrough(page.getByRole('button', { name: 'Revoke key' }));
  assert.equal(new URL(page.url()).pathname, '/dashboard/keys');
  assert.equal(await notice().textContent(), 'Key revoked: it no longer authenticates.');
  assert.deepEqual(await api.verify(key.secret), { valid: false, code: 'NOT_FOUND' });
  assert.ok(!(await listedKeyNames()).includes('Doomed key'));
  await open(`/keys/${key.id}`, 404);

  // The audit log, filtered by action, shows the revocation made here.
  await open('/audit');
  await page.getByLabel('Action').selectOption('key.delete');
  await clickThrough(page.getByRole('button', { name: 'Filter' }));
  assert.equal(new URL(page.url()).searchParams.get('action'), 'key.delete');
  const rows = (await tableRows(page.getByRole('region', { name: 'Audit events' }).getByRole('table'))).slice(1);
  assert.ok(rows.length >= 1 && rows.every((r) => r[1] === 'key.delete'), JSON.stringify(rows));
  const row = rows.find((r) => r[4] === `key ${key.id}`);
  assert.ok(row, `the revocation of ${key.id} is in the audit log: ${JSON.stringify(rows)}`);
  assert.equal(row[2], 'success');
  assert.equal(row[3], admin.id, 'its actor is the signed-in key');
  assert.match(row[5], /^dashboard · 127\.0\.0\.1$/);
  assertClean(page);
});

test('dashboard keys: deleting an app names its integrations and keys first, then deletes them', async () => {
  const appId = await api.createApp('Doomed app');
  const integrationId = await api.createIntegration(appId, 'Doomed integration');
  const appKey = await api.createKey({ name: 'Doomed app key', owner: { type: 'app', id: appId } });
  const intKey = await api.createKey({ name: 'Doomed integration key', owner: { type: 'integration', id: integrationId, appId } });
  const survivor = await api.createKey({ name: 'Survivor key' });
  for (const k of [appKey, intKey, survivor]) assert.equal((await api.verify(k.secret)).code, 'VALID');

  await open(`/apps/${appId}`);
  await clickThrough(page.getByRole('link', { name: 'Delete app…' }));
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Delete the app “Doomed app”?');
  const main = page.getByRole('main');
  assert.equal(await main.getByRole('heading', { level: 2 }).first().textContent(), 'It deletes 1 integration');
  assert.equal(await main.getByRole('heading', { name: /^and \d+ keys?$/ }).textContent(), 'and 2 keys');
  const items = (await main.getByRole('listitem').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
  assert.ok(items.some((t) => t.startsWith(`Doomed integration ${integrationId}`)), items.join(' | '));
  assert.ok(items.some((t) => t.startsWith(`Doomed app key ${appKey.id}`)), items.join(' | '));
  assert.ok(items.some((t) => t.startsWith(`Doomed integration key ${intKey.id}`)), items.join(' | '));
  assert.ok(!items.some((t) => t.includes('Survivor key')), 'a key of another owner is not named');
  assert.equal((await api.verify(appKey.secret)).code, 'VALID', 'the confirmation page changes nothing');

  await clickThrough(page.getByRole('button', { name: 'Delete app “Doomed app”' }));
  assert.equal(new URL(page.url()).pathname, '/dashboard/apps');
  assert.equal(await notice().textContent(), 'App deleted, with its integrations and keys.');
  assert.equal(await page.getByRole('link', { name: 'Doomed app' }).count(), 0);
  assert.deepEqual(await api.verify(appKey.secret), { valid: false, code: 'NOT_FOUND' });
  assert.deepEqual(await api.verify(intKey.secret), { valid: false, code: 'NOT_FOUND' });
  assert.equal((await api.verify(survivor.secret)).code, 'VALID');
  assert.ok(!(await api.apps()).some((a) => a.id === appId));
  await open(`/apps/${appId}`, 404);
  assertClean(page);
});

test('dashboard keys: verifications fill the key\'s chart, the list\'s sparkline and the overview, by outcome', async () => {
  // before() verified the key 3 times VALID and once INSUFFICIENT_PERMISSIONS;
  // usage is written out every 5 s, so reload until the numbers show.
  // Inside a closed <details> the table is hidden: includeHidden finds it.
  const numbers = () => page.getByRole('table', { name: /^Verifications of this key/, includeHidden: true });
  const rows = await poll(async () => {
    await open(`/keys/${usageKey.id}`);
    const r = await tableRows(numbers());
    return r.length > 1 && r[1].length > 1 ? r : false;
  }, { timeout: 20_000, interval: 1000, what: 'the key page\'s table to show verifications' });
  // Header: bucket, then the outcomes shown (Valid, and every one that occurred).
  assert.deepEqual(rows[0].slice(1), ['Valid', 'Insufficient permissions']);
  const sum = (col) => rows.slice(1).reduce((n, r) => n + Number(r[col].replace(/,/g, '')), 0);
  assert.equal(sum(1), 3, 'VALID verifications');
  assert.equal(sum(2), 1, 'INSUFFICIENT_PERMISSIONS verifications');
  // The numbers are behind "Show the numbers"; the bars and legend show them.
  const details = page.locator('details.chart-data');
  assert.equal(await details.evaluate((d) => d.open), false);
  await page.getByText('Show the numbers').click();
  assert.equal(await numbers().isVisible(), true);
  assert.ok(await page.locator('svg.bars rect.code-valid').count() >= 1, 'a valid bar');
  assert.ok(await page.locator('svg.bars rect.code-insufficient_permissions').count() >= 1, 'an insufficient-permissions bar');
  assert.equal(await page.getByRole('img', { name: /^Verifications of this key/ }).count(), 1, 'the chart is named');
  const legend = (await page.getByRole('figure').getByRole('listitem').allTextContents()).map((t) => t.trim());
  assert.deepEqual(legend, ['Valid: 3', 'Insufficient permissions: 1']);
  assert.match(await page.getByRole('region', { name: 'Verifications', exact: true }).textContent(), /4 in this period\./);

  // The other chart periods show the same verifications.
  await clickThrough(page.getByRole('link', { name: 'Last hour, by minute' }));
  assert.equal(await page.getByRole('link', { name: 'Last hour, by minute' }).getAttribute('aria-current'), 'true');
  assert.match(await page.getByRole('region', { name: 'Verifications', exact: true }).textContent(), /4 in this period\./);

  // The key list's sparkline.
  await open(`/keys?q=${encodeURIComponent('Usage meter')}`);
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'Usage meter' }) });
  assert.equal(await row.getByRole('img', { name: '4 verifications in the last 24 hours' }).count(), 1,
    `sparkline: ${await row.locator('svg.spark').getAttribute('aria-label')}`);
  assert.equal(await row.locator('svg.spark.empty').count(), 0, 'the sparkline is drawn, not empty');

  // The overview: all the account's verifications, by outcome.
  await open('/');
  const usage = page.getByRole('region', { name: 'Verifications, last 24 hours', exact: true });
  const overviewLegend = (await usage.getByRole('figure').getByRole('listitem').allTextContents()).map((t) => t.trim());
  const count = (label) => Number((overviewLegend.find((t) => t.startsWith(`${label}: `)) ?? ': 0').split(': ')[1].replace(/,/g, ''));
  assert.ok(count('Valid') >= 3, overviewLegend.join(', '));
  assert.ok(count('Insufficient permissions') >= 1, overviewLegend.join(', '));
  assert.ok(await usage.locator('svg.bars rect.code-insufficient_permissions').count() >= 1);
  await assertAccessible(page, 'the overview with usage');
  assertClean(page);
});

test('dashboard keys: search by part of a name, filter by status, and follow a hygiene finding from the overview', async () => {
  const alpha = await api.createKey({ name: 'Search Target Alpha', permissions: ['a.read'] });
  await api.createKey({ name: 'Search Target Beta', permissions: ['a.read'] });
  const off = await api.createKey({ name: 'Switched off', permissions: ['a.read'] });
  await api.patchKey(off.id, { enabled: false });
  await api.createKey({ name: 'Expiring soon', expiresAt: new Date(Date.now() + 86400_000).toISOString().replace(/\.\d+Z$/, 'Z') });

  // Search: part of the name, in another case.
  await open('/keys');
  const search = page.getByRole('searchbox', { name: 'Search name or ID' });
  await search.fill('target ALPHA');
  await navigatedBy(page, () => search.press('Enter'));
  assert.equal(new URL(page.url()).searchParams.get('q'), 'target ALPHA');
  assert.deepEqual(await listedKeyNames(), ['Search Target Alpha']);
  assert.equal(await page.getByRole('status').filter({ hasText: /match/ }).textContent(), '1 key matches.');
  // By id too.
  await open(`/keys?q=${alpha.id}`);
  assert.deepEqual(await listedKeyNames(), ['Search Target Alpha']);

  // Status: choosing Disabled applies at once.
  await open('/keys');
  await navigatedBy(page, () => page.getByLabel('Status').selectOption({ label: 'Disabled' }));
  assert.equal(new URL(page.url()).searchParams.get('state'), 'disabled');
  const disabled = await listedKeyNames();
  assert.ok(disabled.includes('Switched off'), disabled.join(', '));
  assert.ok(!disabled.includes('Search Target Alpha'));
  const badges = await page.getByRole('region', { name: 'Keys', exact: true }).locator('tbody .badge').allTextContents();
  assert.ok(badges.length > 0 && badges.every((b) => b === 'Disabled'), badges.join(', '));
  await assertAccessible(page, 'the filtered key list');

  // Hygiene: "Never expiring" on the overview leads to exactly those keys.
  await open('/');
  const finding = page.getByRole('region', { name: 'Key hygiene', exact: true }).getByRole('link', { name: /Never expiring/ });
  const n = Number((await finding.locator('.tile-n').textContent()).replace(/,/g, ''));
  await clickThrough(finding);
  assert.equal(new URL(page.url()).searchParams.get('hygiene'), 'no_expiry');
  assert.equal(await page.getByLabel('Finding').locator('option:checked').textContent(), 'Never expiring');
  const names = await listedKeyNames();
  assert.equal(names.length, n, `the overview counted ${n}; the list shows ${names.join(', ')}`);
  assert.ok(names.includes('Search Target Alpha') && names.includes('Switched off'), names.join(', '));
  assert.ok(!names.includes('Expiring soon'), 'a key with an expiry is not listed');
  assert.equal(await page.getByRole('status').filter({ hasText: /match/ }).textContent(), `${n} keys match.`);
  assertClean(page);
});
