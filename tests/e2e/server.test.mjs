// The binary's life cycle: first start, initial credentials, bootstrap,
// restart on the same data directory, graceful shutdown.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { startServer, stopServer, bootstrap, initialCredentials, tempDir } from './lib/server.mjs';
import { basic, rejectsWith, unauthorized, newClient, apisFor, request, assertErrorBody, KEY_ID, OBJECT_ID, Sunshine } from './lib/client.mjs';

const started = [];
after(async () => {
  // Whatever a failed test left running; stop() is idempotent.
  await Promise.allSettled(started.map((s) => s.stop()));
});

async function start(opts) {
  const s = await startServer(opts);
  started.push(s);
  return s;
}

test('first start of an empty store writes initial-credentials.json (0600) with a working account key', async () => {
  const dataDir = tempDir();
  const server = await start({ dataDir });
  assert.match(server.baseURL, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(server.port > 0);

  const creds = initialCredentials(dataDir);
  assert.deepEqual(Object.keys(creds).sort(), ['accountId', 'id', 'scope', 'secret']);
  assert.match(creds.id, KEY_ID.account);
  assert.match(creds.accountId, OBJECT_ID);
  assert.equal(creds.scope, 'account');
  assert.match(server.stderr(), /initial-credentials\.json/);
  // The log names the file, never the secret.
  assert.ok(!server.stderr().includes(creds.secret), 'the secret must not be logged');

  const { apps } = basic(server.baseURL, creds.id, creds.secret);
  const { data, response } = await apps.listAppsWithHttpInfo();
  assert.equal(response.status, 200);
  assert.ok(data instanceof Sunshine.AppListResponse);
  assert.deepEqual(data.apps, []);
  assert.equal(data.meta.hasMore, false);

  // The master key was generated beside the database, also private.
  assert.ok(existsSync(path.join(dataDir, 'master.key')));

  await stopServer(server);
});

test('restart on the same data directory keeps keys and does not mint new initial credentials', async () => {
  const dataDir = tempDir();
  let server = await start({ dataDir });
  const creds = initialCredentials(dataDir);
  const { apps } = basic(server.baseURL, creds.id, creds.secret);
  const { app } = await apps.createApp(new Sunshine.AppCreateBody('Survives restart'));
  await stopServer(server);

  rmSync(path.join(dataDir, 'initial-credentials.json'));
  server = await start({ dataDir });
  assert.ok(!existsSync(path.join(dataDir, 'initial-credentials.json')),
    'a non-empty store must not get new initial credentials');
  const again = basic(server.baseURL, creds.id, creds.secret);
  const got = await again.apps.getApp(app.id);
  assert.equal(got.app.id, app.id);
  assert.equal(got.app.displayName, 'Survives restart');
  await stopServer(server);
});

test('bootstrap prints one JSON credential object; its key works on a running server at once', async () => {
  const dataDir = tempDir();
  const server = await start({ dataDir });
  const first = initialCredentials(dataDir);

  const creds = await bootstrap(dataDir, { name: 'Second account' });
  assert.match(creds.id, KEY_ID.account);
  assert.match(creds.accountId, OBJECT_ID);
  assert.equal(creds.scope, 'account');
  assert.equal(typeof creds.secret, 'string');
  assert.ok(creds.secret.length >= 24);
  assert.notEqual(creds.id, first.id);
  assert.notEqual(creds.accountId, first.accountId);
  assert.notEqual(creds.secret, first.secret);
  // The initial credentials file is not touched by bootstrap.
  assert.deepEqual(initialCredentials(dataDir), first);

  // Accounts are isolated: the second account does not see the first's app.
  const one = basic(server.baseURL, first.id, first.secret);
  const two = basic(server.baseURL, creds.id, creds.secret);
  const { app } = await one.apps.createApp(new Sunshine.AppCreateBody('Account one app'));
  const list = await two.apps.listApps();
  assert.deepEqual(list.apps, []);
  await rejectsWith(two.apps.getApp(app.id), 404, 'app_not_found');
  await rejectsWith(two.apps.deleteApp(app.id), 404, 'app_not_found');
  assert.equal((await one.apps.getApp(app.id)).app.id, app.id);

  await stopServer(server);
});

test('bootstrap on a fresh data directory, then serve: no initial credentials are written', async () => {
  const dataDir = tempDir();
  const creds = await bootstrap(dataDir);
  assert.match(creds.id, KEY_ID.account);
  const server = await start({ dataDir });
  assert.ok(!existsSync(path.join(dataDir, 'initial-credentials.json')));
  const { apps } = basic(server.baseURL, creds.id, creds.secret);
  assert.deepEqual((await apps.listApps()).apps, []);
  const key = readFileSync(path.join(dataDir, 'master.key'), 'utf8');
  assert.ok(key.trim().length > 0);
  await stopServer(server);
});

test('no credentials: 401 unauthorized "Authorization is required"; unknown routes: 404', async () => {
  const dataDir = tempDir();
  const server = await start({ dataDir });
  const anon = apisFor(newClient(server.baseURL));
  const err = await unauthorized(anon.apps.listApps());
  assert.equal(err.body.errors[0].title, 'Authorization is required');

  const res = await request(`${server.baseURL}/v2/nothing-here`);
  assertErrorBody(res, 404, 'not_found');

  const health = await request(`${server.baseURL}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(health.json, { status: 'ok' });

  await stopServer(server);
});

test('SIGINT also shuts the server down gracefully (exit code 0)', async () => {
  const server = await start();
  server.child.kill('SIGINT');
  let timer;
  const { code, signal } = await Promise.race([
    server.exited,
    new Promise((_, reject) => { timer = setTimeout(reject, 30_000, new Error('no exit within 30 s of SIGINT')); }),
  ]);
  clearTimeout(timer);
  assert.equal(signal, null);
  assert.equal(code, 0, server.stderr());
  assert.match(server.stderr(), /msg="shutting down"/);
  assert.match(server.stderr(), /msg=stopped/);
});
