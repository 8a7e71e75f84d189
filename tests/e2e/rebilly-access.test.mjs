// Rebilly /api-keys access control through rebilly-js-sdk@62.162.1:
// organizations (Sunshine apps) as the SDK's organizationId, the one key store
// shared with the Sunshine routes, restricted keys (ACLs), publishable keys,
// and the credential forms (REB-APIKEY, Bearer JWT, both at once).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer } from './lib/server.mjs';
import { request, basicHeader, signJwt } from './lib/client.mjs';
import {
  account, rebilly, API_KEY_ID, SECRET, UNRESTRICTED, plain, idsOf, createApp, createAppKey,
  assertApiKey, assertProblem, rejectsRebilly, rejectsUnauthorized, rejectsForbidden,
} from './lib/rebilly.mjs';

let server;
let base;

before(async () => {
  server = await startServer();
  base = server.baseURL;
});

after(async () => {
  await stopServer(server);
});


/** GET a Sunshine route with the given headers. */
const sunshine = (path, headers) => request(`${base}${path}`, { headers });

test('organizations: keys under /organizations/{appId} are the app\'s, apart from the root list', async () => {
  const { creds, api } = await account(server, 'Orgs');
  const appA = await createApp(base, creds, 'App A');
  const appB = await createApp(base, creds, 'App B');
  const orgA = rebilly(base, creds.secret, { organizationId: appA });
  const orgB = rebilly(base, creds.secret, { organizationId: appB });
  const seen = [];
  orgA.addRequestInterceptor({ thenDelegate: (c) => { seen.push(`${c.method.toUpperCase()} ${c.baseURL}/${c.url}`); return c; } });

  const rootKey = (await api.apiKeys.create({ data: { description: 'root key' } })).fields;
  const made = await orgA.apiKeys.create({ data: { description: 'org A key' } });
  assert.deepEqual(seen, [`POST ${base}/organizations/${appA}/api-keys/`]);
  assert.equal(made.response.status, 201);
  const orgKey = made.fields;
  assertApiKey(orgKey, `${base}/organizations/${appA}`, {
    description: 'org A key', type: 'secret', acl: UNRESTRICTED, allowedIps: null, apiUser: creds.accountId,
  });
  assert.match(orgKey.id, API_KEY_ID);
  assert.match(orgKey.secretKey, SECRET.live);
  assert.equal(made.response.headers.location, `${base}/organizations/${appA}/api-keys/${orgKey.id}`);
  const withId = (await orgA.apiKeys.create({ id: 'org-a-chosen', data: { description: 'chosen' } })).fields;
  assertApiKey(withId, `${base}/organizations/${appA}`, { id: 'org-a-chosen' });

  // The root list holds the account's keys only; each org list its app's.
  const root = await api.apiKeys.getAll({ sort: ['createdTime'] });
  assert.deepEqual(idsOf(root), [creds.id, rootKey.id]);
  assert.equal(root.total, 2);
  const listA = await orgA.apiKeys.getAll({ sort: ['createdTime'] });
  assert.deepEqual(idsOf(listA), [orgKey.id, 'org-a-chosen']);
  assert.equal(listA.total, 2);
  assert.equal(listA.items[0].fields._links[0].href, `${base}/organizations/${appA}/api-keys/${orgKey.id}`);
  const listB = await orgB.apiKeys.getAll();
  assert.deepEqual([listB.items.length, listB.total], [0, 0]);
  assert.equal((await orgA.apiKeys.getAll({ filter: 'description:org A key' })).total, 1);

  // Members are reachable only under their owner.
  assert.deepEqual(plain((await orgA.apiKeys.get({ id: orgKey.id })).fields), plain(orgKey));
  await rejectsRebilly(api.apiKeys.get({ id: orgKey.id }), 'RebillyNotFoundError', 404);
  await rejectsRebilly(orgB.apiKeys.get({ id: orgKey.id }), 'RebillyNotFoundError', 404);
  await rejectsRebilly(orgA.apiKeys.get({ id: rootKey.id }), 'RebillyNotFoundError', 404);
  await rejectsRebilly(orgA.apiKeys.delete({ id: creds.id }), 'RebillyNotFoundError', 404);
  await rejectsRebilly(api.apiKeys.delete({ id: orgKey.id }), 'RebillyNotFoundError', 404);

  // Update and delete under the org.
  const upd = (await orgA.apiKeys.update({ id: orgKey.id, data: { description: 'renamed', allowedIps: ['203.0.113.0/24'] } })).fields;
  assertApiKey(upd, `${base}/organizations/${appA}`, { description: 'renamed', allowedIps: ['203.0.113.0/24'], secretKey: orgKey.secretKey });
  assert.equal((await orgA.apiKeys.delete({ id: 'org-a-chosen' })).response.status, 204);
  assert.deepEqual(idsOf(await orgA.apiKeys.getAll()), [orgKey.id]);
  assert.deepEqual(idsOf(await api.apiKeys.getAll({ sort: ['createdTime'] })), [creds.id, rootKey.id]);
});

test('organizations: Sunshine app keys show in the org list; unknown organizations are 404', async () => {
  const { creds } = await account(server, 'Org store');
  const other = await account(server, 'Other account');
  const appId = await createApp(base, creds, 'x');
  const otherApp = await createApp(base, other.creds, 'y');
  const org = rebilly(base, creds.secret, { organizationId: appId });

  const sunKey = await createAppKey(base, creds, appId, 'k');
  assert.match(sunKey.id, /^app_[0-9a-f]{24}$/);
  const list = await org.apiKeys.getAll();
  assert.deepEqual(idsOf(list), [sunKey.id]);
  assertApiKey(list.items[0].fields, `${base}/organizations/${appId}`, {
    id: sunKey.id, description: 'k', type: 'secret', secretKey: sunKey.secret, acl: UNRESTRICTED, allowedIps: null, apiUser: creds.accountId,
  });

  // And the other way: a key made here is one of the app's keys on Sunshine.
  const made = (await org.apiKeys.create({ data: { description: 'from rebilly' } })).fields;
  const sunList = await sunshine(`/v2/apps/${appId}/keys`, { Authorization: basicHeader(creds.id, creds.secret) });
  assert.equal(sunList.status, 200);
  const sunView = sunList.json.keys.find((k) => k.id === made.id);
  assert.deepEqual(sunView, { id: made.id, displayName: 'from rebilly', secret: made.secretKey });
  // Deleted here, gone there.
  await org.apiKeys.delete({ id: sunKey.id });
  const sunGet = await sunshine(`/v2/apps/${appId}/keys/${sunKey.id}`, { Authorization: basicHeader(creds.id, creds.secret) });
  assert.equal(sunGet.status, 404);

  // Unknown organizations: not an app id, an app id no one has, another account's app.
  for (const organizationId of ['org-1', '0123456789abcdef01234567', otherApp]) {
    const api = rebilly(base, creds.secret, { organizationId });
    const err = await rejectsRebilly(api.apiKeys.getAll(), 'RebillyNotFoundError', 404);
    assert.equal(err.message, 'Organization was not found.');
    await rejectsRebilly(api.apiKeys.create({ data: { description: 'x' } }), 'RebillyNotFoundError', 404);
    await rejectsRebilly(api.apiKeys.get({ id: sunKey.id }), 'RebillyNotFoundError', 404);
  }
  // The other account still sees its own app's (empty) list.
  assert.equal((await rebilly(base, other.creds.secret, { organizationId: otherApp }).apiKeys.getAll()).total, 0);
});

test('organizations: an app key acts on its own app only', async () => {
  const { creds } = await account(server, 'App keys');
  const appA = await createApp(base, creds, 'A');
  const appB = await createApp(base, creds, 'B');
  const appKey = (await rebilly(base, creds.secret, { organizationId: appA }).apiKeys.create({ data: { description: 'A key' } })).fields;

  const own = rebilly(base, appKey.secretKey, { organizationId: appA });
  assert.deepEqual(idsOf(await own.apiKeys.getAll()), [appKey.id]);
  const child = (await own.apiKeys.create({ data: { description: 'made by the app key' } })).fields;
  assertApiKey(child, `${base}/organizations/${appA}`, { description: 'made by the app key' });
  await rejectsForbidden(rebilly(base, appKey.secretKey, { organizationId: appB }).apiKeys.getAll());
  await rejectsForbidden(rebilly(base, appKey.secretKey).apiKeys.getAll());

  // On Sunshine: its own app yes, the account's app list and other apps no.
  const auth = { Authorization: basicHeader(appKey.id, appKey.secretKey) };
  const got = await sunshine(`/v2/apps/${appA}`, auth);
  assert.equal(got.status, 200);
  assert.equal(got.json.app.id, appA);
  assert.equal((await sunshine('/v2/apps', auth)).status, 403);
  assert.equal((await sunshine(`/v2/apps/${appB}`, auth)).status, 403);

  // Its JWT carries scope "app".
  const viaJwt = rebilly(base, null, { organizationId: appA });
  viaJwt.setSessionToken(signJwt(appKey.id, appKey.secretKey, 'app'));
  assert.equal((await viaJwt.apiKeys.get({ id: child.id })).fields.description, 'made by the app key');
  const wrongScope = rebilly(base, null, { organizationId: appA });
  wrongScope.setSessionToken(signJwt(appKey.id, appKey.secretKey, 'account'));
  await rejectsUnauthorized(wrongScope.apiKeys.getAll());
});

test('one store: an account key made here authenticates on the Sunshine routes', async () => {
  const { creds, api } = await account(server, 'One store');
  const appId = await createApp(base, creds, 'Seen by the new key');
  const key = (await api.apiKeys.create({ data: { description: 'for Sunshine' } })).fields;
  assertApiKey(key, base, { type: 'secret', acl: UNRESTRICTED });

  const viaBasic = await sunshine('/v2/apps', { Authorization: basicHeader(key.id, key.secretKey) });
  assert.equal(viaBasic.status, 200);
  assert.deepEqual(viaBasic.json.apps.map((a) => a.id), [appId]);
  const viaJwt = await sunshine('/v2/apps', { Authorization: `Bearer ${signJwt(key.id, key.secretKey, 'account')}` });
  assert.equal(viaJwt.status, 200);
  assert.deepEqual(viaJwt.json.apps.map((a) => a.id), [appId]);
  // Basic with another key's secret does not work.
  const wrong = await sunshine('/v2/apps', { Authorization: basicHeader(key.id, creds.secret) });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.errors[0].code, 'unauthorized');

  // Deleted through Rebilly, refused by Sunshine at once.
  await api.apiKeys.delete({ id: key.id });
  assert.equal((await sunshine('/v2/apps', { Authorization: basicHeader(key.id, key.secretKey) })).status, 401);
});

test('restricted keys: the ACL admits only the operations it lists', async () => {
  const { creds, api } = await account(server, 'Restricted');
  const reader = (await api.apiKeys.create({
    data: { description: 'reader', acl: [{ scope: {}, permissions: ['GetApiKeyCollection'] }] },
  })).fields;
  assertApiKey(reader, base, { acl: [{ scope: {}, permissions: ['GetApiKeyCollection'] }] });
  const asReader = rebilly(base, reader.secretKey);

  const list = await asReader.apiKeys.getAll({ sort: ['createdTime'] });
  assert.deepEqual(idsOf(list), [creds.id, reader.id]);
  const err = await rejectsForbidden(asReader.apiKeys.create({ data: { description: 'nope' } }));
  assert.match(err.message, /PostApiKey/);
  await rejectsForbidden(asReader.apiKeys.get({ id: reader.id }));
  await rejectsForbidden(asReader.apiKeys.update({ id: reader.id, data: { description: 'wider', acl: null } }));
  await rejectsForbidden(asReader.apiKeys.delete({ id: reader.id }));
  // The SDK's create-with-id begins with a GET, which this key may not make.
  await rejectsForbidden(asReader.apiKeys.create({ id: 'reader-made', data: { description: 'x' } }));
  assert.equal((await api.apiKeys.getAll()).total, 2, 'nothing was written');
  // Nor may it use Sunshine operations it was not granted.
  assert.equal((await sunshine('/v2/apps', { Authorization: basicHeader(reader.id, reader.secretKey) })).status, 403);

  // A key with PutApiKey but not GetApiKey: the SDK's create({id}) fails at
  // its GET, while update() (the PUT upsert) creates.
  const putter = (await api.apiKeys.create({
    data: { description: 'putter', acl: [{ scope: {}, permissions: ['PutApiKey'] }] },
  })).fields;
  const asPutter = rebilly(base, putter.secretKey);
  await rejectsForbidden(asPutter.apiKeys.create({ id: 'put-only', data: { description: 'x' } }));
  const upserted = await asPutter.apiKeys.update({ id: 'put-only', data: { description: 'x' } });
  assert.equal(upserted.response.status, 201);
  assertApiKey(upserted.fields, base, { id: 'put-only', acl: [{ scope: {}, permissions: ['PutApiKey'] }] });
});

test('restricted keys: a key cannot make a key wider than itself', async () => {
  const { api } = await account(server, 'No escalation');
  const creatorAcl = [{ scope: {}, permissions: ['PostApiKey', 'GetApiKey', 'GetApiKeyCollection', 'PutApiKey'] }];
  const creator = (await api.apiKeys.create({ data: { description: 'creator', acl: creatorAcl } })).fields;
  const asCreator = rebilly(base, creator.secretKey);

  for (const acl of [
    [{ scope: {}, permissions: ['*'] }],
    [{ scope: {}, permissions: ['GetApiKey', 'DeleteApiKey'] }],
    [{ scope: {}, permissions: ['ListApps'] }],
  ]) {
    const err = await rejectsForbidden(asCreator.apiKeys.create({ data: { description: 'wider', acl } }));
    assert.match(err.message, /beyond its own/);
  }
  // acl: null asks for nothing in particular: the key inherits the creator's.
  const inherited = (await asCreator.apiKeys.create({ data: { description: 'inherits', acl: null } })).fields;
  assertApiKey(inherited, base, { acl: creatorAcl });
  const omitted = (await asCreator.apiKeys.create({ data: { description: 'omitted' } })).fields;
  assertApiKey(omitted, base, { acl: creatorAcl });
  // Narrower is fine, scoped or not.
  const narrow = [{ scope: {}, permissions: ['GetApiKey'] }, { scope: { organizationId: ['org-1'] }, permissions: ['PostApiKey'] }];
  assertApiKey((await asCreator.apiKeys.create({ data: { description: 'narrow', acl: narrow } })).fields, base, { acl: narrow });
  // Nor can it widen an existing key, its own included.
  await rejectsForbidden(asCreator.apiKeys.update({ id: omitted.id, data: { description: 'x', acl: UNRESTRICTED } }));
  await rejectsForbidden(asCreator.apiKeys.update({ id: creator.id, data: { description: 'x', acl: UNRESTRICTED } }));
  assertApiKey((await api.apiKeys.get({ id: creator.id })).fields, base, { acl: creatorAcl, description: 'creator' });

  // The same holds for addresses.
  const fenced = (await api.apiKeys.create({
    data: { description: 'fenced', acl: creatorAcl, allowedIps: ['203.0.113.0/24'] },
  })).fields;
  // (Used from 127.0.0.1, this key is refused outright; the checks of what it
  // may grant are in rebilly-network.test.mjs.)
  await rejectsForbidden(rebilly(base, fenced.secretKey).apiKeys.getAll());
});

test('restricted keys: an organizationId scope admits that organization only', async () => {
  const { creds, api } = await account(server, 'Org scoped');
  const appA = await createApp(base, creds, 'A');
  const appB = await createApp(base, creds, 'B');
  const acl = [{ scope: { organizationId: [appA] }, permissions: ['*'] }];
  const scoped = (await api.apiKeys.create({ data: { description: 'A only', acl } })).fields;
  assertApiKey(scoped, base, { acl });

  const inA = rebilly(base, scoped.secretKey, { organizationId: appA });
  assert.equal((await inA.apiKeys.getAll()).total, 0);
  const made = (await inA.apiKeys.create({ data: { description: 'made in A' } })).fields;
  assertApiKey(made, `${base}/organizations/${appA}`, { description: 'made in A', acl });
  assert.deepEqual(idsOf(await inA.apiKeys.getAll()), [made.id]);
  assert.equal((await inA.apiKeys.get({ id: made.id })).fields.id, made.id);
  // Scoped wider than itself: refused.
  await rejectsForbidden(inA.apiKeys.create({ data: { description: 'x', acl: [{ scope: {}, permissions: ['*'] }] } }));
  await rejectsForbidden(inA.apiKeys.create({ data: { description: 'x', acl: [{ scope: { organizationId: [appA, appB] }, permissions: ['*'] }] } }));

  const inB = rebilly(base, scoped.secretKey, { organizationId: appB });
  const err = await rejectsForbidden(inB.apiKeys.getAll());
  assert.match(err.message, /GetApiKeyCollection/);
  await rejectsForbidden(inB.apiKeys.create({ data: { description: 'x' } }));
  // The root addresses no organization, so a scoped entry does not cover it.
  await rejectsForbidden(rebilly(base, scoped.secretKey).apiKeys.getAll());
  // Unknown organizations are refused before they are looked up.
  await rejectsForbidden(rebilly(base, scoped.secretKey, { organizationId: 'org-1' }).apiKeys.getAll());

  // The same ACL governs the Sunshine routes.
  const auth = { Authorization: basicHeader(scoped.id, scoped.secretKey) };
  assert.equal((await sunshine(`/v2/apps/${appA}`, auth)).status, 200);
  assert.equal((await sunshine(`/v2/apps/${appB}`, auth)).status, 403);
  assert.equal((await sunshine('/v2/apps', auth)).status, 403);
});

test('restricted keys: a narrower key may not change a stronger key (403), which keeps its acl', async () => {
  const { creds, api } = await account(server, 'Silent narrowing');
  const editor = (await api.apiKeys.create({
    data: { description: 'editor', acl: [{ scope: {}, permissions: ['PutApiKey', 'GetApiKey'] }] },
  })).fields;
  const res = await request(`${base}/api-keys/${creds.id}`, {
    method: 'PUT', headers: { 'REB-APIKEY': editor.secretKey, 'Content-Type': 'application/json' }, body: '{"description":"renamed"}',
  });
  assert.equal(res.status, 403, `PUT answered ${res.status}: ${res.text}`);
  // Either way, the bootstrap key must still be unrestricted.
  assert.deepEqual((await request(`${base}/api-keys/${creds.id}`, { headers: { 'REB-APIKEY': creds.secret } })).json?.acl, UNRESTRICTED);
});

test('publishable keys are refused with 401 on /api-keys and on Sunshine, in every form', async () => {
  const { creds, api } = await account(server, 'Publishable');
  const appId = await createApp(base, creds, 'x');
  const pk = (await api.apiKeys.create({ data: { description: 'browser', type: 'publishable' } })).fields;
  const orgPk = (await rebilly(base, creds.secret, { organizationId: appId }).apiKeys.create({
    data: { description: 'org browser', type: 'publishable' },
  })).fields;

  // Through the SDK: as apiKey (REB-APIKEY), and as setPublishableKey does it (raw Authorization).
  const asApiKey = rebilly(base, pk.secretKey);
  const err = await rejectsUnauthorized(asApiKey.apiKeys.getAll());
  assert.equal(err.message, 'Publishable keys cannot be used for this operation');
  await rejectsUnauthorized(asApiKey.apiKeys.create({ data: { description: 'x' } }));
  await rejectsUnauthorized(rebilly(base, orgPk.secretKey, { organizationId: appId }).apiKeys.getAll());
  const viaSetter = rebilly(base, null);
  viaSetter.setPublishableKey(pk.secretKey);
  await rejectsUnauthorized(viaSetter.apiKeys.get({ id: pk.id }));

  // On the wire, every credential form.
  const forms = (key) => [
    { 'REB-APIKEY': key.secretKey },
    { 'X-API-Key': key.secretKey },
    { Authorization: key.secretKey },
    { Authorization: `Bearer ${key.secretKey}` },
    { Authorization: basicHeader(key.id, key.secretKey) },
    { Authorization: `Bearer ${signJwt(key.id, key.secretKey, 'account')}` },
  ];
  for (const headers of forms(pk)) {
    const what = JSON.stringify(headers).slice(0, 40);
    assertProblem(await request(`${base}/api-keys`, { headers }), 401, 'Unauthorized');
    const post = await request(`${base}/api-keys`, {
      method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: '{"description":"x"}',
    });
    assertProblem(post, 401, 'Unauthorized');
    const sun = await sunshine('/v2/apps', headers);
    assert.equal(sun.status, 401, `Sunshine with ${what}: ${sun.text}`);
    assert.equal(sun.json.errors[0].code, 'unauthorized');
  }
  for (const headers of forms(orgPk)) {
    assert.equal((await sunshine(`/v2/apps/${appId}`, headers)).status, 401);
    assertProblem(await request(`${base}/organizations/${appId}/api-keys`, { headers }), 401, 'Unauthorized');
  }
  assert.equal((await api.apiKeys.getAll({ filter: 'type:publishable' })).total, 1, 'nothing was created');
});

test('auth forms: REB-APIKEY wins over Authorization; Bearer JWT, X-API-Key and Bearer secret work', async () => {
  const { creds, api } = await account(server, 'Auth forms');
  const key = (await api.apiKeys.create({ data: { description: 'signer' } })).fields;
  const token = signJwt(key.id, key.secretKey, 'account');

  // A valid REB-APIKEY and garbage in Authorization (as the SDK sends both after setSessionToken).
  const both = rebilly(base, key.secretKey);
  both.setSessionToken('garbage');
  const sent = [];
  both.addRequestInterceptor({ thenDelegate: (c) => { sent.push(c.headers); return c; } });
  assert.equal((await both.apiKeys.get({ id: key.id })).fields.id, key.id);
  assert.equal(sent[0]['REB-APIKEY'], key.secretKey, 'the SDK kept REB-APIKEY');
  assert.equal(sent[0].Authorization, 'Bearer garbage');
  const raw = await request(`${base}/api-keys?limit=1`, { headers: { 'REB-APIKEY': key.secretKey, Authorization: 'Bearer garbage' } });
  assert.equal(raw.status, 200);
  // And the other way round: a bad REB-APIKEY is not rescued by a good JWT.
  const badKey = rebilly(base, 'sk_live_garbage');
  badKey.setSessionToken(token);
  await rejectsUnauthorized(badKey.apiKeys.getAll());

  // A JWT alone, as a user of setSessionToken would send it.
  const jwtOnly = rebilly(base, null);
  jwtOnly.setSessionToken(token);
  const viaJwt = await jwtOnly.apiKeys.getAll({ sort: ['createdTime'] });
  assert.deepEqual(idsOf(viaJwt), [creds.id, key.id]);
  const madeByJwt = (await jwtOnly.apiKeys.create({ data: { description: 'made with a JWT' } })).fields;
  assertApiKey(madeByJwt, base, { description: 'made with a JWT', apiUser: creds.accountId });
  // Over fetch too, and the other header forms.
  for (const headers of [
    { Authorization: `Bearer ${token}` },
    { 'X-API-Key': key.secretKey },
    { Authorization: `Bearer ${key.secretKey}` },
    { Authorization: basicHeader(key.id, key.secretKey) },
  ]) {
    const res = await request(`${base}/api-keys/${key.id}`, { headers });
    assert.equal(res.status, 200, `${Object.keys(headers)[0]}: ${res.text}`);
    assert.equal(res.json.secretKey, key.secretKey);
  }
  // JWTs that must fail: wrong scope, wrong secret, expired, no kid.
  for (const bad of [
    signJwt(key.id, key.secretKey, 'app'),
    signJwt(key.id, creds.secret, 'account'),
    signJwt(key.id, key.secretKey, 'account', { expiresIn: -120 }),
    signJwt('', key.secretKey, 'account'),
  ]) {
    const api2 = rebilly(base, null);
    api2.setSessionToken(bad);
    await rejectsUnauthorized(api2.apiKeys.getAll());
  }
  // A deleted key's JWT stops working at once, though it was seen before.
  await api.apiKeys.delete({ id: key.id });
  await rejectsUnauthorized(jwtOnly.apiKeys.getAll());
});

test('accounts are separate: another account\'s key ids are not found', async () => {
  const a = await account(server, 'Tenant A');
  const b = await account(server, 'Tenant B');
  const aKey = (await a.api.apiKeys.create({ id: 'tenant-a-key', data: { description: 'A' } })).fields;
  await rejectsRebilly(b.api.apiKeys.get({ id: aKey.id }), 'RebillyNotFoundError', 404);
  await rejectsRebilly(b.api.apiKeys.get({ id: a.creds.id }), 'RebillyNotFoundError', 404);
  await rejectsRebilly(b.api.apiKeys.delete({ id: aKey.id }), 'RebillyNotFoundError', 404);
  assert.ok(!idsOf(await b.api.apiKeys.getAll()).includes(aKey.id));
  assert.equal((await b.api.apiKeys.getAll({ filter: `id:${aKey.id},${a.creds.id}` })).total, 0);
  // B's PUT to A's id cannot take A's key over. (Today key ids are global, so
  // it is a 409; were they per account, B would get a key of its own.)
  let mine;
  try {
    mine = (await b.api.apiKeys.update({ id: aKey.id, data: { description: 'mine now' } })).fields;
  } catch (err) {
    assert.equal(err.status, 409, `unexpected ${err.status}: ${JSON.stringify(err.response?.data)}`);
  }
  if (mine) {
    assert.equal(mine.apiUser, b.creds.accountId);
    assert.notEqual(mine.secretKey, aKey.secretKey);
  }
  const still = (await a.api.apiKeys.get({ id: aKey.id })).fields;
  assertApiKey(still, base, { description: 'A', apiUser: a.creds.accountId, secretKey: aKey.secretKey });
  assert.equal((await rebilly(base, aKey.secretKey).apiKeys.get({ id: aKey.id })).fields.description, 'A');
});
