// The verify API (POST /v1/verify) and the gateway endpoint (/v1/authorize),
// driven with Node's fetch against the real binary: every verdict code, every
// credential form, the NOT_FOUND-first ordering, rolls, expiry and changes
// reaching a warm (cached) key at once, the gateway's statuses and headers,
// and usage counting.
//
// One server for the file, started behind a "trusted proxy" (127.0.0.1) so
// that X-Forwarded-For names the client address, and with private ranges
// allowed in allowedIps.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import jwt from 'jsonwebtoken';

import { startServer, stopServer, initialCredentials, bootstrap } from './lib/server.mjs';

let server;
let base;
let admin; // the initial account key: { id, secret, accountId }

before(async () => {
  server = await startServer({ args: ['--trusted-proxies', '127.0.0.1', '--allow-private-ips'] });
  base = server.baseURL;
  admin = initialCredentials(server.dataDir);
});

after(async () => {
  await stopServer(server);
});

// ---------------------------------------------------------------- helpers

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NOT_FOUND = { valid: false, code: 'NOT_FOUND' };
const IDENTITY_HEADERS = ['x-latchkey-key-id', 'x-latchkey-owner', 'x-latchkey-permissions', 'x-latchkey-metadata'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A Date as RFC 3339 to the second, as Latchkey keeps it. */
const rfc3339 = (date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Sends a request with secret as a Bearer token; returns status, headers and JSON. */
async function api(method, path, { secret = admin.secret, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(30_000) };
  if (secret) init.headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

/** Like api, but asserts the status and returns the JSON. */
async function ok(method, path, opts, status = 200) {
  const res = await api(method, path, opts);
  assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.json)}`);
  return res.json;
}

const createApp = async (name) => (await ok('POST', '/v1/apps', { body: { name } }, 201)).id;

/** Creates a key (as admin unless secret is given); returns it with its secret. */
const createKey = (body, secret = admin.secret) => ok('POST', '/v1/keys', { secret, body }, 201);

/** An app-owned key with these permissions and any other members. */
const appKey = (app, permissions, extra = {}) =>
  createKey({ name: 'customer', owner: { type: 'app', id: app }, permissions, ...extra });

const patchKey = (id, body) => ok('PATCH', `/v1/keys/${id}`, { body });

const roll = (id, gracePeriod) => ok('POST', `/v1/keys/${id}/roll`, { body: { gracePeriod } });

/** POST /v1/verify as caller (admin by default): asserts 200, returns the verdict. */
async function verify(key, extra = {}, caller = admin.secret) {
  return ok('POST', '/v1/verify', { secret: caller, body: { key, ...extra } });
}

/** Asserts a verdict's code; NOT_FOUND must say nothing else at all. */
function assertCode(verdict, code, keyId, what = '') {
  if (code === 'NOT_FOUND') {
    assert.deepEqual(verdict, NOT_FOUND, what);
    return;
  }
  assert.equal(verdict.code, code, `${what}: ${JSON.stringify(verdict)}`);
  assert.equal(verdict.valid, code === 'VALID', what);
  if (keyId) assert.equal(verdict.keyId, keyId, what);
}

/** Verifies and asserts the code in one step. */
async function expectVerify(code, key, extra = {}, { keyId, caller, what = code } = {}) {
  const v = await verify(key, extra, caller);
  assertCode(v, code, keyId, what);
  return v;
}

/** An HS256 JWT signed with the key's secret: header kid = key id, claim scope. */
function signJwt(id, secret, scope, claims = {}) {
  return jwt.sign({ scope, ...claims }, secret, { algorithm: 'HS256', keyid: id });
}

/** A gateway's request to /v1/authorize (or below it); returns status, headers and JSON. */
async function gate(path = '/v1/authorize', { method = 'GET', headers = {} } = {}) {
  const res = await fetch(`${base}${path}`, { method, headers, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

/** Asserts a gateway answer: status, X-Latchkey-Code, and the headers each status implies. */
function assertGate(res, status, code, what = '') {
  const msg = `${what}: ${res.status} ${JSON.stringify(res.json)}`;
  assert.equal(res.status, status, msg);
  assert.equal(res.headers.get('x-latchkey-code'), code, msg);
  if (status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="latchkey"/, msg);
  else assert.equal(res.headers.get('www-authenticate'), null, msg);
  if (status === 200) {
    assert.equal(res.json, undefined, `${what}: a 200 has no body`);
    return;
  }
  for (const h of IDENTITY_HEADERS) assert.equal(res.headers.get(h), null, `${what}: ${h} on a refusal`);
  if (what.includes('gateway=nginx')) {
    assert.equal(res.json, undefined, `${what}: no body for nginx`);
  } else {
    // A refusal carries the native error body; the code is in the header.
    const errorCode = code === 'RATE_LIMITED' ? 'rate_limited' : { 401: 'unauthorized', 403: 'forbidden' }[status];
    assert.equal(res.json?.error?.code, errorCode, msg);
    assert.ok(res.json.error.message, msg);
  }
}

/** GET /v1/authorize with the secret as a Bearer token, and asserts the answer. */
async function expectGate(status, code, secret, query = '', headers = {}) {
  const res = await gate(`/v1/authorize${query}`, { headers: { Authorization: `Bearer ${secret}`, ...headers } });
  assertGate(res, status, code, `authorize${query}`);
  return res;
}

/** Calls fn until its result says done, for at most ms; returns the last result. */
async function poll(fn, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v.done || Date.now() > deadline) return v;
    await sleep(250);
  }
}

// ---------------------------------------------------------- POST /v1/verify

test('verify: VALID tells the key id, owner, name, permissions, metadata, expiry and rate limit', async () => {
  const app = await createApp('Shop');
  const expiresAt = rfc3339(new Date(Date.now() + 365 * 86400_000));
  const key = await createKey({
    name: 'Customer 42', owner: { type: 'app', id: app }, prefix: 'acme',
    permissions: ['orders.*', 'invoices.read'], metadata: { plan: 'gold', seats: 3 },
    expiresAt, rateLimit: { limit: 10, period: '1m' },
  });
  const v = await verify(key.secret, { apps: [app], permissions: ['orders.read', 'invoices.read'] });
  const { rateLimit, ...rest } = v;
  assert.deepEqual(rest, {
    valid: true, code: 'VALID', keyId: key.id, owner: { type: 'app', id: app }, name: 'Customer 42',
    permissions: ['orders.*', 'invoices.read'], metadata: { plan: 'gold', seats: 3 }, expiresAt,
  });
  assert.deepEqual(Object.keys(rateLimit).sort(), ['limit', 'remaining', 'reset']);
  assert.equal(rateLimit.limit, 10);
  assert.equal(rateLimit.remaining, 9);
  assert.match(rateLimit.reset, RFC3339);
  const reset = Date.parse(rateLimit.reset);
  assert.ok(reset > Date.now() - 1000 && reset <= Date.now() + 61_000, `reset ${rateLimit.reset}`);

  // An account key: owner account, and no rateLimit member without a limit.
  const acct = await createKey({ name: 'account key', permissions: ['orders.read'] });
  const av = await expectVerify('VALID', acct.secret, {}, { keyId: acct.id });
  assert.deepEqual(av.owner, { type: 'account', id: admin.accountId });
  assert.equal(av.rateLimit, undefined);
});

test('verify: NOT_FOUND says nothing about the key', async () => {
  const key = await createKey({ name: 'real', permissions: ['orders.read'] });
  const other = await createKey({ name: 'other', permissions: ['orders.read'] });
  const tweak = (s) => s.slice(0, -10) + (s.at(-10) === 'A' ? 'B' : 'A') + s.slice(-9);
  for (const [what, credential] of [
    ['garbage', 'nonsense'],
    ['a secret with a typo', tweak(key.secret)],
    ['a secret whose checksum is wrong', `sk_live_${'A'.repeat(49)}`],
    ['keyId:wrong secret', `${key.id}:${tweak(key.secret)}`],
    ['keyId:another key\'s secret', `${key.id}:${other.secret}`],
    ['unknown id:secret', `key_01ARZ3NDEKTSV4RRFFQ69G5FAV:${key.secret}`],
    ['empty id', `:${key.secret}`],
    ['a JWT with an unknown kid', signJwt('key_01ARZ3NDEKTSV4RRFFQ69G5FAV', key.secret, 'account')],
    ['a JWT signed with another secret', signJwt(key.id, other.secret, 'account')],
    ['a JWT with the wrong scope', signJwt(key.id, key.secret, 'app')],
    ['a JWT without kid', jwt.sign({ scope: 'account' }, key.secret)],
  ]) {
    await expectVerify('NOT_FOUND', credential, { permissions: ['orders.read'] }, { what });
  }
  // Missing or empty key: a bad request, not a verdict.
  for (const body of [{}, { key: '' }]) {
    const res = await api('POST', '/v1/verify', { body });
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.equal(res.json.error.code, 'invalid_request');
  }
});

test('verify: EXPIRED and DISABLED, with the key, once its secret proves it', async () => {
  const key = await createKey({ name: 'lapsing', permissions: ['orders.read'], metadata: { a: 1 } });
  await patchKey(key.id, { enabled: false });
  const d = await expectVerify('DISABLED', key.secret, {}, { keyId: key.id });
  assert.equal(d.name, 'lapsing');
  await expectVerify('DISABLED', `${key.id}:${key.secret}`, {}, { keyId: key.id });
  // Expired and disabled: EXPIRED, since enabling it would not help.
  await patchKey(key.id, { expiresAt: '2001-01-01T00:00:00Z' });
  const e = await expectVerify('EXPIRED', key.secret, {}, { keyId: key.id });
  assert.equal(e.expiresAt, '2001-01-01T00:00:00Z');
  await patchKey(key.id, { enabled: true });
  await expectVerify('EXPIRED', key.secret, {}, { keyId: key.id });
  await expectVerify('EXPIRED', `${key.id}:${key.secret}`, {}, { keyId: key.id });
  // The secret must still be right to learn any of it.
  await expectVerify('NOT_FOUND', `${key.id}:${key.secret.slice(0, -1)}x`);
});

test('verify: INSUFFICIENT_PERMISSIONS, with "orders.*" wildcards', async () => {
  const key = await createKey({ name: 'perms', permissions: ['orders.*', 'billing.read'] });
  const check = (code, permissions) => expectVerify(code, key.secret, { permissions }, { keyId: key.id, what: permissions.join(',') });
  await check('VALID', []);
  await check('VALID', ['orders.read']);
  await check('VALID', ['orders.items.write']);
  await check('VALID', ['orders.read', 'billing.read']);
  await check('INSUFFICIENT_PERMISSIONS', ['orders']); // the bare prefix is not under it
  await check('INSUFFICIENT_PERMISSIONS', ['ordersx.read']);
  await check('INSUFFICIENT_PERMISSIONS', ['billing.write']);
  await check('INSUFFICIENT_PERMISSIONS', ['orders.read', 'billing.write']); // all must be granted
  const v = await verify(key.secret, { permissions: ['refunds.create'] });
  assert.deepEqual(v.permissions, ['orders.*', 'billing.read']);
  // "*" grants anything.
  const star = await createKey({ name: 'star', permissions: ['*'] });
  await expectVerify('VALID', star.secret, { permissions: ['anything.at.all', 'orders'] });
  // A key with no permissions at all is granted nothing it is asked for.
  const bare = await createKey({ name: 'bare' });
  await expectVerify('VALID', bare.secret);
  await expectVerify('INSUFFICIENT_PERMISSIONS', bare.secret, { permissions: ['orders.read'] });
});

test('verify: IP_NOT_ALLOWED when the ip is outside allowedIps, or not given', async () => {
  const key = await createKey({ name: 'fenced', permissions: ['orders.read'], allowedIps: ['203.0.113.0/24', '2001:db8::/32'] });
  const check = (code, ip) => expectVerify(code, key.secret, ip === undefined ? {} : { ip }, { keyId: key.id, what: `ip ${ip}` });
  await check('VALID', '203.0.113.9');
  await check('VALID', '2001:db8::1');
  await check('VALID', '::ffff:203.0.113.9'); // IPv4-mapped counts as IPv4
  await check('IP_NOT_ALLOWED', '198.51.100.1');
  await check('IP_NOT_ALLOWED', undefined);
  await check('IP_NOT_ALLOWED', null);
  // Addresses come before permissions.
  await expectVerify('IP_NOT_ALLOWED', key.secret, { ip: '198.51.100.1', permissions: ['billing.read'] });
  // A key without allowedIps needs no ip.
  const open = await createKey({ name: 'open', permissions: ['orders.read'] });
  await expectVerify('VALID', open.secret);
  const bad = await api('POST', '/v1/verify', { body: { key: key.secret, ip: 'not-an-ip' } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.error.fields.map((f) => f.field), ['ip']);
});

test('verify: RATE_LIMITED, with cost; refused checks take nothing', async () => {
  const key = await createKey({ name: 'limited', permissions: ['orders.read'], rateLimit: { limit: 3, period: '1h' } });
  let v = await expectVerify('VALID', key.secret, { cost: 2 }, { keyId: key.id });
  assert.equal(v.rateLimit.limit, 3);
  assert.equal(v.rateLimit.remaining, 1);
  v = await expectVerify('RATE_LIMITED', key.secret, { cost: 2 }, { keyId: key.id });
  assert.equal(v.rateLimit.limit, 3);
  assert.equal(v.rateLimit.remaining, 1);
  assert.ok(Date.parse(v.rateLimit.reset) > Date.now(), v.rateLimit.reset);
  // A refused check (a missing permission) takes nothing from the limit.
  await expectVerify('INSUFFICIENT_PERMISSIONS', key.secret, { permissions: ['x'] });
  v = await expectVerify('VALID', key.secret, {}, { keyId: key.id });
  assert.equal(v.rateLimit.remaining, 0);
  v = await expectVerify('RATE_LIMITED', key.secret);
  assert.equal(v.rateLimit.remaining, 0);
  for (const cost of [0, -1, 1.5, 1_000_001, '2']) {
    const res = await api('POST', '/v1/verify', { body: { key: key.secret, cost } });
    assert.equal(res.status, 400, `cost ${cost}`);
    assert.deepEqual(res.json.error.fields.map((f) => f.field), ['cost']);
  }
});

test('verify: every credential form: secret, keyId:secret, HS256 JWT (scope app or account)', async () => {
  const app = await createApp('Forms');
  const ak = await appKey(app, ['orders.read']);
  const acct = await createKey({ name: 'account form', permissions: ['orders.read'] });
  for (const [what, credential, id] of [
    ['app key, secret', ak.secret, ak.id],
    ['app key, keyId:secret', `${ak.id}:${ak.secret}`, ak.id],
    ['app key, JWT scope app', signJwt(ak.id, ak.secret, 'app'), ak.id],
    ['account key, secret', acct.secret, acct.id],
    ['account key, keyId:secret', `${acct.id}:${acct.secret}`, acct.id],
    ['account key, JWT scope account', signJwt(acct.id, acct.secret, 'account'), acct.id],
    ['JWT with exp ahead', signJwt(ak.id, ak.secret, 'app', { exp: Math.floor(Date.now() / 1000) + 3600 }), ak.id],
  ]) {
    await expectVerify('VALID', credential, { permissions: ['orders.read'] }, { keyId: id, what });
  }
  // A JWT whose own exp has passed proves nothing that may be used.
  const stale = signJwt(ak.id, ak.secret, 'app', { exp: Math.floor(Date.now() / 1000) - 3600 });
  assert.notEqual((await verify(stale)).code, 'VALID');
});

test('verify: a branded prefix secret', async () => {
  const key = await createKey({ name: 'branded', prefix: 'acme_2', permissions: ['orders.read'] });
  assert.match(key.secret, /^acme_2_sk_live_[A-Za-z0-9_-]{49}$/);
  await expectVerify('VALID', key.secret, { permissions: ['orders.read'] }, { keyId: key.id });
  await expectVerify('VALID', `${key.id}:${key.secret}`, {}, { keyId: key.id });
  await expectVerify('VALID', signJwt(key.id, key.secret, 'account'), {}, { keyId: key.id });
  // Without its brand, or with another one, it is someone else's secret.
  await expectVerify('NOT_FOUND', key.secret.slice('acme_2_'.length));
  await expectVerify('NOT_FOUND', `zeta_${key.secret.slice('acme_2_'.length)}`);
  await expectGate(200, 'VALID', key.secret);
});

// ------------------------------------------------------- NOT_FOUND first

test('NOT_FOUND first: another account\'s key is NOT_FOUND, even expired or disabled', async () => {
  const stranger = await bootstrap(server.dataDir, { name: 'Stranger' });
  assert.notEqual(stranger.accountId, admin.accountId);
  const live = await createKey({ name: 'theirs', permissions: ['orders.read'] }, stranger.secret);
  const expired = await createKey({ name: 'theirs, expired', permissions: ['orders.read'] }, stranger.secret);
  const disabled = await createKey({ name: 'theirs, disabled', permissions: ['orders.read'] }, stranger.secret);
  await ok('PATCH', `/v1/keys/${expired.id}`, { secret: stranger.secret, body: { expiresAt: '2001-01-01T00:00:00Z' } });
  await ok('PATCH', `/v1/keys/${disabled.id}`, { secret: stranger.secret, body: { enabled: false } });
  // Their own account sees each for what it is…
  await expectVerify('VALID', live.secret, {}, { caller: stranger.secret, keyId: live.id });
  await expectVerify('EXPIRED', expired.secret, {}, { caller: stranger.secret, keyId: expired.id });
  await expectVerify('DISABLED', disabled.secret, {}, { caller: stranger.secret, keyId: disabled.id });
  // …ours sees none of them, in any form, whatever else the request asks.
  for (const k of [live, expired, disabled]) {
    for (const credential of [k.secret, `${k.id}:${k.secret}`, signJwt(k.id, k.secret, 'account')]) {
      await expectVerify('NOT_FOUND', credential, {}, { what: k.name });
      await expectVerify('NOT_FOUND', credential, { permissions: ['nope'], ip: '198.51.100.1' }, { what: k.name });
    }
  }
  // And theirs cannot see ours.
  const mine = await createKey({ name: 'mine', permissions: ['orders.read'] });
  await expectVerify('NOT_FOUND', mine.secret, {}, { caller: stranger.secret });
});

test('NOT_FOUND first: a key outside "apps" is NOT_FOUND, even expired, disabled or refused', async () => {
  const appA = await createApp('A');
  const appB = await createApp('B');
  const key = await appKey(appA, ['orders.read'], { allowedIps: ['203.0.113.0/24'], rateLimit: { limit: 2, period: '1h' } });
  const acct = await createKey({ name: 'account-owned', permissions: ['orders.read'] });
  await expectVerify('VALID', key.secret, { apps: [appA], ip: '203.0.113.1' }, { keyId: key.id });
  await expectVerify('VALID', key.secret, { apps: [appB, appA], ip: '203.0.113.1' }, { keyId: key.id, what: 'A among the apps' });
  // Rate limited within A; outside it the limit is not even looked at.
  await expectVerify('RATE_LIMITED', key.secret, { apps: [appA], ip: '203.0.113.1' }, { keyId: key.id });
  await expectVerify('NOT_FOUND', key.secret, { apps: [appB], ip: '203.0.113.1' }, { what: 'rate limited, other app' });
  await expectVerify('NOT_FOUND', key.secret, { apps: [appB], ip: '198.51.100.1', permissions: ['x'] }, { what: 'refused, other app' });
  // An account-owned key is in no app.
  await expectVerify('NOT_FOUND', acct.secret, { apps: [appA] }, { what: 'account key, apps given' });
  await patchKey(key.id, { enabled: false });
  await expectVerify('DISABLED', key.secret, { apps: [appA] }, { keyId: key.id });
  await expectVerify('NOT_FOUND', key.secret, { apps: [appB] }, { what: 'disabled, other app' });
  await patchKey(key.id, { enabled: true, expiresAt: '2001-01-01T00:00:00Z' });
  await expectVerify('EXPIRED', key.secret, { apps: [appA] }, { keyId: key.id });
  await expectVerify('NOT_FOUND', key.secret, { apps: [appB] }, { what: 'expired, other app' });
  await expectVerify('NOT_FOUND', `${key.id}:${key.secret}`, { apps: [appB] }, { what: 'expired, other app, keyId:secret' });
  // The same through the gateway: 401 NOT_FOUND, not EXPIRED.
  const res = await expectGate(401, 'NOT_FOUND', key.secret, `?app=${appB}`);
  assert.deepEqual(res.json, (await expectGate(401, 'NOT_FOUND', `sk_live_${'E'.repeat(49)}`, `?app=${appB}`)).json);
  await expectGate(401, 'EXPIRED', key.secret, `?app=${appA}`);
});

test('NOT_FOUND first: a verifier key bound to app A cannot see app B\'s keys', async () => {
  const appA = await createApp('A');
  const appB = await createApp('B');
  const keyA = await appKey(appA, ['orders.read']);
  const keyB = await appKey(appB, ['orders.read']);
  const expiredB = await appKey(appB, ['orders.read']);
  await patchKey(expiredB.id, { expiresAt: '2001-01-01T00:00:00Z' });
  const acct = await createKey({ name: 'account-owned', permissions: ['orders.read'] });
  const verifierA = await appKey(appA, ['VerifyKey']);
  const asA = { caller: verifierA.secret };
  await expectVerify('VALID', keyA.secret, {}, { ...asA, keyId: keyA.id });
  await expectVerify('VALID', signJwt(keyA.id, keyA.secret, 'app'), {}, { ...asA, keyId: keyA.id });
  await expectVerify('NOT_FOUND', keyB.secret, {}, { ...asA, what: 'app B key' });
  await expectVerify('NOT_FOUND', expiredB.secret, {}, { ...asA, what: 'expired app B key' });
  await expectVerify('NOT_FOUND', acct.secret, {}, { ...asA, what: 'account key' });
  // Naming app B does not widen its reach.
  await expectVerify('NOT_FOUND', keyB.secret, { apps: [appB] }, { ...asA, what: 'app B key, apps [B]' });
  // The account's admin sees both.
  await expectVerify('VALID', keyB.secret, {}, { keyId: keyB.id });
});

test('verify: a caller without VerifyKey gets 403; no caller 401', async () => {
  const target = await createKey({ name: 'target', permissions: ['orders.read'] });
  const app = await createApp('Scoped');
  for (const [what, body] of [
    ['no VerifyKey', { name: 'plain', permissions: ['orders.read', 'CreateKey'] }],
    ['VerifyKey only within an app', { name: 'scoped', acl: [{ scope: { organizationId: [app] }, permissions: ['VerifyKey'] }] }],
  ]) {
    const caller = await createKey(body);
    const res = await api('POST', '/v1/verify', { secret: caller.secret, body: { key: target.secret } });
    assert.equal(res.status, 403, `${what}: ${JSON.stringify(res.json)}`);
    assert.equal(res.json.error.code, 'forbidden');
  }
  const res = await api('POST', '/v1/verify', { secret: '', body: { key: target.secret } });
  assert.equal(res.status, 401);
  assert.equal(res.json.error.code, 'unauthorized');
  assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="latchkey"');
});

// ------------------------------------------------------------------ rolls

test('roll with grace 0: the old secret is NOT_FOUND at once, the new one VALID', async () => {
  const key = await createKey({ name: 'roll 0', permissions: ['orders.read'] });
  const oldJwt = signJwt(key.id, key.secret, 'account');
  // Warm every form first.
  await expectVerify('VALID', key.secret);
  await expectVerify('VALID', `${key.id}:${key.secret}`);
  await expectVerify('VALID', oldJwt);
  await expectGate(200, 'VALID', key.secret);
  const { secret } = await roll(key.id, '0');
  assert.notEqual(secret, key.secret);
  await expectVerify('NOT_FOUND', key.secret, {}, { what: 'old secret' });
  await expectVerify('NOT_FOUND', `${key.id}:${key.secret}`, {}, { what: 'old keyId:secret' });
  await expectVerify('NOT_FOUND', oldJwt, {}, { what: 'JWT signed with the old secret' });
  await expectGate(401, 'NOT_FOUND', key.secret);
  await expectVerify('VALID', secret, {}, { keyId: key.id });
  await expectVerify('VALID', signJwt(key.id, secret, 'account'), {}, { keyId: key.id });
  await expectGate(200, 'VALID', secret);
});

test('roll with grace 1h: the old and the new secret are both VALID', async () => {
  const app = await createApp('Roll');
  const key = await appKey(app, ['orders.read']);
  await expectVerify('VALID', key.secret);
  await expectGate(200, 'VALID', key.secret);
  const { secret } = await roll(key.id, '1h');
  for (const s of [key.secret, secret]) {
    await expectVerify('VALID', s, {}, { keyId: key.id });
    await expectVerify('VALID', `${key.id}:${s}`, {}, { keyId: key.id });
    await expectVerify('VALID', signJwt(key.id, s, 'app'), {}, { keyId: key.id });
    await expectGate(200, 'VALID', s, `?app=${app}`);
  }
});

// ------------------------------------------------------ changes, warm keys

test('expiry reached while a key is warm: EXPIRED on verify, 401 on authorize', async () => {
  const expires = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000);
  const key = await createKey({ name: 'short-lived', permissions: ['orders.read'], expiresAt: rfc3339(expires) });
  await expectVerify('VALID', key.secret, {}, { keyId: key.id });
  await expectVerify('VALID', `${key.id}:${key.secret}`, {}, { keyId: key.id });
  await expectGate(200, 'VALID', key.secret);
  // Not a timing assertion: just be sure the moment has passed.
  await sleep(expires.getTime() - Date.now() + 500);
  const v = await expectVerify('EXPIRED', key.secret, {}, { keyId: key.id });
  assert.equal(v.expiresAt, rfc3339(expires));
  await expectVerify('EXPIRED', `${key.id}:${key.secret}`, {}, { keyId: key.id });
  const res = await expectGate(401, 'EXPIRED', key.secret);
  assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="latchkey", error="invalid_token"');
});

// A JWT's signature proves the key as well as its secret does, so a JWT of
// an expired or disabled key should get the same verdict as the secret.
test('a JWT of a disabled key is DISABLED, as its secret is', async () => {
  const app = await createApp('JWT disabled');
  const key = await appKey(app, ['orders.read']);
  const token = signJwt(key.id, key.secret, 'app');
  await expectVerify('VALID', token, {}, { keyId: key.id });
  await patchKey(key.id, { enabled: false });
  await expectVerify('DISABLED', key.secret, {}, { keyId: key.id, what: 'secret' });
  await expectVerify('DISABLED', `${key.id}:${key.secret}`, {}, { keyId: key.id, what: 'keyId:secret' });
  await expectGate(401, 'DISABLED', key.secret);
  await expectVerify('DISABLED', token, {}, { keyId: key.id, what: 'JWT' });
  await expectGate(401, 'DISABLED', token);
});

test('a JWT of an expired key is EXPIRED, as its secret is', async () => {
  const key = await createKey({ name: 'JWT expired', permissions: ['orders.read'] });
  await patchKey(key.id, { expiresAt: '2001-01-01T00:00:00Z' });
  const token = signJwt(key.id, key.secret, 'account');
  await expectVerify('EXPIRED', key.secret, {}, { keyId: key.id, what: 'secret' });
  await expectVerify('EXPIRED', token, {}, { keyId: key.id, what: 'JWT' });
  await expectGate(401, 'EXPIRED', token);
});

test('a warm JWT whose key expires is EXPIRED, as its secret is', async () => {
  const app = await createApp('JWT expiring');
  const expires = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000);
  const key = await appKey(app, ['orders.read'], { expiresAt: rfc3339(expires) });
  const token = signJwt(key.id, key.secret, 'app');
  await expectVerify('VALID', token, {}, { keyId: key.id });
  await expectGate(200, 'VALID', token);
  await sleep(expires.getTime() - Date.now() + 500);
  await expectVerify('EXPIRED', key.secret, {}, { keyId: key.id, what: 'secret' });
  await expectVerify('EXPIRED', token, {}, { keyId: key.id, what: 'JWT' });
  await expectGate(401, 'EXPIRED', token);
});

test('disabling a warm key takes effect at once, and enabling it again', async () => {
  const key = await createKey({ name: 'switch', permissions: ['orders.read'] });
  await expectVerify('VALID', key.secret);
  await expectGate(200, 'VALID', key.secret);
  await patchKey(key.id, { enabled: false });
  await expectVerify('DISABLED', key.secret, {}, { keyId: key.id });
  await expectGate(401, 'DISABLED', key.secret);
  await patchKey(key.id, { enabled: true });
  await expectVerify('VALID', key.secret, {}, { keyId: key.id });
  await expectGate(200, 'VALID', key.secret);
});

test('narrowing a warm key\'s permissions takes effect at once', async () => {
  const key = await createKey({ name: 'narrowed', permissions: ['orders.*'] });
  const token = signJwt(key.id, key.secret, 'account');
  await expectVerify('VALID', key.secret, { permissions: ['orders.write'] });
  await expectVerify('VALID', token, { permissions: ['orders.write'] });
  const before = await expectGate(200, 'VALID', key.secret, '?permission=orders.write');
  assert.equal(before.headers.get('x-latchkey-permissions'), 'orders.*');
  await patchKey(key.id, { permissions: ['orders.read'] });
  await expectVerify('INSUFFICIENT_PERMISSIONS', key.secret, { permissions: ['orders.write'] }, { keyId: key.id });
  await expectVerify('INSUFFICIENT_PERMISSIONS', token, { permissions: ['orders.write'] }, { keyId: key.id });
  await expectGate(403, 'INSUFFICIENT_PERMISSIONS', key.secret, '?permission=orders.write');
  const after = await expectGate(200, 'VALID', key.secret, '?permission=orders.read');
  assert.equal(after.headers.get('x-latchkey-permissions'), 'orders.read');
});

test('deleting a warm key takes effect at once', async () => {
  const key = await createKey({ name: 'doomed', permissions: ['orders.read'] });
  const token = signJwt(key.id, key.secret, 'account');
  await expectVerify('VALID', key.secret);
  await expectVerify('VALID', token);
  await expectGate(200, 'VALID', key.secret);
  await ok('DELETE', `/v1/keys/${key.id}`, {}, 204);
  await expectVerify('NOT_FOUND', key.secret);
  await expectVerify('NOT_FOUND', `${key.id}:${key.secret}`);
  await expectVerify('NOT_FOUND', token);
  await expectGate(401, 'NOT_FOUND', key.secret);
  await expectGate(401, 'NOT_FOUND', token);
});

test('deleting a warm key\'s app takes effect at once', async () => {
  const app = await createApp('Doomed app');
  const key = await appKey(app, ['orders.read']);
  const token = signJwt(key.id, key.secret, 'app');
  await expectVerify('VALID', key.secret, { apps: [app] });
  await expectVerify('VALID', token);
  await expectGate(200, 'VALID', key.secret, `?app=${app}`);
  await ok('DELETE', `/v1/apps/${app}`, {}, 204);
  await expectVerify('NOT_FOUND', key.secret);
  await expectVerify('NOT_FOUND', token);
  await expectGate(401, 'NOT_FOUND', key.secret);
  await expectGate(401, 'NOT_FOUND', token);
});

// ------------------------------------------------------- /v1/authorize

test('authorize: 200 with the identity headers', async () => {
  const app = await createApp('Gate');
  const key = await appKey(app, ['orders.*', 'billing.read'], { metadata: { plan: 'gold', city: 'Zürich' } });
  const res = await expectGate(200, 'VALID', key.secret, `?app=${app}&permission=orders.read&permission=billing.read`);
  assert.equal(res.headers.get('x-latchkey-key-id'), key.id);
  assert.equal(res.headers.get('x-latchkey-owner'), `app:${app}`);
  assert.equal(res.headers.get('x-latchkey-permissions'), 'orders.*,billing.read');
  const meta = res.headers.get('x-latchkey-metadata');
  assert.match(meta, /^[\x20-\x7e]*$/, 'metadata header is ASCII');
  assert.deepEqual(JSON.parse(meta), { plan: 'gold', city: 'Zürich' });
  // An account key: owner account:<id>, and no metadata header without metadata.
  const acct = await createKey({ name: 'plain', permissions: ['orders.read'] });
  const r2 = await expectGate(200, 'VALID', acct.secret);
  assert.equal(r2.headers.get('x-latchkey-owner'), `account:${admin.accountId}`);
  assert.equal(r2.headers.get('x-latchkey-metadata'), null);
  // Every credential form a gateway relays.
  for (const [what, headers] of [
    ['Bearer secret', { Authorization: `Bearer ${key.secret}` }],
    ['Bearer JWT', { Authorization: `Bearer ${signJwt(key.id, key.secret, 'app')}` }],
    ['Basic', { Authorization: `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}` }],
    ['bare Authorization', { Authorization: key.secret }],
    ['X-API-Key', { 'X-API-Key': key.secret }],
    ['REB-APIKEY', { 'REB-APIKEY': key.secret }],
  ]) {
    const r = await gate(`/v1/authorize?app=${app}`, { headers });
    assertGate(r, 200, 'VALID', what);
    assert.equal(r.headers.get('x-latchkey-key-id'), key.id, what);
  }
});

test('authorize: 401 with WWW-Authenticate for no key, unknown, expired and disabled', async () => {
  const noKey = await gate('/v1/authorize');
  assertGate(noKey, 401, 'NOT_FOUND', 'no key');
  assert.equal(noKey.headers.get('www-authenticate'), 'Bearer realm="latchkey"');
  assert.equal(noKey.json.error.code, 'unauthorized');
  const unknown = await expectGate(401, 'NOT_FOUND', `sk_live_${'B'.repeat(49)}`);
  assert.equal(unknown.headers.get('www-authenticate'), 'Bearer realm="latchkey", error="invalid_token"');
  assert.equal(unknown.json.error.message, 'The API key is not valid.');
  const expired = await createKey({ name: 'expired', permissions: ['orders.read'] });
  await patchKey(expired.id, { expiresAt: '2001-01-01T00:00:00Z' });
  await expectGate(401, 'EXPIRED', expired.secret);
  const disabled = await createKey({ name: 'disabled', permissions: ['orders.read'] });
  await patchKey(disabled.id, { enabled: false });
  const d = await expectGate(401, 'DISABLED', disabled.secret);
  assert.equal(d.headers.get('www-authenticate'), 'Bearer realm="latchkey", error="invalid_token"');
});

test('authorize: 403 for a missing permission', async () => {
  const key = await createKey({ name: 'orders only', permissions: ['orders.*'] });
  await expectGate(200, 'VALID', key.secret, '?permission=orders.read');
  await expectGate(403, 'INSUFFICIENT_PERMISSIONS', key.secret, '?permission=billing.read');
  await expectGate(403, 'INSUFFICIENT_PERMISSIONS', key.secret, '?permission=orders.read&permission=billing.read');
  await expectGate(403, 'INSUFFICIENT_PERMISSIONS', key.secret, '?permission=orders');
  // Empty parameters are none.
  await expectGate(200, 'VALID', key.secret, '?permission=&app=');
});

test('authorize: 403 for an address outside allowedIps, read from the trusted proxy\'s X-Forwarded-For', async () => {
  const key = await createKey({ name: 'fenced', permissions: ['orders.read'], allowedIps: ['203.0.113.7'] });
  const xff = (v) => ({ 'X-Forwarded-For': v });
  await expectGate(200, 'VALID', key.secret, '', xff('203.0.113.7'));
  await expectGate(403, 'IP_NOT_ALLOWED', key.secret, '', xff('198.51.100.7'));
  // Read right to left: what the client wrote on the left does not count.
  await expectGate(403, 'IP_NOT_ALLOWED', key.secret, '', xff('203.0.113.7, 198.51.100.7'));
  await expectGate(200, 'VALID', key.secret, '', xff('198.51.100.7, 203.0.113.7'));
  // Without the header the address is the peer, 127.0.0.1.
  await expectGate(403, 'IP_NOT_ALLOWED', key.secret);
  const local = await createKey({ name: 'local', permissions: ['orders.read'], allowedIps: ['127.0.0.1'] });
  await expectGate(200, 'VALID', local.secret);
});

test('authorize: 429 with Retry-After and RateLimit-* headers; cost', async () => {
  const key = await createKey({ name: 'limited', permissions: ['orders.read'], rateLimit: { limit: 2, period: '1h' } });
  const seconds = (res, h) => {
    const v = res.headers.get(h);
    assert.match(v ?? '', /^\d+$/, `${h}: ${v}`);
    return Number(v);
  };
  let res = await expectGate(200, 'VALID', key.secret);
  assert.equal(res.headers.get('ratelimit-limit'), '2');
  assert.equal(res.headers.get('ratelimit-remaining'), '1');
  // A unit stops counting between one period and one period plus a
  // sub-window (period / 63) after it was taken.
  const reset = seconds(res, 'ratelimit-reset');
  assert.ok(reset > 0 && reset <= 3600 + 58, `RateLimit-Reset ${reset}`);
  assert.equal(res.headers.get('retry-after'), null);
  res = await expectGate(200, 'VALID', key.secret);
  assert.equal(res.headers.get('ratelimit-remaining'), '0');
  res = await expectGate(429, 'RATE_LIMITED', key.secret);
  assert.equal(res.headers.get('ratelimit-limit'), '2');
  assert.equal(res.headers.get('ratelimit-remaining'), '0');
  seconds(res, 'ratelimit-reset');
  const retry = seconds(res, 'retry-after');
  assert.ok(retry >= 1 && retry <= 3600 + 58, `Retry-After ${retry}`);
  assert.equal(res.json.error.code, 'rate_limited');

  // cost takes that much at once.
  const costly = await createKey({ name: 'costly', permissions: ['orders.read'], rateLimit: { limit: 3, period: '1h' } });
  res = await expectGate(200, 'VALID', costly.secret, '?cost=2');
  assert.equal(res.headers.get('ratelimit-remaining'), '1');
  await expectGate(429, 'RATE_LIMITED', costly.secret, '?cost=2');
  res = await expectGate(200, 'VALID', costly.secret, '?cost=1');
  assert.equal(res.headers.get('ratelimit-remaining'), '0');
  for (const cost of ['0', '-1', 'x', '1000001']) {
    const bad = await gate(`/v1/authorize?cost=${cost}`, { headers: { Authorization: `Bearer ${costly.secret}` } });
    assert.equal(bad.status, 400, `cost=${cost}`);
    assert.equal(bad.json.error.code, 'invalid_request');
  }
  // A key without a limit sends no RateLimit headers.
  const open = await createKey({ name: 'open', permissions: ['orders.read'] });
  res = await expectGate(200, 'VALID', open.secret);
  assert.equal(res.headers.get('ratelimit-limit'), null);
});

test('authorize?gateway=nginx: rate limited is a 403 with X-Latchkey-Code RATE_LIMITED', async () => {
  const key = await createKey({ name: 'nginx', permissions: ['orders.read'], rateLimit: { limit: 1, period: '1h' } });
  await expectGate(200, 'VALID', key.secret, '?gateway=nginx');
  const res = await expectGate(403, 'RATE_LIMITED', key.secret, '?gateway=nginx');
  assert.ok(Number(res.headers.get('retry-after')) >= 1);
  assert.equal(res.headers.get('ratelimit-remaining'), '0');
  // Without it, the same state is a 429.
  await expectGate(429, 'RATE_LIMITED', key.secret);
  // Other refusals are unchanged in the nginx form.
  await expectGate(401, 'NOT_FOUND', `sk_live_${'C'.repeat(49)}`, '?gateway=nginx');
});

test('authorize?app=: keys of other apps (and of the account) are NOT_FOUND', async () => {
  const appA = await createApp('A');
  const appB = await createApp('B');
  const key = await appKey(appA, ['orders.read']);
  const acct = await createKey({ name: 'account-owned', permissions: ['orders.read'] });
  await expectGate(200, 'VALID', key.secret, `?app=${appA}`);
  await expectGate(200, 'VALID', key.secret, `?app=${appB}&app=${appA}`);
  // The same answer as for a key that does not exist: nothing leaks.
  const res = await expectGate(401, 'NOT_FOUND', key.secret, `?app=${appB}`);
  const unknown = await expectGate(401, 'NOT_FOUND', `sk_live_${'D'.repeat(49)}`, `?app=${appB}`);
  assert.deepEqual(res.json, unknown.json);
  await expectGate(401, 'NOT_FOUND', signJwt(key.id, key.secret, 'app'), `?app=${appB}`);
  await expectGate(401, 'NOT_FOUND', acct.secret, `?app=${appA}`);
  // Without app, any key of any account is answered for.
  await expectGate(200, 'VALID', acct.secret);
});

test('authorize: any method, and paths below it (Envoy) take app and permission from headers, not the client\'s query', async () => {
  const appA = await createApp('Protected');
  const appB = await createApp('Other');
  const keyA = await appKey(appA, ['orders.read'], { rateLimit: { limit: 2, period: '1h' } });
  const keyB = await appKey(appB, ['orders.read', 'billing.read']);
  const auth = (k) => ({ 'X-API-Key': k.secret });
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    assertGate(await gate('/v1/authorize', { method, headers: auth(keyB) }), 200, 'VALID', `${method} /v1/authorize`);
  }
  const head = await gate('/v1/authorize/orders', { method: 'HEAD', headers: auth(keyB) });
  assertGate(head, 200, 'VALID', 'HEAD below');

  // The gateway protects app A and needs orders.read; the client adds its own app and permission to the query.
  const gw = { 'X-Latchkey-App': appA, 'X-Latchkey-Permission': 'orders.read' };
  const below = (path, k, headers = gw, method = 'GET') => gate(path, { method, headers: { ...auth(k), ...headers } });
  assertGate(await below(`/v1/authorize/orders/17?app=${appB}`, keyB), 401, 'NOT_FOUND', 'client names its app');
  assertGate(await below(`/v1/authorize/orders/17?app=${appB}&permission=`, keyB, {}, 'DELETE'), 200, 'VALID', 'no gateway headers');
  const okA = await below('/v1/authorize/orders/17?permission=admin.everything', keyA, gw, 'POST');
  assertGate(okA, 200, 'VALID', 'client names a permission');
  assert.equal(okA.headers.get('x-latchkey-key-id'), keyA.id);
  // The headers decide, comma-separated or repeated.
  assertGate(await below('/v1/authorize/x', keyB, { 'X-Latchkey-App': `${appA}, ${appB}` }), 200, 'VALID', 'apps A, B');
  assertGate(await below('/v1/authorize/x', keyB, { 'X-Latchkey-Permission': 'orders.read,billing.read' }), 200, 'VALID', 'both granted');
  assertGate(await below('/v1/authorize/x', keyA, { 'X-Latchkey-Permission': 'orders.read, billing.read' }), 403, 'INSUFFICIENT_PERMISSIONS', 'one missing');
  // The client's cost=0 is no error and takes the default 1; gateway=nginx is not the gateway's word.
  const c = await below('/v1/authorize/orders?cost=0', keyA);
  assertGate(c, 200, 'VALID', 'client cost=0');
  assert.equal(c.headers.get('ratelimit-remaining'), '0', 'okA and this one took 1 each');
  assertGate(await below('/v1/authorize/orders?cost=1&gateway=nginx', keyA), 429, 'RATE_LIMITED', 'the client\'s own gateway flag');
});

// ------------------------------------------------------------------ usage

test('usage: verifications show by code in /v1/keys/{id}/usage, and lastUsedAt is set', async () => {
  const key = await createKey({ name: 'counted', permissions: ['orders.read'], allowedIps: ['203.0.113.0/24'], rateLimit: { limit: 4, period: '1h' } });
  assert.equal(key.lastUsedAt, null);
  const ip = '203.0.113.5';
  await expectVerify('VALID', key.secret, { ip });
  await expectVerify('VALID', `${key.id}:${key.secret}`, { ip });
  await expectVerify('VALID', signJwt(key.id, key.secret, 'account'), { ip });
  await expectGate(200, 'VALID', key.secret, '', { 'X-Forwarded-For': ip });
  await expectVerify('RATE_LIMITED', key.secret, { ip });
  await expectVerify('INSUFFICIENT_PERMISSIONS', key.secret, { ip, permissions: ['billing.read'] });
  await expectVerify('IP_NOT_ALLOWED', key.secret);
  await expectGate(403, 'IP_NOT_ALLOWED', key.secret);
  await patchKey(key.id, { enabled: false });
  await expectVerify('DISABLED', key.secret, { ip });
  await patchKey(key.id, { enabled: true, expiresAt: '2001-01-01T00:00:00Z' });
  await expectVerify('EXPIRED', key.secret, { ip });
  const want = { VALID: 4, RATE_LIMITED: 1, INSUFFICIENT_PERMISSIONS: 1, IP_NOT_ALLOWED: 2, DISABLED: 1, EXPIRED: 1 };

  // The server writes usage every 5 s: poll, bounded.
  const last = await poll(async () => {
    const u = await ok('GET', `/v1/keys/${key.id}/usage?granularity=minute`);
    const totals = {};
    for (const b of u.buckets) {
      for (const [code, n] of Object.entries(b.counts)) totals[code] = (totals[code] ?? 0) + n;
    }
    return { u, totals, done: Object.entries(want).every(([code, n]) => (totals[code] ?? 0) >= n) };
  });
  assert.deepEqual(last.totals, want, JSON.stringify(last.u));
  assert.equal(last.u.keyId, key.id);
  assert.equal(last.u.granularity, 'minute');
  for (const b of last.u.buckets) assert.match(b.start, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$/);

  const got = await ok('GET', `/v1/keys/${key.id}`);
  assert.match(got.lastUsedAt ?? '', RFC3339, 'lastUsedAt after a flushed VALID verification');
  assert.ok(Math.abs(Date.parse(got.lastUsedAt) - Date.now()) < 120_000, got.lastUsedAt);
});
