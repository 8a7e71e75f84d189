// Custom integrations through the official client's IntegrationsApi.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer, initialCredentials } from './lib/server.mjs';
import { basic, rejectsWith, assertDeleteResult, customIntegration, Sunshine, OBJECT_ID } from './lib/client.mjs';

let server;
let api;
let appId;

before(async () => {
  server = await startServer();
  const creds = initialCredentials(server.dataDir);
  api = basic(server.baseURL, creds.id, creds.secret);
  appId = (await api.apps.createApp(new Sunshine.AppCreateBody('Integrations app'))).app.id;
});

after(async () => {
  await stopServer(server);
});

test('createIntegration (custom): 201 with id, type, status and the webhook', async () => {
  const { data, response } = await api.integrations.createIntegrationWithHttpInfo(appId, customIntegration('My bot'));
  assert.equal(response.status, 201);
  assert.ok(data instanceof Sunshine.IntegrationResponse);
  const it = data.integration;
  assert.match(it.id, OBJECT_ID);
  assert.equal(it.type, 'custom');
  assert.equal(it.status, 'active');
  assert.equal(it.displayName, 'My bot');

  // The client's model drops webhooks; the wire has them.
  const wire = response.body.integration;
  assert.equal(wire.webhooks.length, 1);
  const hook = wire.webhooks[0];
  assert.match(hook.id, OBJECT_ID);
  assert.equal(hook.version, 'v2');
  assert.equal(hook.target, 'https://example.com/cb');
  assert.deepEqual(hook.triggers, ['conversation:message']);
  assert.match(hook.secret, /^[0-9a-f]{32}$/);
  assert.equal(hook.includeFullUser, false);
  assert.equal(hook.includeFullSource, false);

  // get shows the same webhook and secret.
  const got = await api.integrations.getIntegrationWithHttpInfo(appId, it.id);
  assert.deepEqual(got.response.body, response.body);
});

test('createIntegration without a displayName omits it', async () => {
  const { integration } = await api.integrations.createIntegration(appId, customIntegration());
  assert.equal(integration.type, 'custom');
  assert.equal(integration.displayName, undefined);
});

test('createIntegration refuses non-custom types with 400 "Invalid integration type"', async () => {
  for (const body of [new Sunshine.Integration('web'), { type: 'web' }, { type: 'android' }]) {
    const err = await rejectsWith(api.integrations.createIntegration(appId, body), 400, 'bad_request');
    assert.equal(err.body.errors[0].title, 'Invalid integration type');
  }
});

test('createIntegration validates the body', async () => {
  const noHooks = new Sunshine.Custom('custom');
  await rejectsWith(api.integrations.createIntegration(appId, noHooks), 400, 'bad_request');
  const two = customIntegration();
  two.webhooks.push(new Sunshine.Webhook('https://example.com/two', ['conversation:message']));
  await rejectsWith(api.integrations.createIntegration(appId, two), 400, 'bad_request');
  const badTarget = new Sunshine.Custom('custom', [new Sunshine.Webhook('ftp://example.com', ['conversation:message'])]);
  await rejectsWith(api.integrations.createIntegration(appId, badTarget), 400, 'bad_request');
  const noTriggers = new Sunshine.Custom('custom', [new Sunshine.Webhook('https://example.com/cb', [])]);
  await rejectsWith(api.integrations.createIntegration(appId, noTriggers), 400, 'bad_request');
  await rejectsWith(api.integrations.createIntegration(appId, customIntegration('x'.repeat(101))), 400, 'bad_request');
});

test('createIntegration on an unknown app: 404 app_not_found', async () => {
  const err = await rejectsWith(api.integrations.createIntegration('0123456789abcdef01234567', customIntegration()), 404, 'app_not_found');
  assert.equal(err.body.errors[0].title, 'App not found');
});

test('listIntegrations, with filter[types] and pagination', async () => {
  const { app } = await api.apps.createApp(new Sunshine.AppCreateBody('List app'));
  const made = [];
  for (const n of ['one', 'two', 'three']) made.push((await api.integrations.createIntegration(app.id, customIntegration(n))).integration);
  const ids = made.map((i) => i.id).sort();

  const all = await api.integrations.listIntegrations(app.id);
  assert.ok(all instanceof Sunshine.IntegrationListResponse);
  assert.deepEqual(all.integrations.map((i) => i.id), ids);
  for (const i of all.integrations) {
    assert.equal(i.type, 'custom');
    assert.equal(i.status, 'active');
  }
  assert.equal(all.meta.hasMore, false);

  const custom = await api.integrations.listIntegrations(app.id, { filter: { types: 'custom' } });
  assert.deepEqual(custom.integrations.map((i) => i.id), ids);
  const both = await api.integrations.listIntegrations(app.id, { filter: { types: 'custom,web' } });
  assert.deepEqual(both.integrations.map((i) => i.id), ids);
  const web = await api.integrations.listIntegrations(app.id, { filter: { types: 'web' } });
  assert.deepEqual(web.integrations, []);
  assert.equal(web.meta.hasMore, false);

  const page = await api.integrations.listIntegrations(app.id, { page: { size: 2 } });
  assert.deepEqual(page.integrations.map((i) => i.id), ids.slice(0, 2));
  assert.equal(page.meta.hasMore, true);
  assert.equal(page.meta.afterCursor, ids[1]);
  assert.equal(page.links.next, `${server.baseURL}/v2/apps/${app.id}/integrations?page[after]=${ids[1]}&page[size]=2`);
  const next = await api.integrations.listIntegrations(app.id, { page: { after: page.meta.afterCursor } });
  assert.deepEqual(next.integrations.map((i) => i.id), ids.slice(2));
  assert.equal(next.meta.hasMore, false);

  await rejectsWith(api.integrations.listIntegrations(app.id, { page: { size: 0 } }), 400, 'bad_request');
  await rejectsWith(api.integrations.listIntegrations(app.id, { filter: { types: ',' } }), 400, 'bad_request');

  // Integrations of one app do not show under another.
  const other = await api.integrations.listIntegrations(appId, { page: { size: 100 } });
  for (const id of ids) assert.ok(!other.integrations.some((i) => i.id === id));
  await rejectsWith(api.integrations.getIntegration(appId, ids[0]), 404, 'integration_not_found');
});

test('updateIntegration sets and unsets displayName; deleteIntegration removes it', async () => {
  const { integration } = await api.integrations.createIntegration(appId, customIntegration('Old name'));

  const upd = new Sunshine.IntegrationUpdate();
  upd.displayName = 'New name';
  const { data, response } = await api.integrations.updateIntegrationWithHttpInfo(appId, integration.id, upd);
  assert.equal(response.status, 200);
  assert.equal(data.integration.id, integration.id);
  assert.equal(data.integration.displayName, 'New name');
  assert.equal(data.integration.type, 'custom');
  assert.equal(response.body.integration.webhooks.length, 1);
  assert.equal((await api.integrations.getIntegration(appId, integration.id)).integration.displayName, 'New name');

  const tooLong = new Sunshine.CustomUpdate();
  tooLong.displayName = 'y'.repeat(101);
  await rejectsWith(api.integrations.updateIntegration(appId, integration.id, tooLong), 400, 'bad_request');
  assert.equal((await api.integrations.getIntegration(appId, integration.id)).integration.displayName, 'New name');

  const unset = new Sunshine.CustomUpdate();
  unset.displayName = null;
  const cleared = await api.integrations.updateIntegration(appId, integration.id, unset);
  assert.equal(cleared.integration.displayName, undefined);

  const del = await api.integrations.deleteIntegrationWithHttpInfo(appId, integration.id);
  assert.equal(del.response.status, 200);
  assert.deepEqual(del.response.body, {});
  assertDeleteResult(del.data);

  const err = await rejectsWith(api.integrations.getIntegration(appId, integration.id), 404, 'integration_not_found');
  assert.equal(err.body.errors[0].title, 'Integration not found');
  await rejectsWith(api.integrations.deleteIntegration(appId, integration.id), 404, 'integration_not_found');
  await rejectsWith(api.integrations.updateIntegration(appId, integration.id, upd), 404, 'integration_not_found');
  await rejectsWith(api.integrations.getIntegration(appId, 'nope'), 404, 'integration_not_found');
});

test('deleting an app deletes its integrations', async () => {
  const { app } = await api.apps.createApp(new Sunshine.AppCreateBody('Doomed'));
  const { integration } = await api.integrations.createIntegration(app.id, customIntegration());
  await api.apps.deleteApp(app.id);
  await rejectsWith(api.integrations.getIntegration(app.id, integration.id), 404, 'app_not_found');
  await rejectsWith(api.integrations.listIntegrations(app.id), 404, 'app_not_found');
});
