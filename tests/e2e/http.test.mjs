// Raw HTTP with fetch, as curl would send it: the documented request for an
// integration key, and the refusals of bad input, each leaving state as it was.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer, bootstrap } from './lib/server.mjs';
import { basic, basicHeader, request, assertErrorBody, customIntegration, Sunshine, KEY_ID } from './lib/client.mjs';

let server;
let creds; // from `latchkey bootstrap`
let appId;
let integrationId;
let keysURL;
let auth;

before(async () => {
  server = await startServer();
  creds = await bootstrap(server.dataDir, { name: 'Docs account' });
  const api = basic(server.baseURL, creds.id, creds.secret);
  appId = (await api.apps.createApp(new Sunshine.AppCreateBody('Docs app'))).app.id;
  integrationId = (await api.integrations.createIntegration(appId, customIntegration('Docs integration'))).integration.id;
  keysURL = `${server.baseURL}/v2/apps/${appId}/integrations/${integrationId}/keys`;
  auth = basicHeader(creds.id, creds.secret);
});

after(async () => {
  await stopServer(server);
});

async function keyIds() {
  const res = await request(keysURL, { headers: { Authorization: auth } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.json), ['keys']);
  return res.json.keys.map((k) => k.id).sort();
}

const post = (body, headers = {}) => request(keysURL, {
  method: 'POST',
  headers: { Authorization: auth, 'Content-Type': 'application/json', ...headers },
  body,
});

test('the documented request: POST .../integrations/{id}/keys with Basic act_ credentials', async () => {
  assert.match(creds.id, KEY_ID.account);
  // curl -X POST $BASE/v2/apps/$APP/integrations/$INT/keys \
  //   --user 'act_…:secret' -H 'content-type: application/json' \
  //   -d '{"displayName": "My custom key"}'
  const res = await request(keysURL, {
    method: 'POST',
    headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: '{"displayName": "My custom key"}',
  });
  assert.equal(res.status, 201, res.text);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(Object.keys(res.json), ['key']);
  assert.deepEqual(Object.keys(res.json.key).sort(), ['displayName', 'id', 'secret']);
  assert.match(res.json.key.id, KEY_ID.integration);
  assert.equal(res.json.key.displayName, 'My custom key');
  assert.equal(typeof res.json.key.secret, 'string');
  assert.ok(res.json.key.secret.length > 0);
  assert.deepEqual(res.json, { key: { id: res.json.key.id, displayName: 'My custom key', secret: res.json.key.secret } });

  // The new key is listed, and works (as an integration key: authenticated,
  // then 403 on a route that does not admit its scope).
  assert.ok((await keyIds()).includes(res.json.key.id));
  const asInt = await request(keysURL, { headers: { Authorization: basicHeader(res.json.key.id, res.json.key.secret) } });
  assertErrorBody(asInt, 403, 'forbidden');

  // GET and DELETE of that key, also plain.
  const one = await request(`${keysURL}/${res.json.key.id}`, { headers: { Authorization: auth } });
  assert.equal(one.status, 200);
  assert.deepEqual(one.json, res.json);
  const del = await request(`${keysURL}/${res.json.key.id}`, { method: 'DELETE', headers: { Authorization: auth } });
  assert.equal(del.status, 200);
  assert.deepEqual(del.json, {});
  assert.match(del.headers.get('content-type'), /^application\/json/);
  assert.ok(!(await keyIds()).includes(res.json.key.id));

  // The request log names key ids, never secrets or Authorization headers.
  const log = server.stderr();
  assert.match(log, new RegExp(`msg=request method=POST path=/v2/apps/${appId}/integrations/${integrationId}/keys status=201`));
  assert.ok(log.includes(`key=${creds.id}`));
  for (const secret of [creds.secret, res.json.key.secret]) assert.ok(!log.includes(secret), 'a secret reached the log');
  assert.ok(!log.includes(auth.slice('Basic '.length)), 'an Authorization header reached the log');
});

/** A JSON body of exactly n bytes: {"displayName":"big","pad":"ppp…"}. */
function sized(n) {
  const empty = JSON.stringify({ displayName: 'big', pad: '' });
  const body = JSON.stringify({ displayName: 'big', pad: 'p'.repeat(n - empty.length) });
  assert.equal(Buffer.byteLength(body), n);
  return body;
}

test('bad input is refused and changes nothing', async () => {
  const created = await post('{"displayName":"Existing"}');
  assert.equal(created.status, 201);
  const before = await keyIds();
  assert.ok(before.length >= 1);

  const cases = [
    ['malformed JSON', () => post('{"displayName": '), 400, 'bad_request'],
    ['not JSON at all', () => post('displayName=x'), 400, 'bad_request'],
    ['a JSON array', () => post('[{"displayName":"x"}]'), 400, 'bad_request'],
    ['an empty body', () => post(''), 400, 'bad_request'],
    ['missing displayName', () => post('{}'), 400, 'bad_request'],
    ['displayName of another type', () => post('{"displayName": 42}'), 400, 'bad_request'],
    ['null displayName', () => post('{"displayName": null}'), 400, 'bad_request'],
    ['empty displayName', () => post('{"displayName": ""}'), 400, 'bad_request'],
    ['displayName of 101 characters', () => post(JSON.stringify({ displayName: 'd'.repeat(101) })), 400, 'bad_request'],
    ['a body over 100 kB', () => post(JSON.stringify({ displayName: 'big', pad: 'p'.repeat(100_000) })), 413, 'payload_too_large'],
    ['a body of 100,001 bytes', () => post(sized(100_001)), 413, 'payload_too_large'],
    ['a text/plain body', () => post('{"displayName":"x"}', { 'Content-Type': 'text/plain' }), 415, 'unsupported_media_type'],
  ];
  for (const [name, send, status, code] of cases) {
    const res = await send();
    assertErrorBody(res, status, code);
    assert.deepEqual(await keyIds(), before, `state changed after: ${name}`);
  }

  // Exactly 100,000 bytes is within the limit (unknown members are ignored).
  const limit = await post(sized(100_000));
  assert.equal(limit.status, 201, limit.text);
  assert.equal(limit.json.key.displayName, 'big');
  await request(`${keysURL}/${limit.json.key.id}`, { method: 'DELETE', headers: { Authorization: auth } });
  assert.deepEqual(await keyIds(), before);

  const missing = await post('{}');
  assert.equal(missing.json.errors[0].title, "should have required property 'displayName'");
  const tooLong = await post(JSON.stringify({ displayName: 'd'.repeat(101) }));
  assert.equal(tooLong.json.errors[0].title, 'displayName should NOT be longer than 100 characters');

  // Exactly 100 characters is fine.
  const hundred = await post(JSON.stringify({ displayName: 'd'.repeat(100) }));
  assert.equal(hundred.status, 201);
  assert.equal(hundred.json.key.displayName, 'd'.repeat(100));
  await request(`${keysURL}/${hundred.json.key.id}`, { method: 'DELETE', headers: { Authorization: auth } });
  await request(`${keysURL}/${created.json.key.id}`, { method: 'DELETE', headers: { Authorization: auth } });
});

test('a streamed (chunked) body over 100 kB is refused with 413', async () => {
  const before = await keyIds();
  const chunk = new TextEncoder().encode('p'.repeat(10_000));
  let sent = 0;
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"displayName":"streamed","pad":"'));
    },
    pull(controller) {
      if (sent >= 15) {
        controller.enqueue(new TextEncoder().encode('"}'));
        controller.close();
        return;
      }
      sent++;
      controller.enqueue(chunk);
    },
  });
  let res;
  try {
    const r = await fetch(keysURL, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: stream,
      duplex: 'half',
      signal: AbortSignal.timeout(30_000),
    });
    res = { status: r.status, headers: r.headers, text: await r.text() };
    res.json = JSON.parse(res.text);
  } catch (err) {
    // The server may close the connection once it has refused the body;
    // what matters then is that nothing was stored.
    assert.ok(!res, `unexpected failure: ${err}`);
  }
  if (res) assertErrorBody(res, 413, 'payload_too_large');
  assert.deepEqual(await keyIds(), before);
});

test('wrong method: 405 with an Allow header, and nothing changes', async () => {
  const before = await keyIds();
  const put = await request(keysURL, {
    method: 'PUT',
    headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: '{"displayName":"put"}',
  });
  assertErrorBody(put, 405, 'method_not_allowed');
  const allow = put.headers.get('allow').split(/,\s*/);
  assert.ok(allow.includes('GET') && allow.includes('POST'), `Allow: ${allow}`);
  assert.ok(!allow.includes('PUT') && !allow.includes('DELETE') && !allow.includes('PATCH'), `Allow: ${allow}`);

  const key = (await post('{"displayName":"target"}')).json.key;
  const patch = await request(`${keysURL}/${key.id}`, {
    method: 'PATCH',
    headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: '{"displayName":"renamed"}',
  });
  assertErrorBody(patch, 405, 'method_not_allowed');
  const allowKey = patch.headers.get('allow').split(/,\s*/);
  assert.ok(allowKey.includes('GET') && allowKey.includes('DELETE'), `Allow: ${allowKey}`);
  assert.ok(!allowKey.includes('PATCH') && !allowKey.includes('POST'), `Allow: ${allowKey}`);
  const still = await request(`${keysURL}/${key.id}`, { headers: { Authorization: auth } });
  assert.equal(still.json.key.displayName, 'target');

  const putApps = await request(`${server.baseURL}/v2/apps`, { method: 'PUT', headers: { Authorization: auth } });
  assertErrorBody(putApps, 405, 'method_not_allowed');
  const allowApps = putApps.headers.get('allow').split(/,\s*/);
  assert.ok(allowApps.includes('GET') && allowApps.includes('POST'), `Allow: ${allowApps}`);

  await request(`${keysURL}/${key.id}`, { method: 'DELETE', headers: { Authorization: auth } });
  assert.deepEqual(await keyIds(), before);
});

test('Authorization refusals over plain HTTP', async () => {
  const none = await request(keysURL);
  assertErrorBody(none, 401, 'unauthorized');
  assert.equal(none.json.errors[0].title, 'Authorization is required');
  assertErrorBody(await request(keysURL, { headers: { Authorization: 'Basic !!!' } }), 401, 'unauthorized');
  assertErrorBody(await request(keysURL, { headers: { Authorization: 'Basic ' + Buffer.from('no-colon').toString('base64') } }), 401, 'unauthorized');
  assertErrorBody(await request(keysURL, { headers: { Authorization: 'Digest foo' } }), 401, 'unauthorized');
  assertErrorBody(await request(keysURL, { headers: { Authorization: 'Bearer' } }), 401, 'unauthorized');
  // A refused POST stores nothing.
  const before = await keyIds();
  assertErrorBody(await post('{"displayName":"x"}', { Authorization: basicHeader(creds.id, 'wrong') }), 401, 'unauthorized');
  assert.deepEqual(await keyIds(), before);
});
