// Integration keys (CustomIntegrationApiKeysApi) and app keys (AppKeysApi)
// through the official client: create, list, get, delete, the 10-key cap.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer, initialCredentials } from './lib/server.mjs';
import { basic, basicHeader, request, rejectsWith, assertDeleteResult, customIntegration, Sunshine, KEY_ID } from './lib/client.mjs';

let server;
let creds;
let api;
let appId;
let integrationId;

before(async () => {
  server = await startServer();
  creds = initialCredentials(server.dataDir);
  api = basic(server.baseURL, creds.id, creds.secret);
  appId = (await api.apps.createApp(new Sunshine.AppCreateBody('Keys app'))).app.id;
  integrationId = (await api.integrations.createIntegration(appId, customIntegration('Keys integration'))).integration.id;
});

after(async () => {
  await stopServer(server);
});

const sortedIds = (keys) => keys.map((k) => k.id).sort();

test('integration keys: create 201, list (with secret), get, delete', async () => {
  const { data, response } = await api.intKeys.createCustomIntegrationKeyWithHttpInfo(
    appId, integrationId, new Sunshine.IntegrationApiKey('My custom key'));
  assert.equal(response.status, 201);
  assert.ok(data instanceof Sunshine.IntegrationApiKeyResponse);
  assert.ok(data.key instanceof Sunshine.ApiKey);
  const key = data.key;
  assert.match(key.id, KEY_ID.integration);
  assert.equal(key.displayName, 'My custom key');
  assert.equal(typeof key.secret, 'string');
  assert.ok(key.secret.length > 0);
  assert.deepEqual(Object.keys(response.body.key).sort(), ['displayName', 'id', 'secret']);

  const list = await api.intKeys.listCustomIntegrationKeys(appId, integrationId);
  assert.ok(list instanceof Sunshine.IntegrationApiKeyListResponse);
  const listed = list.keys.find((k) => k.id === key.id);
  assert.ok(listed, 'the new key is listed');
  assert.equal(listed.displayName, 'My custom key');
  assert.equal(listed.secret, key.secret, 'list returns the secret, as the specification does');

  const got = await api.intKeys.getCustomIntegrationKey(appId, integrationId, key.id);
  assert.deepEqual({ ...got.key }, { ...key });

  const del = await api.intKeys.deleteCustomIntegrationKeyWithHttpInfo(appId, integrationId, key.id);
  assert.equal(del.response.status, 200);
  assert.deepEqual(del.response.body, {});
  assertDeleteResult(del.data);
  // deleteCustomIntegrationKey (without HttpInfo) resolves to the same.
  const k2 = (await api.intKeys.createCustomIntegrationKey(appId, integrationId, new Sunshine.IntegrationApiKey('k2'))).key;
  assertDeleteResult(await api.intKeys.deleteCustomIntegrationKey(appId, integrationId, k2.id));

  const err = await rejectsWith(api.intKeys.getCustomIntegrationKey(appId, integrationId, key.id), 404, 'not_found');
  assert.equal(err.body.errors[0].title, 'Resource not found');
  await rejectsWith(api.intKeys.deleteCustomIntegrationKey(appId, integrationId, key.id), 404, 'not_found');
  const after = await api.intKeys.listCustomIntegrationKeys(appId, integrationId);
  assert.ok(!after.keys.some((k) => k.id === key.id || k.id === k2.id));
});

test('integration keys: each create gets a distinct id and secret', async () => {
  const a = (await api.intKeys.createCustomIntegrationKey(appId, integrationId, new Sunshine.IntegrationApiKey('a'))).key;
  const b = (await api.intKeys.createCustomIntegrationKey(appId, integrationId, new Sunshine.IntegrationApiKey('a'))).key;
  assert.notEqual(a.id, b.id);
  assert.notEqual(a.secret, b.secret);
  await api.intKeys.deleteCustomIntegrationKey(appId, integrationId, a.id);
  await api.intKeys.deleteCustomIntegrationKey(appId, integrationId, b.id);
});

test('integration keys: bad bodies and unknown owners', async () => {
  const before = sortedIds((await api.intKeys.listCustomIntegrationKeys(appId, integrationId)).keys);
  const err = await rejectsWith(
    api.intKeys.createCustomIntegrationKey(appId, integrationId, new Sunshine.IntegrationApiKey()), 400, 'bad_request');
  assert.equal(err.body.errors[0].title, "should have required property 'displayName'");
  await rejectsWith(
    api.intKeys.createCustomIntegrationKey(appId, integrationId, new Sunshine.IntegrationApiKey('')), 400, 'bad_request');
  await rejectsWith(
    api.intKeys.createCustomIntegrationKey(appId, integrationId, new Sunshine.IntegrationApiKey('n'.repeat(101))), 400, 'bad_request');
  assert.deepEqual(sortedIds((await api.intKeys.listCustomIntegrationKeys(appId, integrationId)).keys), before);

  // 100 characters is the maximum, and counts characters, not bytes.
  const long = (await api.intKeys.createCustomIntegrationKey(appId, integrationId, new Sunshine.IntegrationApiKey('é'.repeat(100)))).key;
  assert.equal(long.displayName, 'é'.repeat(100));
  await api.intKeys.deleteCustomIntegrationKey(appId, integrationId, long.id);

  const ghost = '0123456789abcdef01234567';
  await rejectsWith(api.intKeys.listCustomIntegrationKeys(appId, ghost), 404, 'integration_not_found');
  await rejectsWith(
    api.intKeys.createCustomIntegrationKey(appId, ghost, new Sunshine.IntegrationApiKey('x')), 404, 'integration_not_found');
  await rejectsWith(api.intKeys.listCustomIntegrationKeys(ghost, integrationId), 404, 'app_not_found');
  await rejectsWith(api.intKeys.getCustomIntegrationKey(appId, integrationId, 'int_0123456789abcdef01234567'), 404, 'not_found');
});

test('integration keys: a key is found only under its own integration', async () => {
  const other = (await api.integrations.createIntegration(appId, customIntegration('Other'))).integration.id;
  const key = (await api.intKeys.createCustomIntegrationKey(appId, integrationId, new Sunshine.IntegrationApiKey('mine'))).key;
  await rejectsWith(api.intKeys.getCustomIntegrationKey(appId, other, key.id), 404, 'not_found');
  await rejectsWith(api.intKeys.deleteCustomIntegrationKey(appId, other, key.id), 404, 'not_found');
  assert.ok(!(await api.intKeys.listCustomIntegrationKeys(appId, other)).keys.some((k) => k.id === key.id));
  // Nor as an app key.
  await rejectsWith(api.appKeys.getAppKey(appId, key.id), 404, 'not_found');
  assert.equal((await api.intKeys.getCustomIntegrationKey(appId, integrationId, key.id)).key.id, key.id);
  await api.intKeys.deleteCustomIntegrationKey(appId, integrationId, key.id);
});

test('integration keys: the 11th key is refused with 400 bad_request; the list keeps 10', async () => {
  const integration = (await api.integrations.createIntegration(appId, customIntegration('Full'))).integration.id;
  const made = [];
  for (let i = 1; i <= 10; i++) {
    made.push((await api.intKeys.createCustomIntegrationKey(appId, integration, new Sunshine.IntegrationApiKey(`key ${i}`))).key);
  }
  const err = await rejectsWith(
    api.intKeys.createCustomIntegrationKey(appId, integration, new Sunshine.IntegrationApiKey('key 11')), 400, 'bad_request');
  assert.equal(err.body.errors[0].title, 'Maximum of 10 keys reached for this integration');
  const list = await api.intKeys.listCustomIntegrationKeys(appId, integration);
  assert.equal(list.keys.length, 10);
  assert.deepEqual(sortedIds(list.keys), sortedIds(made));
  assert.ok(!list.keys.some((k) => k.displayName === 'key 11'));

  // The cap is per integration: another integration in the same app is not full.
  const k = (await api.intKeys.createCustomIntegrationKey(appId, integrationId, new Sunshine.IntegrationApiKey('elsewhere'))).key;
  await api.intKeys.deleteCustomIntegrationKey(appId, integrationId, k.id);

  // Deleting one frees a slot.
  await api.intKeys.deleteCustomIntegrationKey(appId, integration, made[0].id);
  const again = (await api.intKeys.createCustomIntegrationKey(appId, integration, new Sunshine.IntegrationApiKey('key 11'))).key;
  assert.match(again.id, KEY_ID.integration);
  assert.equal((await api.intKeys.listCustomIntegrationKeys(appId, integration)).keys.length, 10);
});

test('app keys: create 201, list, get, delete', async () => {
  const { data, response } = await api.appKeys.createAppKeyWithHttpInfo(appId, new Sunshine.AppKeyCreateBody('Key 1'));
  assert.equal(response.status, 201);
  assert.ok(data instanceof Sunshine.AppKeyResponse);
  assert.ok(data.key instanceof Sunshine.AppKey);
  const key = data.key;
  assert.match(key.id, KEY_ID.app);
  assert.equal(key.displayName, 'Key 1');
  assert.ok(typeof key.secret === 'string' && key.secret.length > 0);
  assert.deepEqual(Object.keys(response.body.key).sort(), ['displayName', 'id', 'secret']);

  const list = await api.appKeys.listAppKeys(appId);
  assert.ok(list instanceof Sunshine.AppKeyListResponse);
  const listed = list.keys.find((k) => k.id === key.id);
  assert.ok(listed);
  assert.equal(listed.secret, key.secret);
  assert.equal(listed.displayName, 'Key 1');
  // App keys and integration keys are listed apart.
  assert.ok(list.keys.every((k) => KEY_ID.app.test(k.id)));
  assert.ok(!(await api.intKeys.listCustomIntegrationKeys(appId, integrationId)).keys.some((k) => k.id === key.id));

  const got = await api.appKeys.getAppKey(appId, key.id);
  assert.deepEqual({ ...got.key }, { ...key });

  const del = await api.appKeys.deleteAppKeyWithHttpInfo(appId, key.id);
  assert.equal(del.response.status, 200);
  assert.deepEqual(del.response.body, {});
  assertDeleteResult(del.data);

  await rejectsWith(api.appKeys.getAppKey(appId, key.id), 404, 'not_found');
  await rejectsWith(api.appKeys.deleteAppKey(appId, key.id), 404, 'not_found');
  assert.ok(!(await api.appKeys.listAppKeys(appId)).keys.some((k) => k.id === key.id));

  await rejectsWith(api.appKeys.createAppKey(appId, new Sunshine.AppKeyCreateBody()), 400, 'bad_request');
  await rejectsWith(api.appKeys.createAppKey(appId, new Sunshine.AppKeyCreateBody('z'.repeat(101))), 400, 'bad_request');
  await rejectsWith(api.appKeys.listAppKeys('0123456789abcdef01234567'), 404, 'app_not_found');
});

test('app keys: the 11th key is refused with 400 bad_request; the list keeps 10', async () => {
  const app = (await api.apps.createApp(new Sunshine.AppCreateBody('Full app'))).app.id;
  const made = [];
  for (let i = 1; i <= 10; i++) made.push((await api.appKeys.createAppKey(app, new Sunshine.AppKeyCreateBody(`app key ${i}`))).key);
  await rejectsWith(api.appKeys.createAppKey(app, new Sunshine.AppKeyCreateBody('app key 11')), 400, 'bad_request');
  const list = await api.appKeys.listAppKeys(app);
  assert.equal(list.keys.length, 10);
  assert.deepEqual(sortedIds(list.keys), sortedIds(made));

  // Integration keys of that app do not count against the app's cap.
  const integration = (await api.integrations.createIntegration(app, customIntegration())).integration.id;
  const ik = (await api.intKeys.createCustomIntegrationKey(app, integration, new Sunshine.IntegrationApiKey('int'))).key;
  assert.match(ik.id, KEY_ID.integration);
  assert.equal((await api.appKeys.listAppKeys(app)).keys.length, 10);
});

test('the 10-key cap holds under 25 concurrent creates (integration and app keys)', async () => {
  const app = (await api.apps.createApp(new Sunshine.AppCreateBody('Race app'))).app.id;
  const integration = (await api.integrations.createIntegration(app, customIntegration('Race'))).integration.id;
  const headers = { Authorization: basicHeader(creds.id, creds.secret), 'Content-Type': 'application/json' };
  for (const url of [
    `${server.baseURL}/v2/apps/${app}/integrations/${integration}/keys`,
    `${server.baseURL}/v2/apps/${app}/keys`,
  ]) {
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) =>
      request(url, { method: 'POST', headers, body: JSON.stringify({ displayName: `racer ${i}` }) })));
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 400 && r.json.errors[0].code === 'bad_request');
    assert.equal(created.length, 10, `created: ${results.map((r) => r.status)}`);
    assert.equal(refused.length, 15);
    const list = await request(url, { headers });
    assert.equal(list.json.keys.length, 10);
    assert.deepEqual(list.json.keys.map((k) => k.id).sort(), created.map((r) => r.json.key.id).sort());
  }
});
