// Failed authentications are throttled per client address: past the
// threshold (here --failed-auth-limit 5/1m) each surface answers 429 with
// Retry-After in its own format, as the official clients see it, while a
// valid key from the same address keeps working. Refused attempts are in
// the account's audit log.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer, initialCredentials } from './lib/server.mjs';
import { basic, rejectsWith, request } from './lib/client.mjs';
import { rebilly, RebillyErrors } from './lib/rebilly.mjs';

let server;
let account;

before(async () => {
  server = await startServer({ args: ['--failed-auth-limit', '5/1m'] });
  account = initialCredentials(server.dataDir);
});

after(async () => {
  await stopServer(server);
});

test('throttle: the 6th failure in a minute is a 429 with Retry-After on every surface; a valid key still works', async () => {
  const wrong = basic(server.baseURL, account.id, 'sk_live_not-the-secret');
  for (let i = 0; i < 5; i++) {
    await rejectsWith(wrong.apps.listApps(), 401, 'unauthorized');
  }
  const err = await rejectsWith(wrong.apps.listApps(), 429, 'too_many_requests');
  assert.match(String(err.response.headers['retry-after']), /^[1-9][0-9]*$/);

  // rebilly-js-sdk has no class of its own for 429: a RebillyRequestError
  // carrying the problem object and the headers it reads.
  const badRebilly = rebilly(server.baseURL, 'sk_live_not-the-secret');
  await assert.rejects(badRebilly.apiKeys.getAll(), (e) => {
    assert.ok(e instanceof RebillyErrors.RebillyRequestError, `got ${e?.name}`);
    assert.equal(e.status, 429);
    assert.equal(e.response.data.status, 429);
    assert.equal(e.response.data.title, 'Too Many Requests');
    assert.match(String(e.response.headers['retry-after']), /^[1-9][0-9]*$/);
    assert.match(String(e.response.headers['x-ratelimit-retry-after']), /^[0-9]{10}$/);
    return true;
  });

  const native = await request(`${server.baseURL}/v1/keys`, { headers: { Authorization: 'Bearer sk_live_nope' } });
  assert.equal(native.status, 429);
  assert.equal(native.json.error.code, 'throttled');

  // The valid key, from the same address, is not slowed.
  const good = basic(server.baseURL, account.id, account.secret);
  assert.ok(Array.isArray((await good.apps.listApps()).apps));
  const goodRebilly = rebilly(server.baseURL, account.secret);
  assert.ok(Array.isArray((await goodRebilly.apiKeys.getAll()).items));

  // The five refusals that named the account's key are in its audit log,
  // each with the request id the client was sent.
  const log = await request(`${server.baseURL}/v1/audit-events?outcome=unauthorized&actor=${account.id}`,
    { headers: { Authorization: `Bearer ${account.secret}` } });
  assert.equal(log.status, 200);
  assert.equal(log.json.data.length, 5);
  for (const ev of log.json.data) {
    assert.equal(ev.action, 'app.list');
    assert.equal(ev.surface, 'sunshine');
    assert.equal(ev.clientIp, '127.0.0.1');
    assert.ok(ev.requestId);
  }
});
