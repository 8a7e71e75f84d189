// Authentication and authorization: HTTP Basic and HS256 JWTs signed with
// jsonwebtoken, for account, app and integration keys; revocation; scopes;
// other apps; and the JWTs that must be refused.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';

import { startServer, stopServer, initialCredentials, bootstrap } from './lib/server.mjs';
import {
  basic, bearer, viaJwt, signJwt, jwt, b64url, rejectsWith, unauthorized, forbidden,
  customIntegration, Sunshine, KEY_ID,
} from './lib/client.mjs';

let server;
let account; // { id, secret } of the initial account key
let acct; // APIs as that account key (Basic)

before(async () => {
  server = await startServer();
  account = initialCredentials(server.dataDir);
  acct = basic(server.baseURL, account.id, account.secret);
});

after(async () => {
  await stopServer(server);
});

/** A fresh app with one custom integration, an app key and an integration key. */
async function fixture(name = 'Auth app') {
  const app = (await acct.apps.createApp(new Sunshine.AppCreateBody(name))).app;
  const integration = (await acct.integrations.createIntegration(app.id, customIntegration(`${name} integration`))).integration;
  const appKey = (await acct.appKeys.createAppKey(app.id, new Sunshine.AppKeyCreateBody(`${name} app key`))).key;
  const intKey = (await acct.intKeys.createCustomIntegrationKey(app.id, integration.id, new Sunshine.IntegrationApiKey(`${name} int key`))).key;
  return { app, integration, appKey, intKey };
}

test('account key: Basic and JWT (scope account) both work', async () => {
  const viaBasic = await acct.apps.listApps();
  assert.ok(Array.isArray(viaBasic.apps));
  const token = signJwt(account.id, account.secret, 'account');
  // jsonwebtoken's default: HS256, typ JWT, our kid.
  assert.deepEqual(jwt.decode(token, { complete: true }).header, { alg: 'HS256', typ: 'JWT', kid: account.id });
  const viaJwtApi = bearer(server.baseURL, token);
  const { app } = await viaJwtApi.apps.createApp(new Sunshine.AppCreateBody('Made with a JWT'));
  assert.equal((await viaJwtApi.apps.getApp(app.id)).app.displayName, 'Made with a JWT');
  // The token can also be given as a function, as the client allows.
  const fnClient = bearer(server.baseURL, () => token);
  assert.equal((await fnClient.apps.getApp(app.id)).app.id, app.id);
});

test('app key: Basic and JWT (scope app) work on its own app', async () => {
  const { app, appKey } = await fixture('App key');
  for (const api of [basic(server.baseURL, appKey.id, appKey.secret), viaJwt(server.baseURL, appKey, 'app')]) {
    assert.equal((await api.apps.getApp(app.id)).app.id, app.id);
    const upd = new Sunshine.AppUpdateBody();
    upd.displayName = 'Renamed by app key';
    assert.equal((await api.apps.updateApp(app.id, upd)).app.displayName, 'Renamed by app key');
    const made = (await api.integrations.createIntegration(app.id, customIntegration('by app key'))).integration;
    assert.ok((await api.integrations.listIntegrations(app.id)).integrations.some((i) => i.id === made.id));
    const k = (await api.intKeys.createCustomIntegrationKey(app.id, made.id, new Sunshine.IntegrationApiKey('by app key'))).key;
    assert.match(k.id, KEY_ID.integration);
    assert.equal((await api.intKeys.getCustomIntegrationKey(app.id, made.id, k.id)).key.secret, k.secret);
    assert.equal((await api.intKeys.listCustomIntegrationKeys(app.id, made.id)).keys.length, 1);
    await api.intKeys.deleteCustomIntegrationKey(app.id, made.id, k.id);
    await api.integrations.deleteIntegration(app.id, made.id);
  }
});

test('integration key: Basic and JWT (scope integration) authenticate, but no key route admits that scope (403)', async () => {
  const { app, integration, intKey } = await fixture('Int key');
  const good = [basic(server.baseURL, intKey.id, intKey.secret), viaJwt(server.baseURL, intKey, 'integration')];
  for (const api of good) {
    const err = await forbidden(api.intKeys.listCustomIntegrationKeys(app.id, integration.id));
    assert.match(err.body.errors[0].title, /^Forbidden/);
    await forbidden(api.intKeys.createCustomIntegrationKey(app.id, integration.id, new Sunshine.IntegrationApiKey('nope')));
    await forbidden(api.intKeys.getCustomIntegrationKey(app.id, integration.id, intKey.id));
    await forbidden(api.intKeys.deleteCustomIntegrationKey(app.id, integration.id, intKey.id));
    await forbidden(api.integrations.getIntegration(app.id, integration.id));
    await forbidden(api.apps.getApp(app.id));
    await forbidden(api.apps.listApps());
  }
  // The same requests with a bad credential are 401, not 403: the 403s above
  // mean the integration key did authenticate.
  await unauthorized(basic(server.baseURL, intKey.id, account.secret).intKeys.listCustomIntegrationKeys(app.id, integration.id));
  await unauthorized(viaJwt(server.baseURL, intKey, 'app').intKeys.listCustomIntegrationKeys(app.id, integration.id));
  // The key was not deleted by the refused request.
  assert.equal((await acct.intKeys.getCustomIntegrationKey(app.id, integration.id, intKey.id)).key.id, intKey.id);
});

test('an app key is too narrow for account-only routes: 403 forbidden', async () => {
  const { app, appKey } = await fixture('Narrow');
  const other = (await acct.appKeys.createAppKey(app.id, new Sunshine.AppKeyCreateBody('other'))).key;
  for (const api of [basic(server.baseURL, appKey.id, appKey.secret), viaJwt(server.baseURL, appKey, 'app')]) {
    const err = await forbidden(api.apps.createApp(new Sunshine.AppCreateBody('no')));
    assert.match(err.body.errors[0].title, /^Forbidden/);
    await forbidden(api.apps.listApps());
    await forbidden(api.apps.deleteApp(app.id));
    await forbidden(api.appKeys.createAppKey(app.id, new Sunshine.AppKeyCreateBody('no')));
    await forbidden(api.appKeys.listAppKeys(app.id));
    await forbidden(api.appKeys.getAppKey(app.id, other.id));
    await forbidden(api.appKeys.deleteAppKey(app.id, other.id));
  }
  // Nothing was changed by the refused requests.
  assert.equal((await acct.apps.getApp(app.id)).app.id, app.id);
  const keys = (await acct.appKeys.listAppKeys(app.id)).keys.map((k) => k.id).sort();
  assert.deepEqual(keys, [appKey.id, other.id].sort());
});

test("another app's key is refused on this app's routes: 403 forbidden", async () => {
  const a = await fixture('App A');
  const b = await fixture('App B');
  for (const api of [basic(server.baseURL, b.appKey.id, b.appKey.secret), viaJwt(server.baseURL, b.appKey, 'app')]) {
    await forbidden(api.apps.getApp(a.app.id));
    const upd = new Sunshine.AppUpdateBody();
    upd.displayName = 'hijacked';
    await forbidden(api.apps.updateApp(a.app.id, upd));
    await forbidden(api.integrations.listIntegrations(a.app.id));
    await forbidden(api.integrations.createIntegration(a.app.id, customIntegration()));
    await forbidden(api.integrations.getIntegration(a.app.id, a.integration.id));
    await forbidden(api.integrations.deleteIntegration(a.app.id, a.integration.id));
    await forbidden(api.intKeys.listCustomIntegrationKeys(a.app.id, a.integration.id));
    await forbidden(api.intKeys.createCustomIntegrationKey(a.app.id, a.integration.id, new Sunshine.IntegrationApiKey('x')));
    await forbidden(api.intKeys.getCustomIntegrationKey(a.app.id, a.integration.id, a.intKey.id));
    await forbidden(api.intKeys.deleteCustomIntegrationKey(a.app.id, a.integration.id, a.intKey.id));
    // Its own app is fine.
    assert.equal((await api.apps.getApp(b.app.id)).app.id, b.app.id);
    // Naming B's app with A's integration does not reach A's integration.
    await rejectsWith(api.integrations.getIntegration(b.app.id, a.integration.id), 404, 'integration_not_found');
    await rejectsWith(api.intKeys.getCustomIntegrationKey(b.app.id, a.integration.id, a.intKey.id), 404, 'integration_not_found');
  }
  assert.equal((await acct.apps.getApp(a.app.id)).app.displayName, 'App A');
  assert.equal((await acct.intKeys.listCustomIntegrationKeys(a.app.id, a.integration.id)).keys.length, 1);
  assert.equal((await acct.integrations.listIntegrations(a.app.id)).integrations.length, 1);
});

test("another account's key cannot see this account's apps: 404 app_not_found", async () => {
  const { app, integration } = await fixture('Private');
  const stranger = await bootstrap(server.dataDir, { name: 'Stranger' });
  for (const api of [basic(server.baseURL, stranger.id, stranger.secret), viaJwt(server.baseURL, stranger, 'account')]) {
    await rejectsWith(api.apps.getApp(app.id), 404, 'app_not_found');
    await rejectsWith(api.appKeys.listAppKeys(app.id), 404, 'app_not_found');
    await rejectsWith(api.intKeys.listCustomIntegrationKeys(app.id, integration.id), 404, 'app_not_found');
    assert.ok(!(await api.apps.listApps({ page: { size: 100 } })).apps.some((a) => a.id === app.id));
  }
});

test('a deleted app key stops working at once (Basic and JWT)', async () => {
  const { app, appKey } = await fixture('Revoke app key');
  const viaBasic = basic(server.baseURL, appKey.id, appKey.secret);
  const viaToken = viaJwt(server.baseURL, appKey, 'app');
  // Warm any cache first.
  assert.equal((await viaBasic.apps.getApp(app.id)).app.id, app.id);
  assert.equal((await viaToken.apps.getApp(app.id)).app.id, app.id);
  await acct.appKeys.deleteAppKey(app.id, appKey.id);
  await unauthorized(viaBasic.apps.getApp(app.id));
  await unauthorized(viaToken.apps.getApp(app.id));
  // A token signed after the deletion too.
  await unauthorized(viaJwt(server.baseURL, appKey, 'app').apps.getApp(app.id));
});

test('a deleted integration key stops working at once (Basic and JWT)', async () => {
  const { app, integration, intKey } = await fixture('Revoke int key');
  const viaBasic = basic(server.baseURL, intKey.id, intKey.secret);
  const viaToken = viaJwt(server.baseURL, intKey, 'integration');
  // Authenticated (403: scope), so the key is live and cached.
  await forbidden(viaBasic.intKeys.listCustomIntegrationKeys(app.id, integration.id));
  await forbidden(viaToken.intKeys.listCustomIntegrationKeys(app.id, integration.id));
  await acct.intKeys.deleteCustomIntegrationKey(app.id, integration.id, intKey.id);
  await unauthorized(viaBasic.intKeys.listCustomIntegrationKeys(app.id, integration.id));
  await unauthorized(viaToken.intKeys.listCustomIntegrationKeys(app.id, integration.id));
});

test("deleting an integration revokes its keys; deleting an app revokes its app and integration keys", async () => {
  const f = await fixture('Cascade');
  const intBasic = basic(server.baseURL, f.intKey.id, f.intKey.secret);
  const intToken = viaJwt(server.baseURL, f.intKey, 'integration');
  await forbidden(intBasic.apps.getApp(f.app.id));
  await forbidden(intToken.apps.getApp(f.app.id));

  await acct.integrations.deleteIntegration(f.app.id, f.integration.id);
  await unauthorized(intBasic.apps.getApp(f.app.id));
  await unauthorized(intToken.apps.getApp(f.app.id));

  // A second integration with a key, then delete the whole app.
  const integration = (await acct.integrations.createIntegration(f.app.id, customIntegration('Second'))).integration;
  const intKey = (await acct.intKeys.createCustomIntegrationKey(f.app.id, integration.id, new Sunshine.IntegrationApiKey('second'))).key;
  const appBasic = basic(server.baseURL, f.appKey.id, f.appKey.secret);
  const appToken = viaJwt(server.baseURL, f.appKey, 'app');
  const int2Basic = basic(server.baseURL, intKey.id, intKey.secret);
  assert.equal((await appBasic.apps.getApp(f.app.id)).app.id, f.app.id);
  assert.equal((await appToken.apps.getApp(f.app.id)).app.id, f.app.id);
  await forbidden(int2Basic.apps.getApp(f.app.id));

  await acct.apps.deleteApp(f.app.id);
  await unauthorized(appBasic.apps.getApp(f.app.id));
  await unauthorized(appToken.apps.getApp(f.app.id));
  await unauthorized(int2Basic.apps.getApp(f.app.id));
  await unauthorized(viaJwt(server.baseURL, intKey, 'integration').apps.getApp(f.app.id));
  // The account key is untouched.
  assert.ok(Array.isArray((await acct.apps.listApps()).apps));
});

test('Basic refusals: wrong secret, unknown id, empty password: 401 unauthorized', async () => {
  const { app, appKey } = await fixture('Basic refusals');
  await unauthorized(basic(server.baseURL, appKey.id, appKey.secret + 'x').apps.getApp(app.id));
  await unauthorized(basic(server.baseURL, appKey.id, account.secret).apps.getApp(app.id));
  await unauthorized(basic(server.baseURL, 'app_0123456789abcdef01234567', appKey.secret).apps.getApp(app.id));
  await unauthorized(basic(server.baseURL, account.id, '').apps.listApps());
  await unauthorized(basic(server.baseURL, account.id, account.secret.slice(0, -1)).apps.listApps());
  await unauthorized(bearer(server.baseURL, 'not-a-jwt').apps.listApps());
});

test('JWT refusals: all 401 unauthorized', async () => {
  const { app, appKey } = await fixture('JWT refusals');
  const call = (token) => bearer(server.baseURL, token).apps.getApp(app.id);
  const now = Math.floor(Date.now() / 1000);

  // Sanity: the well-formed token works.
  assert.equal((await call(signJwt(appKey.id, appKey.secret, 'app'))).app.id, app.id);

  // alg none (unsigned), crafted by hand, with and without a trailing signature.
  const noneToken = `${b64url({ alg: 'none', typ: 'JWT', kid: appKey.id })}.${b64url({ scope: 'app' })}.`;
  await unauthorized(call(noneToken));
  const noneSigned = signJwt(appKey.id, appKey.secret, 'app').split('.');
  await unauthorized(call(`${b64url({ alg: 'none', typ: 'JWT', kid: appKey.id })}.${noneSigned[1]}.${noneSigned[2]}`));

  // RS256 with a fresh RSA key pair.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await unauthorized(call(jwt.sign({ scope: 'app' }, privateKey, { algorithm: 'RS256', header: { kid: appKey.id } })));

  // HS512 with the right secret: only HS256 is accepted.
  await unauthorized(call(jwt.sign({ scope: 'app' }, appKey.secret, { algorithm: 'HS512', header: { kid: appKey.id } })));

  // Missing kid.
  const noKid = await unauthorized(call(jwt.sign({ scope: 'app' }, appKey.secret)));
  assert.equal(noKid.body.errors[0].title, 'Invalid JWT header. Missing key id (kid)');

  // Unknown kid.
  await unauthorized(call(signJwt('app_0123456789abcdef01234567', appKey.secret, 'app')));

  // Wrong secret (another key's).
  await unauthorized(call(signJwt(appKey.id, account.secret, 'app')));
  await unauthorized(call(signJwt(appKey.id, 'wrong-secret', 'app')));

  // Expired, well beyond the 30 s leeway.
  const expired = await unauthorized(call(signJwt(appKey.id, appKey.secret, 'app', { expiresIn: -120 })));
  assert.match(expired.body.errors[0].title, /expired/);
  await unauthorized(call(jwt.sign({ scope: 'app', exp: now - 3600 }, appKey.secret, { header: { kid: appKey.id } })));

  // Scope that does not match the key.
  const wrongScope = await unauthorized(call(signJwt(appKey.id, appKey.secret, 'account')));
  assert.match(wrongScope.body.errors[0].title, /scope/);
  await unauthorized(call(signJwt(appKey.id, appKey.secret, 'integration')));
  await unauthorized(call(jwt.sign({}, appKey.secret, { header: { kid: appKey.id } })));
  await unauthorized(bearer(server.baseURL, signJwt(account.id, account.secret, 'app')).apps.listApps());

  // Not valid before an hour from now.
  await unauthorized(call(jwt.sign({ scope: 'app', nbf: now + 3600 }, appKey.secret, { header: { kid: appKey.id } })));

  // A tampered payload (scope swapped after signing).
  const [h, , s] = signJwt(account.id, account.secret, 'app').split('.');
  await unauthorized(bearer(server.baseURL, `${h}.${b64url({ scope: 'account' })}.${s}`).apps.listApps());
});

test('JWT exp within the 30 s leeway is accepted; a future exp is accepted', async () => {
  const { app, appKey } = await fixture('Leeway');
  const call = (token) => bearer(server.baseURL, token).apps.getApp(app.id);
  assert.equal((await call(signJwt(appKey.id, appKey.secret, 'app', { expiresIn: -5 }))).app.id, app.id);
  assert.equal((await call(signJwt(appKey.id, appKey.secret, 'app', { expiresIn: 60 }))).app.id, app.id);
});

test('when both are set, the client sends Bearer (it overwrites Basic)', async () => {
  const { app, appKey } = await fixture('Both');
  const api = basic(server.baseURL, account.id, account.secret);
  api.client.authentications.bearerAuth.accessToken = signJwt(appKey.id, appKey.secret, 'app');
  // As the app key (Bearer), listApps is forbidden; as the account key it would be allowed.
  await forbidden(api.apps.listApps());
  assert.equal((await api.apps.getApp(app.id)).app.id, app.id);
});
