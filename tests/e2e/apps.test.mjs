// Apps through the official client's AppsApi: create, list (cursor pages),
// get, update, delete.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer, initialCredentials } from './lib/server.mjs';
import { basic, rejectsWith, assertDeleteResult, Sunshine, OBJECT_ID } from './lib/client.mjs';

let server;
let api;

before(async () => {
  server = await startServer();
  const creds = initialCredentials(server.dataDir);
  api = basic(server.baseURL, creds.id, creds.secret);
});

after(async () => {
  await stopServer(server);
});

const DEFAULT_SETTINGS = {
  maskCreditCardNumbers: true,
  useAnimalNames: false,
  echoPostback: false,
  ignoreAutoConversationStart: false,
  multiConvoEnabled: false,
  appLocalizationEnabled: false,
};

test('createApp: 201 with the app, its id and default settings', async () => {
  const { data, response } = await api.apps.createAppWithHttpInfo(new Sunshine.AppCreateBody('My App'));
  assert.equal(response.status, 201);
  assert.match(response.headers['content-type'], /^application\/json/);
  assert.ok(data instanceof Sunshine.AppResponse);
  assert.ok(data.app instanceof Sunshine.App);
  assert.match(data.app.id, OBJECT_ID);
  assert.equal(data.app.displayName, 'My App');
  // The client model keeps the 14.x settings; the wire has all of them.
  for (const [k, v] of Object.entries(DEFAULT_SETTINGS)) assert.equal(data.app.settings[k], v, k);
  assert.equal(response.body.app.settings.endSessionEnabled, false);
  assert.equal(response.body.app.settings.disableConversationReopen, false);
  assert.equal(response.body.app.metadata, null);
});

test('createApp with settings and metadata echoes them', async () => {
  const body = new Sunshine.AppCreateBody('Configured');
  body.settings = { useAnimalNames: true, maskCreditCardNumbers: false, conversationRetentionSeconds: 3600 };
  body.metadata = { plan: 'gold', seats: 3, beta: true };
  const { app } = await api.apps.createApp(body);
  assert.equal(app.settings.useAnimalNames, true);
  assert.equal(app.settings.maskCreditCardNumbers, false);
  assert.equal(app.settings.conversationRetentionSeconds, 3600);
  assert.deepEqual(app.metadata, { plan: 'gold', seats: 3, beta: true });
  const { app: got } = await api.apps.getApp(app.id);
  assert.deepEqual(got.metadata, { plan: 'gold', seats: 3, beta: true });
  assert.equal(got.settings.conversationRetentionSeconds, 3600);
});

test('createApp refuses a missing or too long displayName with 400 bad_request', async () => {
  const err = await rejectsWith(api.apps.createApp(new Sunshine.AppCreateBody()), 400, 'bad_request');
  assert.equal(err.body.errors[0].title, "should have required property 'displayName'");
  await rejectsWith(api.apps.createApp(new Sunshine.AppCreateBody('x'.repeat(101))), 400, 'bad_request');
  await rejectsWith(api.apps.createApp(new Sunshine.AppCreateBody('')), 400, 'bad_request');
  const nested = new Sunshine.AppCreateBody('Bad metadata');
  nested.metadata = { deep: { no: 1 } };
  await rejectsWith(api.apps.createApp(nested), 400, 'bad_request');
});

test('getApp / updateApp / deleteApp', async () => {
  const { app } = await api.apps.createApp(new Sunshine.AppCreateBody('Before'));

  const got = await api.apps.getApp(app.id);
  assert.equal(got.app.id, app.id);
  assert.equal(got.app.displayName, 'Before');

  const update = new Sunshine.AppUpdateBody();
  update.displayName = 'After';
  update.settings = { echoPostback: true };
  update.metadata = { tier: 'one' };
  const { data, response } = await api.apps.updateAppWithHttpInfo(app.id, update);
  assert.equal(response.status, 200);
  assert.equal(data.app.id, app.id);
  assert.equal(data.app.displayName, 'After');
  assert.equal(data.app.settings.echoPostback, true);
  assert.equal(data.app.settings.maskCreditCardNumbers, true, 'settings merge one by one');
  assert.deepEqual(data.app.metadata, { tier: 'one' });

  // A refused update changes nothing.
  const bad = new Sunshine.AppUpdateBody();
  bad.displayName = 'Never';
  bad.settings = { echoPostback: 'yes' };
  await rejectsWith(api.apps.updateApp(app.id, bad), 400, 'bad_request');
  assert.equal((await api.apps.getApp(app.id)).app.displayName, 'After');

  // metadata: null removes it.
  const clear = new Sunshine.AppUpdateBody();
  clear.metadata = null;
  const cleared = await api.apps.updateApp(app.id, clear);
  assert.equal(cleared.app.metadata, null);
  assert.equal(cleared.app.displayName, 'After');

  const del = await api.apps.deleteAppWithHttpInfo(app.id);
  assert.equal(del.response.status, 200);
  assert.deepEqual(del.response.body, {});
  assertDeleteResult(del.data);

  await rejectsWith(api.apps.getApp(app.id), 404, 'app_not_found');
  await rejectsWith(api.apps.deleteApp(app.id), 404, 'app_not_found');
  await rejectsWith(api.apps.updateApp(app.id, update), 404, 'app_not_found');
  await rejectsWith(api.apps.getApp('not-an-app-id'), 404, 'app_not_found');
});

test('listApps: cursor pagination with page[size], page[after], page[before]', async () => {
  // Start from a known set: delete every app made so far.
  for (const a of (await api.apps.listApps({ page: { size: 100 } })).apps) await api.apps.deleteApp(a.id);
  assert.deepEqual((await api.apps.listApps()).apps, []);

  const made = [];
  for (const name of ['A', 'B', 'C', 'D', 'E']) made.push((await api.apps.createApp(new Sunshine.AppCreateBody(name))).app);
  const ids = made.map((a) => a.id).sort();

  const all = await api.apps.listApps();
  assert.ok(all instanceof Sunshine.AppListResponse);
  assert.deepEqual(all.apps.map((a) => a.id), ids, 'listed in id order');
  assert.equal(all.meta.hasMore, false);
  assert.equal(all.meta.afterCursor, undefined);
  assert.equal(all.meta.beforeCursor, undefined);
  assert.equal(all.links.next, undefined);
  assert.equal(all.links.prev, undefined);

  // The client sends only the first key of `page`, so size alone here...
  const first = await api.apps.listApps({ page: { size: 2 } });
  assert.deepEqual(first.apps.map((a) => a.id), ids.slice(0, 2));
  assert.equal(first.meta.hasMore, true);
  assert.equal(first.meta.afterCursor, ids[1]);
  assert.equal(first.meta.beforeCursor, undefined);
  assert.equal(first.links.next, `${server.baseURL}/v2/apps?page[after]=${ids[1]}&page[size]=2`);

  // ...and the cursor alone here (default size 25).
  const rest = await api.apps.listApps({ page: { after: first.meta.afterCursor, size: 2 } });
  assert.deepEqual(rest.apps.map((a) => a.id), ids.slice(2));
  assert.equal(rest.meta.hasMore, false);
  assert.equal(rest.meta.afterCursor, undefined);
  assert.equal(rest.meta.beforeCursor, ids[2]);
  assert.equal(rest.links.prev, `${server.baseURL}/v2/apps?page[before]=${ids[2]}`);

  const back = await api.apps.listApps({ page: { before: ids[3] } });
  assert.deepEqual(back.apps.map((a) => a.id), ids.slice(0, 3));
  assert.equal(back.meta.hasMore, false);
  assert.equal(back.meta.afterCursor, ids[2]);

  const none = await api.apps.listApps({ page: { after: ids[4] } });
  assert.deepEqual(none.apps, []);
  assert.equal(none.meta.hasMore, false);

  for (const size of [0, 101, 'ten']) {
    const err = await rejectsWith(api.apps.listApps({ page: { size } }), 400, 'bad_request');
    assert.equal(err.body.errors[0].title, 'Invalid page query parameters');
  }
  await rejectsWith(api.apps.listApps({ page: { after: 'nope' } }), 400, 'bad_request');
});
