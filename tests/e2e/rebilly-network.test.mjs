// Rebilly keys and the deployment's flags: IP allowlists behind a trusted
// proxy (--trusted-proxies) and without one, --allow-private-ips, and
// --environment sandbox. Four servers, one per configuration.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer, initialCredentials } from './lib/server.mjs';
import { request, basicHeader, signJwt } from './lib/client.mjs';
import {
  rebilly, SECRET, PUBLISHABLE, assertApiKey, assertProblem, rejectsForbidden, rejectsInvalid, idsOf,
} from './lib/rebilly.mjs';

const servers = {};

before(async () => {
  const [proxied, direct, internal, sandbox] = await Promise.all([
    startServer({ args: ['--trusted-proxies', '127.0.0.1/32'] }),
    startServer(),
    startServer({ args: ['--allow-private-ips'] }),
    startServer({ args: ['--environment', 'sandbox'] }),
  ]);
  Object.assign(servers, { proxied, direct, internal, sandbox });
  for (const s of Object.values(servers)) s.creds = initialCredentials(s.dataDir);
});

after(async () => {
  // Stop them all, then report the first failure, if any.
  const results = await Promise.allSettled(Object.values(servers).map((s) => stopServer(s)));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
});

const FENCE = ['203.0.113.0/24'];
const INSIDE = '203.0.113.7';
const OUTSIDE = '198.51.100.7';

/** GET /api-keys with REB-APIKEY and any extra headers. */
const list = (s, secret, headers = {}) => request(`${s.baseURL}/api-keys?limit=1`, { headers: { 'REB-APIKEY': secret, ...headers } });

/** Asserts the 403 the allowlist gives, naming the address it saw. */
function assertRefusedFrom(res, addr) {
  assertProblem(res, 403, 'Forbidden');
  assert.equal(res.json.detail, `Forbidden: this key may not be used from ${addr}`);
}

/** An SDK that sends X-Forwarded-For on every request, as a proxy would add it. */
function forwardedSdk(s, secret, xff) {
  const api = rebilly(s.baseURL, secret);
  api.addRequestInterceptor({ thenDelegate: (c) => { c.headers['X-Forwarded-For'] = xff; return c; } });
  return api;
}

test('allowedIps behind a trusted proxy: X-Forwarded-For decides', async () => {
  const s = servers.proxied;
  const key = (await rebilly(s.baseURL, s.creds.secret).apiKeys.create({ data: { description: 'fenced', allowedIps: FENCE } })).fields;
  assertApiKey(key, s.baseURL, { allowedIps: FENCE });

  assertRefusedFrom(await list(s, key.secretKey, { 'X-Forwarded-For': OUTSIDE }), OUTSIDE);
  const ok = await list(s, key.secretKey, { 'X-Forwarded-For': INSIDE });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.headers.get('pagination-total'), '2');
  // No header: the client is the proxy itself.
  assertRefusedFrom(await list(s, key.secretKey), '127.0.0.1');
  // The nearest hop the trusted proxy names is the client; entries further
  // left are the client's own claims and do not count.
  assert.equal((await list(s, key.secretKey, { 'X-Forwarded-For': `${OUTSIDE}, ${INSIDE}` })).status, 200);
  assertRefusedFrom(await list(s, key.secretKey, { 'X-Forwarded-For': `${INSIDE}, ${OUTSIDE}` }), OUTSIDE);
  // Trusted hops are skipped; an entry that does not parse ends the walk.
  assert.equal((await list(s, key.secretKey, { 'X-Forwarded-For': `${INSIDE}, 127.0.0.1` })).status, 200);
  assertRefusedFrom(await list(s, key.secretKey, { 'X-Forwarded-For': 'not-an-address' }), '127.0.0.1');
  assertRefusedFrom(await list(s, key.secretKey, { 'X-Forwarded-For': `${INSIDE}, not-an-address` }), '127.0.0.1');
  // Only the configured header (X-Forwarded-For by default) is believed: a
  // Forwarded header, which most proxies pass through untouched, is the
  // client's own claim and never decides.
  assertRefusedFrom(await list(s, key.secretKey, { Forwarded: 'for=203.0.113.9;proto=https', 'X-Forwarded-For': OUTSIDE }), OUTSIDE);
  assert.equal((await list(s, key.secretKey, { Forwarded: `for=${OUTSIDE}`, 'X-Forwarded-For': INSIDE })).status, 200);
  assertRefusedFrom(await list(s, key.secretKey, { Forwarded: 'for=203.0.113.9' }), '127.0.0.1');

  // Through the SDK: a 403 is a plain RebillyRequestError.
  const outside = forwardedSdk(s, key.secretKey, OUTSIDE);
  const err = await rejectsForbidden(outside.apiKeys.getAll());
  assert.equal(err.message, `Forbidden: this key may not be used from ${OUTSIDE}`);
  const inside = forwardedSdk(s, key.secretKey, INSIDE);
  assert.deepEqual(idsOf(await inside.apiKeys.getAll({ sort: ['createdTime'] })), [s.creds.id, key.id]);

  // Every credential form meets the same check, on Sunshine routes too.
  const jwt = `Bearer ${signJwt(key.id, key.secretKey, 'account')}`;
  for (const headers of [{ Authorization: jwt }, { Authorization: basicHeader(key.id, key.secretKey) }]) {
    assert.equal((await request(`${s.baseURL}/api-keys`, { headers: { ...headers, 'X-Forwarded-For': INSIDE } })).status, 200);
    assertRefusedFrom(await request(`${s.baseURL}/api-keys`, { headers: { ...headers, 'X-Forwarded-For': OUTSIDE } }), OUTSIDE);
    assert.equal((await request(`${s.baseURL}/v2/apps`, { headers: { ...headers, 'X-Forwarded-For': INSIDE } })).status, 200);
    const sun = await request(`${s.baseURL}/v2/apps`, { headers: { ...headers, 'X-Forwarded-For': OUTSIDE } });
    assert.equal(sun.status, 403);
    assert.equal(sun.json.errors[0].code, 'forbidden');
  }

  // Lifting the fence (allowedIps: null, by the unrestricted key) admits any address.
  await rebilly(s.baseURL, s.creds.secret).apiKeys.update({ id: key.id, data: { description: 'open', allowedIps: null } });
  assert.equal((await list(s, key.secretKey, { 'X-Forwarded-For': OUTSIDE })).status, 200);
  assert.equal((await list(s, key.secretKey)).status, 200);
});

test('allowedIps: a fenced key grants only addresses inside its own fence', async () => {
  const s = servers.proxied;
  const fenced = (await rebilly(s.baseURL, s.creds.secret).apiKeys.create({ data: { description: 'fenced creator', allowedIps: FENCE } })).fields;
  const api = forwardedSdk(s, fenced.secretKey, INSIDE);

  assertApiKey((await api.apiKeys.create({ data: { description: 'one address', allowedIps: ['203.0.113.7'] } })).fields, s.baseURL,
    { allowedIps: ['203.0.113.7'] });
  assertApiKey((await api.apiKeys.create({ data: { description: 'half', allowedIps: ['203.0.113.128/25'] } })).fields, s.baseURL,
    { allowedIps: ['203.0.113.128/25'] });
  // Omitted or null: the new key inherits the creator's fence.
  assertApiKey((await api.apiKeys.create({ data: { description: 'omitted' } })).fields, s.baseURL, { allowedIps: FENCE });
  assertApiKey((await api.apiKeys.create({ data: { description: 'null', allowedIps: null } })).fields, s.baseURL, { allowedIps: FENCE });
  for (const allowedIps of [['198.51.100.0/24'], ['203.0.112.0/23'], ['203.0.113.7', '198.51.100.7']]) {
    const err = await rejectsForbidden(api.apiKeys.create({ data: { description: 'wider', allowedIps } }));
    assert.match(err.message, /beyond its own/);
  }
});

test('allowedIps without --trusted-proxies: forwarding headers are ignored', async () => {
  const s = servers.direct;
  const key = (await rebilly(s.baseURL, s.creds.secret).apiKeys.create({ data: { description: 'fenced', allowedIps: FENCE } })).fields;
  assertRefusedFrom(await list(s, key.secretKey, { 'X-Forwarded-For': INSIDE }), '127.0.0.1');
  assertRefusedFrom(await list(s, key.secretKey, { Forwarded: `for=${INSIDE}` }), '127.0.0.1');
  assertRefusedFrom(await list(s, key.secretKey), '127.0.0.1');
  await rejectsForbidden(forwardedSdk(s, key.secretKey, INSIDE).apiKeys.getAll());
  // An unfenced key is unaffected by the header.
  assert.equal((await list(s, s.creds.secret, { 'X-Forwarded-For': OUTSIDE })).status, 200);
});

test('private ranges: 422 by default, accepted with --allow-private-ips', async () => {
  const direct = rebilly(servers.direct.baseURL, servers.direct.creds.secret);
  const err = await rejectsInvalid(direct.apiKeys.create({ data: { description: 'internal', allowedIps: ['10.0.0.0/8'] } }), ['allowedIps.0']);
  assert.match(err.invalidFields[0].message, /Private/);
  await rejectsInvalid(direct.apiKeys.create({ data: { description: 'loopback', allowedIps: ['127.0.0.1', '::1', '172.16.0.0/12'] } }),
    ['allowedIps.0', 'allowedIps.1', 'allowedIps.2']);

  const s = servers.internal;
  const api = rebilly(s.baseURL, s.creds.secret);
  const ten = (await api.apiKeys.create({ data: { description: 'internal', allowedIps: ['10.0.0.0/8'] } })).fields;
  assertApiKey(ten, s.baseURL, { allowedIps: ['10.0.0.0/8'] });
  const loop = (await api.apiKeys.create({ data: { description: 'loopback', allowedIps: ['127.0.0.1', '::1'] } })).fields;
  assertApiKey(loop, s.baseURL, { allowedIps: ['127.0.0.1', '::1'] });
  // And the fences hold: these tests connect from 127.0.0.1.
  assertRefusedFrom(await list(s, ten.secretKey), '127.0.0.1');
  assert.equal((await list(s, loop.secretKey)).status, 200);
  assert.equal((await rebilly(s.baseURL, loop.secretKey).apiKeys.get({ id: loop.id })).fields.id, loop.id);
  // Malformed addresses are still refused.
  await rejectsInvalid(api.apiKeys.create({ data: { description: 'bad', allowedIps: ['10.0.0.0/40'] } }), ['allowedIps.0']);
});

test('--environment sandbox issues sk_sandbox_ and pk_sandbox_ secrets', async () => {
  const s = servers.sandbox;
  assert.match(s.creds.secret, SECRET.sandbox, 'the first key, made by serve, is a sandbox key');
  const api = rebilly(s.baseURL, s.creds.secret, { sandbox: true });
  const sk = (await api.apiKeys.create({ data: { description: 'sandbox secret' } })).fields;
  assertApiKey(sk, s.baseURL, { type: 'secret' });
  assert.match(sk.secretKey, SECRET.sandbox);
  const pk = (await api.apiKeys.create({ id: 'sandbox-pk', data: { description: 'sandbox publishable', type: 'publishable' } })).fields;
  assert.match(pk.secretKey, PUBLISHABLE.sandbox);
  assert.equal((await rebilly(s.baseURL, sk.secretKey, { sandbox: true }).apiKeys.get({ id: 'sandbox-pk' })).fields.secretKey, pk.secretKey);
  // A live server issues live secrets.
  const live = (await rebilly(servers.direct.baseURL, servers.direct.creds.secret).apiKeys.create({ data: { description: 'live' } })).fields;
  assert.match(live.secretKey, SECRET.live);
});
