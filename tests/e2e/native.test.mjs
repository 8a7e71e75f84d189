// The native management API under /v1, driven with Node's fetch against the
// real binary: apps, keys with a prefix and permissions, cursor paging,
// PATCH, rolling with and without a grace period, whoami, delete, and the
// one error format.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer, initialCredentials } from './lib/server.mjs';

let server;
let base;
let admin;

before(async () => {
  server = await startServer();
  base = server.baseURL;
  admin = initialCredentials(server.dataDir).secret;
});

after(async () => {
  await stopServer(server);
});

const KEY_ID = /^key_[0-9A-HJKMNP-TV-Z]{26}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** Sends a request with secret as a Bearer token; returns status, headers and JSON. */
async function api(method, path, { secret = admin, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(30_000) };
  if (secret) init.headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) {
    init.headers['Content-Type'] ??= 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

/** Asserts a response is the error format with this status, code and fields. */
function assertError(res, status, code, fields) {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.deepEqual(Object.keys(res.json), ['error']);
  assert.equal(res.json.error.code, code);
  assert.equal(typeof res.json.error.message, 'string');
  assert.ok(res.json.error.message.length > 0);
  if (fields) assert.deepEqual(res.json.error.fields.map((f) => f.field).sort(), [...fields].sort());
  else assert.equal(res.json.error.fields, undefined);
}

test('apps: create, get, list, patch, delete', async () => {
  const made = await api('POST', '/v1/apps', { body: { name: 'Shop', metadata: { tier: 'gold' } } });
  assert.equal(made.status, 201);
  const app = made.json;
  assert.deepEqual(Object.keys(app).sort(), ['createdAt', 'id', 'metadata', 'name', 'updatedAt']);
  assert.match(app.id, /^[0-9a-f]{24}$/);
  assert.equal(app.name, 'Shop');
  assert.deepEqual(app.metadata, { tier: 'gold' });
  assert.match(app.createdAt, RFC3339);

  assert.deepEqual((await api('GET', `/v1/apps/${app.id}`)).json, app);
  const list = await api('GET', '/v1/apps');
  assert.equal(list.status, 200);
  assert.ok(list.json.data.some((a) => a.id === app.id));
  assert.equal(list.json.nextCursor, null);

  const patched = await api('PATCH', `/v1/apps/${app.id}`, { body: { name: 'Shop 2', metadata: null } });
  assert.equal(patched.status, 200);
  assert.equal(patched.json.name, 'Shop 2');
  assert.equal(patched.json.metadata, null);

  const del = await api('DELETE', `/v1/apps/${app.id}`);
  assert.equal(del.status, 204);
  assertError(await api('GET', `/v1/apps/${app.id}`), 404, 'not_found');
});

test('keys: a prefixed key with permissions, for an app; the secret is shown once', async () => {
  const app = (await api('POST', '/v1/apps', { body: { name: 'Keys app' } })).json;
  const made = await api('POST', '/v1/keys', {
    body: {
      name: 'Customer 42', owner: { type: 'app', id: app.id }, prefix: 'acme',
      permissions: ['orders.read', 'orders.items.*'],
      acl: [{ scope: { productId: ['p1'] }, permissions: ['billing.read'] }],
      allowedIps: ['203.0.113.0/24'], rateLimit: { limit: 100, period: '1m' }, metadata: { customer: 42 },
    },
  });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  const key = made.json;
  assert.match(key.id, KEY_ID);
  assert.equal(made.headers.get('location'), `${base}/v1/keys/${key.id}`);
  assert.match(key.secret, /^acme_sk_live_[A-Za-z0-9_-]{49}$/);
  assert.deepEqual({ ...key, id: undefined, secret: undefined, createdAt: undefined, updatedAt: undefined }, {
    id: undefined, secret: undefined, createdAt: undefined, updatedAt: undefined,
    name: 'Customer 42', owner: { type: 'app', id: app.id }, type: 'secret', prefix: 'acme',
    permissions: ['orders.read', 'orders.items.*'],
    acl: [{ scope: { productId: ['p1'] }, permissions: ['billing.read'] }],
    allowedIps: ['203.0.113.0/24'], expiresAt: null, rateLimit: { limit: 100, period: '1m' },
    metadata: { customer: 42 }, enabled: true, lastUsedAt: null,
  });

  const got = await api('GET', `/v1/keys/${key.id}`);
  assert.equal(got.status, 200);
  assert.equal('secret' in got.json, false);
  const { secret, ...withoutSecret } = key;
  assert.deepEqual(got.json, withoutSecret);

  // Without permissions a key is granted nothing: it authenticates, and no more.
  const bare = (await api('POST', '/v1/keys', { body: { name: 'bare' } })).json;
  assert.deepEqual([bare.permissions, bare.acl], [[], []]);
  assertError(await api('POST', '/v1/apps', { secret: bare.secret, body: { name: 'x' } }), 403, 'forbidden');
  assert.equal((await api('GET', '/v1/whoami', { secret: bare.secret })).status, 200);
  // And no key makes a key wider than itself.
  const maker = (await api('POST', '/v1/keys', { body: { name: 'maker', permissions: ['CreateKey', 'orders.*'] } })).json;
  assertError(await api('POST', '/v1/keys', { secret: maker.secret, body: { name: 'c', permissions: ['*'] } }), 403, 'forbidden');
  assert.equal((await api('POST', '/v1/keys', { secret: maker.secret, body: { name: 'c', permissions: ['orders.read'] } })).status, 201);
});

test('keys: list with a cursor, and by owner', async () => {
  const app = (await api('POST', '/v1/apps', { body: { name: 'Paged' } })).json;
  const ids = [];
  for (let i = 0; i < 12; i++) {
    ids.push((await api('POST', '/v1/keys', { body: { name: `k${i}`, owner: { type: 'app', id: app.id } } })).json.id);
  }
  ids.sort();
  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const q = new URLSearchParams({ ownerType: 'app', ownerId: app.id, limit: '5' });
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `/v1/keys?${q}`);
    assert.equal(page.status, 200);
    assert.ok(page.json.data.length <= 5);
    for (const k of page.json.data) assert.equal('secret' in k, false);
    seen.push(...page.json.data.map((k) => k.id));
    cursor = page.json.nextCursor;
    pages++;
  } while (cursor !== null);
  assert.equal(pages, 3);
  assert.deepEqual(seen, ids);

  // Without a filter: every key the caller may see, the app's among them.
  const all = await api('GET', '/v1/keys?limit=100');
  assert.ok(ids.every((id) => all.json.data.some((k) => k.id === id)));
});

test('keys: patch, roll with grace 0 and 1h, whoami, delete', async () => {
  const key = (await api('POST', '/v1/keys', { body: { name: 'rolling', permissions: ['GetKey'], metadata: { a: 1 } } })).json;

  const patched = await api('PATCH', `/v1/keys/${key.id}`, {
    body: { name: 'renamed', allowedIps: ['198.51.100.7'], metadata: null, enabled: false },
  });
  assert.equal(patched.status, 200);
  assert.equal(patched.json.name, 'renamed');
  assert.deepEqual(patched.json.permissions, ['GetKey']);
  assert.deepEqual(patched.json.allowedIps, ['198.51.100.7']);
  assert.equal(patched.json.metadata, null);
  assert.equal(patched.json.enabled, false);
  assertError(await api('GET', '/v1/whoami', { secret: key.secret }), 401, 'unauthorized');
  assertError(await api('PATCH', `/v1/keys/${key.id}`, { body: { type: 'publishable' } }), 400, 'invalid_request', ['type']);
  const cleared = await api('PATCH', `/v1/keys/${key.id}`, { body: { allowedIps: null, enabled: true } });
  assert.equal(cleared.json.allowedIps, null);

  // whoami describes the calling key, never with its secret.
  const me = await api('GET', '/v1/whoami', { secret: key.secret });
  assert.equal(me.status, 200);
  assert.equal(me.json.id, key.id);
  assert.equal('secret' in me.json, false);

  // Grace 0 (the default): the old secret stops at once.
  const rolled = await api('POST', `/v1/keys/${key.id}/roll`, { body: { gracePeriod: '0' } });
  assert.equal(rolled.status, 200);
  assert.notEqual(rolled.json.secret, key.secret);
  assertError(await api('GET', '/v1/whoami', { secret: key.secret }), 401, 'unauthorized');
  assert.equal((await api('GET', '/v1/whoami', { secret: rolled.json.secret })).status, 200);

  // Grace 1h: both work.
  const again = await api('POST', `/v1/keys/${key.id}/roll`, { body: { gracePeriod: '1h' } });
  assert.equal(again.status, 200);
  for (const s of [rolled.json.secret, again.json.secret]) {
    assert.equal((await api('GET', '/v1/whoami', { secret: s })).status, 200);
  }

  const usage = await api('GET', `/v1/keys/${key.id}/usage?granularity=day`);
  assert.equal(usage.status, 200);
  assert.equal(usage.json.keyId, key.id);
  assert.equal(usage.json.granularity, 'day');
  assert.ok(Array.isArray(usage.json.buckets));

  assert.equal((await api('DELETE', `/v1/keys/${key.id}`)).status, 204);
  assertError(await api('GET', `/v1/keys/${key.id}`), 404, 'not_found');
  assertError(await api('GET', '/v1/whoami', { secret: again.json.secret }), 401, 'unauthorized');
});

test('errors: one format for every refusal', async () => {
  const unauth = await api('GET', '/v1/keys', { secret: '' });
  assertError(unauth, 401, 'unauthorized');
  assert.equal(unauth.headers.get('www-authenticate'), 'Bearer realm="latchkey"');

  assertError(await api('POST', '/v1/keys', { body: '{"name":' }), 400, 'invalid_request', []);
  assertError(await api('POST', '/v1/keys', {
    body: { name: '', permissions: ['a b'], allowedIps: ['10.0.0.1'], expiresAt: '2001-01-01T00:00:00Z', rateLimit: { limit: 0, period: '1y' } },
  }), 400, 'invalid_request', ['name', 'permissions.0', 'allowedIps.0', 'expiresAt', 'rateLimit.limit', 'rateLimit.period']);
  assertError(await api('POST', '/v1/keys', { body: { name: 'x', owner: { type: 'app', id: '000000000000000000000000' } } }), 404, 'not_found');
  assertError(await api('POST', '/v1/keys', { body: 'name=x', headers: { 'Content-Type': 'text/plain' } }), 415, 'unsupported_media_type');
  assertError(await api('POST', '/v1/keys', { body: { name: 'x'.repeat(100_001) } }), 413, 'payload_too_large');

  const me = (await api('GET', '/v1/whoami')).json;
  assertError(await api('DELETE', `/v1/keys/${me.id}`), 409, 'conflict');

  const notAllowed = await api('PUT', '/v1/keys');
  assertError(notAllowed, 405, 'method_not_allowed');
  assert.equal(notAllowed.headers.get('allow'), 'GET, HEAD, POST');
  assertError(await api('GET', '/v1/nothing-here'), 404, 'not_found');
});
