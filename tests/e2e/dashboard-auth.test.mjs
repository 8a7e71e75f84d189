// Signing in to the dashboard and what guards it, in a real headless
// Chromium: sign-in by mouse and by keyboard, refusals, sign-out; the
// session's end when its key is revoked or its secret rolled; CSRF tokens
// and the cross-origin check; a restricted key that sees and does only
// what its permissions allow; keys that may not sign in at all; throttled
// failed sign-ins.
//
// One browser for the file. Two servers: one for everything, and one with
// a low failed-authentication limit (3 a minute) for the throttle.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { startServer, stopServer, initialCredentials } from './lib/server.mjs';
import {
  launch, newPage, signIn, assertClean, assertAccessible, navigatedBy, csrfToken, sessionCookie,
} from './lib/browser.mjs';
import { nativeApi } from './lib/dashboard.mjs';

let server;
let throttled; // the server with --failed-auth-limit 3/1m
let base;
let admin;
let api;
let browser;

before(async () => {
  [server, throttled] = await Promise.all([
    startServer(),
    startServer({ args: ['--failed-auth-limit', '3/1m'] }),
  ]);
  base = server.baseURL;
  admin = initialCredentials(server.dataDir);
  api = nativeApi(base, admin);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await stopServer(server);
  await stopServer(throttled);
});

/** A fresh context and page (no cookies). */
async function freshPage(opts) {
  const page = await newPage(browser, opts);
  page.setDefaultTimeout(15_000);
  return page;
}

/** Fills and submits the sign-in form (already open); returns the response's status. */
async function submitSignIn(page, id, secret) {
  await page.getByLabel('Key ID').fill(id);
  await page.getByLabel('Secret').fill(secret);
  const res = await navigatedBy(page, () => page.getByRole('button', { name: 'Sign in' }).click());
  return res.status();
}

/** The names of the main navigation's links. */
const navLinks = (page) => page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();

/** The names of the account's apps, through the API. */
const appNames = async () => (await api.apps()).map((a) => a.name);

test('dashboard sign-in: a wrong secret is refused; the right one opens the page asked for; sign-out ends the session', async () => {
  const page = await freshPage();
  try {
    // Signed out, a page sends the browser to sign in, and back after.
    let res = await page.goto(`${base}/dashboard/audit`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/dashboard/audit');
    assert.equal(res.status(), 200);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign in to Latchkey');

    // A wrong secret.
    assert.equal(await submitSignIn(page, admin.id, 'sk_live_not-the-secret'), 401);
    assert.equal(await page.getByRole('alert').textContent(), 'That Key ID and Secret do not match an active key.');
    assert.equal(await page.getByLabel('Key ID').inputValue(), admin.id, 'the Key ID is kept');
    assert.equal(await page.getByLabel('Secret').inputValue(), '', 'the secret is not sent back');
    assert.equal(await page.getByLabel('Key ID').getAttribute('aria-describedby'), 'signin-error');
    assert.equal(await sessionCookie(page), undefined, 'no session cookie');
    await assertAccessible(page, 'the sign-in page with an error');
    assertClean(page);
    res = await page.goto(`${base}/dashboard/`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in', 'still signed out');

    // The right one, from the page that asked for it.
    await page.goto(`${base}/dashboard/audit`);
    assert.equal(await submitSignIn(page, admin.id, admin.secret), 200);
    assert.equal(new URL(page.url()).pathname, '/dashboard/audit', 'back at the page asked for');
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Audit log');
    const cookie = await sessionCookie(page);
    assert.ok(cookie, 'a session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/dashboard');
    assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the session cookie');
    // The sign-in is in the audit log.
    assert.ok((await page.getByRole('cell', { name: 'session.create' }).count()) >= 1, 'session.create in the audit log');
    assertClean(page);

    // Sign out.
    const csrf = await csrfToken(page);
    await navigatedBy(page, () => page.getByRole('button', { name: 'Sign out' }).click());
    assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in');
    assert.equal(await sessionCookie(page), undefined, 'the cookie is cleared');
    await page.goto(`${base}/dashboard/keys`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in', 'signed out');
    assertClean(page);

    // The old cookie's value, set back in another browser, opens nothing.
    const other = await freshPage();
    try {
      await other.context().addCookies([{ name: cookie.name, value: cookie.value, domain: '127.0.0.1', path: '/dashboard', httpOnly: true, sameSite: 'Strict' }]);
      await other.goto(`${base}/dashboard/keys`);
      const url = new URL(other.url());
      assert.equal(url.pathname, '/dashboard/sign-in', 'a GET is sent to sign in');
      assert.equal(url.searchParams.get('ended'), '1');
      assert.equal(await other.getByRole('status').textContent(), 'Your session ended. Sign in again to continue.');
      await other.context().addCookies([{ name: cookie.name, value: cookie.value, domain: '127.0.0.1', path: '/dashboard' }]);
      const post = await other.request.post(`${base}/dashboard/apps`, { form: { name: 'After sign-out', csrf }, maxRedirects: 0 });
      assert.equal(post.status(), 401, 'a change is refused');
      assert.match(await post.text(), /Your session has ended/);
      assert.ok(!(await appNames()).includes('After sign-out'), 'nothing was created');
      assertClean(other);
    } finally {
      await other.context().close();
    }

    // A link elsewhere in "next" is not followed.
    await page.goto(`${base}/dashboard/sign-in?next=${encodeURIComponent('https://elsewhere.example/')}`);
    await submitSignIn(page, admin.id, admin.secret);
    assert.equal(page.url(), `${base}/dashboard/`);
  } finally {
    await page.context().close();
  }
});

test('dashboard sign-in: entirely by keyboard', async () => {
  const page = await freshPage();
  try {
    await page.goto(`${base}/dashboard/sign-in`);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'keyId', 'the Key ID field has focus');
    await page.keyboard.type(admin.id);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'secret', 'Tab moves to the Secret field');
    await page.keyboard.type(admin.secret);
    await navigatedBy(page, () => page.keyboard.press('Enter'));
    assert.equal(page.url(), `${base}/dashboard/`);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Overview');
    // The first Tab stop skips to the content.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
    assertClean(page);
  } finally {
    await page.context().close();
  }
});

test('dashboard CSRF: a change without the right token, or from another origin, is refused and changes nothing', async () => {
  const page = await freshPage();
  const elsewhere = http.createServer((req, res) => {
    // A page of another origin whose form posts to the dashboard at once,
    // carrying the token (as if it had leaked): only the origin check and
    // the SameSite cookie stand in the way.
    const q = new URL(req.url, 'http://x').searchParams;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><title>Elsewhere</title>
<form method="post" action="${base}/dashboard/apps"><input name="name" value="${q.get('name')}"><input name="csrf" value="${q.get('csrf')}"></form>
<script>document.forms[0].submit();</script></html>`);
  });
  await new Promise((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
  try {
    await signIn(page, base, admin);
    const csrf = await csrfToken(page);
    const key = await api.createKey({ name: 'CSRF target', permissions: ['orders.read'] });

    // Missing and wrong tokens.
    for (const [what, form] of [
      ['no token', { name: 'No token' }],
      ['a wrong token', { name: 'Wrong token', csrf: 'x'.repeat(43) }],
      ['an empty token', { name: 'Empty token', csrf: '' }],
    ]) {
      const res = await page.request.post(`${base}/dashboard/apps`, { form, maxRedirects: 0 });
      assert.equal(res.status(), 403, what);
      const text = await res.text();
      assert.match(text, /Request refused/, what);
      assert.match(text, /out of date or did not come from this dashboard/, what);
    }
    const revoke = await page.request.post(`${base}/dashboard/keys/${key.id}/revoke`, { form: { csrf: 'nope' }, maxRedirects: 0 });
    assert.equal(revoke.status(), 403);
    const names = await appNames();
    for (const n of ['No token', 'Wrong token', 'Empty token']) assert.ok(!names.includes(n), `${n}: nothing created`);
    assert.equal((await api.verify(key.secret)).code, 'VALID', 'the key was not revoked');

    // The same request with the page's token works: the token was what was missing.
    const good = await page.request.post(`${base}/dashboard/apps`, { form: { name: 'With token', csrf }, maxRedirects: 0 });
    assert.equal(good.status(), 303);
    assert.ok((await appNames()).includes('With token'));

    // A form on another origin of the same site (127.0.0.1, another port):
    // the browser sends the cookie, and Sec-Fetch-Site says cross-origin.
    const posted = page.waitForResponse((r) => r.url() === `${base}/dashboard/apps` && r.request().method() === 'POST');
    await page.goto(`http://127.0.0.1:${elsewhere.address().port}/?name=Cross-origin%20app&csrf=${encodeURIComponent(csrf)}`);
    const res = await posted;
    assert.equal(res.status(), 403);
    await page.waitForURL(`${base}/dashboard/apps`);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Request refused');
    assert.match(await page.getByRole('main').textContent(), /This request came from another site, so it was refused/);
    // The refusal did not end the session.
    const back = await page.goto(`${base}/dashboard/`);
    assert.equal(back.status(), 200);
    assert.equal(page.url(), `${base}/dashboard/`, 'still signed in');

    // From another site (localhost): the SameSite=Strict cookie is not even sent.
    const posted2 = page.waitForResponse((r) => r.url() === `${base}/dashboard/apps` && r.request().method() === 'POST');
    await page.goto(`http://localhost:${elsewhere.address().port}/?name=Cross-site%20app&csrf=${encodeURIComponent(csrf)}`);
    const res2 = await posted2;
    assert.ok([401, 403].includes(res2.status()), `cross-site POST answered ${res2.status()}`);
    const after = await appNames();
    assert.ok(!after.includes('Cross-origin app') && !after.includes('Cross-site app'), `nothing created: ${after.join(', ')}`);
    page.problems.length = 0; // the other origin's page is not ours to judge
  } finally {
    await new Promise((resolve) => elsewhere.close(resolve));
    await page.context().close();
  }
});

test('dashboard sessions: revoking the signed-in key ends its session at once', async () => {
  const key = await api.createKey({ name: 'Short-lived admin', permissions: ['*'] });
  const page = await freshPage();
  try {
    await signIn(page, base, key);
    assert.equal(await page.getByTitle(`Signed in with ${key.id}`).textContent(), 'Short-lived admin');
    await api.deleteKey(key.id);
    await page.goto(`${base}/dashboard/keys`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in');
    assert.equal(new URL(page.url()).searchParams.get('ended'), '1');
    assertClean(page);
  } finally {
    await page.context().close();
  }
});

test('dashboard sessions: a roll with a grace period keeps the session; one with grace 0 ends it', async () => {
  const key = await api.createKey({ name: 'Rolled admin', permissions: ['*'] });
  const page = await freshPage();
  try {
    await signIn(page, base, key);
    await api.roll(key.id, '1h');
    let res = await page.goto(`${base}/dashboard/keys`);
    assert.equal(res.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/dashboard/keys', 'the old secret is in its grace period: still signed in');
    await api.roll(key.id, '0');
    await page.goto(`${base}/dashboard/keys`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in', 'the secret that signed in no longer works');
    assert.equal(new URL(page.url()).searchParams.get('ended'), '1');
    assertClean(page);
  } finally {
    await page.context().close();
  }
});

test('dashboard sessions: following a link from another site does not sign the user out', async () => {
  // The session cookie is SameSite=Strict, so a link from another site
  // arrives without it and the dashboard asks to sign in; that is the
  // price of Strict. But the session must survive: another site must not
  // be able to sign a user out by linking (or posting) to the dashboard.
  const page = await freshPage();
  const elsewhere = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><title>Elsewhere</title><a href="${base}/dashboard/keys">Our keys</a></html>`);
  });
  await new Promise((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
  try {
    await signIn(page, base, admin);
    await page.goto(`http://localhost:${elsewhere.address().port}/`);
    await navigatedBy(page, () => page.getByRole('link', { name: 'Our keys' }).click());
    const res = await page.goto(`${base}/dashboard/keys`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/keys',
      'following a link from another site signed the user out: the cookie-less cross-site request must not be ' +
      'answered with a Set-Cookie that clears latchkey_session (httpapi/dashboard/session.go, sessionFailed)');
    assert.equal(res.status(), 200);
    page.problems.length = 0; // the other site's page is not ours to judge
  } finally {
    await new Promise((resolve) => elsewhere.close(resolve));
    await page.context().close();
  }
});

test('dashboard permissions: a restricted account key sees and does only what its permissions allow', async () => {
  const viewer = await api.createKey({ name: 'Read-only viewer', permissions: ['ListKeys', 'GetKey'] });
  const target = await api.createKey({ name: 'Untouchable', permissions: ['orders.read'] });
  const appsBefore = await appNames();
  const keysBefore = (await api.keys()).length;
  const page = await freshPage();
  try {
    await signIn(page, base, viewer);
    assert.deepEqual(await navLinks(page), ['Overview', 'Keys']);
    // The overview shows the panels it may: keys, not apps, usage or the audit log.
    assert.equal(await page.getByRole('region', { name: 'Keys by state', exact: true }).count(), 1);
    assert.equal(await page.getByRole('region', { name: 'Verifications, last 24 hours', exact: true }).count(), 0);
    assert.equal(await page.getByRole('region', { name: 'Recent activity', exact: true }).count(), 0);
    assert.equal(await page.getByRole('link', { name: /apps$/ }).count(), 0);
    assertClean(page);

    for (const path of ['/apps', '/audit', '/keys/new', `/keys/${target.id}/edit`, `/keys/${target.id}/roll`, `/keys/${target.id}/revoke`]) {
      const res = await page.goto(`${base}/dashboard${path}`);
      assert.equal(res.status(), 403, path);
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Not allowed', path);
      assert.match(await page.getByRole('main').textContent(), /The key you signed in with may not do that/, path);
    }
    assertClean(page);

    // The key list, without "New key"; a key's page, without its actions.
    let res = await page.goto(`${base}/dashboard/keys`);
    assert.equal(res.status(), 200);
    assert.ok(await page.getByRole('link', { name: 'Untouchable' }).count() === 1, 'the list shows the keys');
    assert.equal(await page.getByRole('link', { name: 'New key' }).count(), 0);
    res = await page.goto(`${base}/dashboard/keys/${target.id}`);
    assert.equal(res.status(), 200);
    for (const name of ['Edit policy', 'Roll secret…', 'Revoke…']) {
      assert.equal(await page.getByRole('link', { name }).count(), 0, name);
    }
    assert.equal(await page.getByRole('button', { name: 'Disable' }).count(), 0);
    // It may not reveal the secret of a key with rights beyond its own.
    res = await page.goto(`${base}/dashboard/keys/${admin.id}`);
    assert.equal(res.status(), 200);
    assert.equal(await page.getByRole('button', { name: 'Reveal secret' }).count(), 0);
    assertClean(page);

    // Forged changes, with its session and a correct CSRF token, are refused.
    const csrf = await csrfToken(page);
    const forged = [
      ['/dashboard/apps', { name: 'Forged app' }],
      ['/dashboard/keys', { name: 'Forged key', owner: 'account', type: 'secret', permissions: '*' }],
      [`/dashboard/keys/${target.id}/revoke`, {}],
      [`/dashboard/keys/${target.id}/enabled`, { enabled: 'false' }],
      [`/dashboard/keys/${target.id}/roll`, { grace: '0' }],
    ];
    for (const [path, form] of forged) {
      const r = await page.request.post(`${base}${path}`, { form: { ...form, csrf }, maxRedirects: 0 });
      assert.equal(r.status(), 403, `POST ${path}`);
      assert.match(await r.text(), /Not allowed/, `POST ${path}`);
    }
    const reveal = await page.request.post(`${base}/dashboard/keys/${admin.id}/reveal`, { form: { csrf }, maxRedirects: 0 });
    assert.ok(reveal.status() >= 400, `revealing the admin's secret answered ${reveal.status()}`);
    assert.ok(!(await reveal.text()).includes(admin.secret), 'the admin\'s secret is not shown');
    assert.deepEqual(await appNames(), appsBefore, 'no app was created');
    assert.equal((await api.keys()).length, keysBefore, 'no key was created or deleted');
    assert.equal((await api.verify(target.secret)).code, 'VALID', 'the target key still works, unchanged');
  } finally {
    await page.context().close();
  }
});

test('dashboard sign-in: app and integration keys are refused with a message', async () => {
  const appId = await api.createApp('Sign-in refusals');
  const integrationId = await api.createIntegration(appId, 'Refused integration');
  const appKey = await api.createKey({ name: 'An app key', owner: { type: 'app', id: appId } });
  const intKey = await api.createKey({ name: 'An integration key', owner: { type: 'integration', id: integrationId, appId } });
  const page = await freshPage();
  try {
    for (const [what, key] of [['app key', appKey], ['integration key', intKey]]) {
      await page.goto(`${base}/dashboard/sign-in`);
      assert.equal(await submitSignIn(page, key.id, key.secret), 403, what);
      assert.match(await page.getByRole('alert').textContent(), /That key may not sign in here: the dashboard takes an account's secret key/, what);
      assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in', what);
      assert.equal(await sessionCookie(page), undefined, `${what}: no session`);
    }
    assertClean(page);
  } finally {
    await page.context().close();
  }
});

test('dashboard sign-in: the 4th failed sign-in in a minute is throttled; a valid sign-in still works', async () => {
  const creds = initialCredentials(throttled.dataDir);
  const tbase = throttled.baseURL;
  const page = await freshPage();
  try {
    await page.goto(`${tbase}/dashboard/sign-in`);
    for (let i = 1; i <= 3; i++) {
      assert.equal(await submitSignIn(page, creds.id, `sk_live_wrong-${i}`), 401, `failure ${i}`);
      assert.equal(await page.getByRole('alert').textContent(), 'That Key ID and Secret do not match an active key.');
    }
    const res = await navigatedBy(page, async () => {
      await page.getByLabel('Secret').fill('sk_live_wrong-4');
      await page.getByRole('button', { name: 'Sign in' }).click();
    });
    assert.equal(res.status(), 429);
    assert.match(res.headers()['retry-after'] ?? '', /^[1-9][0-9]*$/);
    assert.match(await page.getByRole('alert').textContent(), /^Too many failed sign-ins from your address\. Wait \d+ seconds, then try again\.$/);
    await assertAccessible(page, 'the throttled sign-in page');
    assertClean(page);

    await signIn(page, tbase, creds);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Overview');
    assertClean(page);
  } finally {
    await page.context().close();
  }
});
