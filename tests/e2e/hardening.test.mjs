// Two rules as a user meets them through the official clients
// (rebilly-js-sdk@62.162.1 and sunshine-conversations-client@14.1.0) against
// the real binary:
// - an ACL entry scoped by productId, planId or customFieldName is kept and
//   echoed, but grants none of Latchkey's own operations (they name no
//   product, plan or field), so such a key cannot act as an account key;
// - deleting an app or an integration deletes its keys, so it needs rights
//   over every one of them: a key cannot delete, through their owner, keys
//   it could not delete directly.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer } from './lib/server.mjs';
import {
  Sunshine, basic, viaJwt, forbidden, unauthorized, rejectsWith, assertDeleteResult, customIntegration,
} from './lib/client.mjs';
import {
  account, rebilly, idsOf, createApp, createAppKey, assertApiKey, rejectsForbidden,
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

const sorted = (ids) => [...ids].sort();

test('a key scoped by productId is kept and echoed as sent, and can do nothing here', async () => {
  const { creds, api } = await account(server, 'Product scope');
  const acct = basic(base, creds.id, creds.secret);
  const appA = await createApp(base, creds, 'A');
  const other = await createApp(base, creds, 'Other');
  const otherKey = await createAppKey(base, creds, other, 'other app key');

  const acl = [{ scope: { productId: ['p1'] }, permissions: ['*'] }];
  const made = (await api.apiKeys.create({ data: { description: 'product p1', acl } })).fields;
  assertApiKey(made, base, { description: 'product p1', acl });
  assertApiKey((await api.apiKeys.get({ id: made.id })).fields, base, { description: 'product p1', acl });

  // The Sunshine client, by Basic and by JWT: it neither makes nor deletes apps or keys.
  for (const sun of [basic(base, made.id, made.secretKey), viaJwt(base, { id: made.id, secret: made.secretKey }, 'account')]) {
    await forbidden(sun.apps.createApp(new Sunshine.AppCreateBody('made by a product key')));
    await forbidden(sun.apps.deleteApp(other));
    await forbidden(sun.apps.listApps());
    await forbidden(sun.apps.getApp(appA));
    await forbidden(sun.appKeys.createAppKey(appA, new Sunshine.AppKeyCreateBody('x')));
    await forbidden(sun.appKeys.deleteAppKey(other, otherKey.id));
  }
  // The Rebilly SDK, at the root and in an organization.
  const asProduct = rebilly(base, made.secretKey);
  await rejectsForbidden(asProduct.apiKeys.getAll());
  await rejectsForbidden(asProduct.apiKeys.create({ data: { description: 'x' } }));
  await rejectsForbidden(asProduct.apiKeys.create({ data: { description: 'x', acl } }));
  await rejectsForbidden(asProduct.apiKeys.get({ id: made.id }));
  await rejectsForbidden(asProduct.apiKeys.update({ id: made.id, data: { description: 'x', acl: null } }));
  await rejectsForbidden(asProduct.apiKeys.delete({ id: creds.id }));
  const inOther = rebilly(base, made.secretKey, { organizationId: other });
  await rejectsForbidden(inOther.apiKeys.getAll());
  await rejectsForbidden(inOther.apiKeys.delete({ id: otherKey.id }));

  // Nothing was made, changed or deleted.
  assert.deepEqual(sorted((await acct.apps.listApps()).apps.map((a) => a.id)), sorted([appA, other]));
  assert.equal((await acct.appKeys.getAppKey(other, otherKey.id)).key.secret, otherKey.secret);
  assert.deepEqual(idsOf(await api.apiKeys.getAll({ sort: ['createdTime'] })), [creds.id, made.id]);
  assertApiKey((await api.apiKeys.get({ id: made.id })).fields, base, { description: 'product p1', acl });
});

test('planId and customFieldName scopes, alone or beside organizationId, grant nothing here either', async () => {
  const { creds, api } = await account(server, 'Other dimensions');
  const appA = await createApp(base, creds, 'A');
  for (const scope of [{ planId: ['gold'] }, { customFieldName: ['region'] }, { organizationId: [appA], productId: ['p1'] }]) {
    const acl = [{ scope, permissions: ['*'] }];
    const made = (await api.apiKeys.create({ data: { description: 'scoped', acl } })).fields;
    assertApiKey(made, base, { acl });
    const sun = basic(base, made.id, made.secretKey);
    await forbidden(sun.apps.createApp(new Sunshine.AppCreateBody('x')));
    await forbidden(sun.apps.getApp(appA));
    await forbidden(sun.apps.deleteApp(appA));
    await rejectsForbidden(rebilly(base, made.secretKey).apiKeys.getAll());
    await rejectsForbidden(rebilly(base, made.secretKey, { organizationId: appA }).apiKeys.create({ data: { description: 'x' } }));
  }
  const acct = basic(base, creds.id, creds.secret);
  assert.deepEqual((await acct.apps.listApps()).apps.map((a) => a.id), [appA]);
});

test('a key holding a product scope can hand on that scope, nothing wider', async () => {
  const { creds, api } = await account(server, 'Product no widening');
  const appA = await createApp(base, creds, 'A');
  const product = { scope: { productId: ['p1'] }, permissions: ['*'] };
  const creatorAcl = [{ scope: {}, permissions: ['PostApiKey', 'GetApiKey', 'GetApiKeyCollection', 'PutApiKey'] }, product];
  const creator = (await api.apiKeys.create({ data: { description: 'creator', acl: creatorAcl } })).fields;
  const asCreator = rebilly(base, creator.secretKey);

  for (const acl of [
    [{ scope: {}, permissions: ['*'] }],
    [{ scope: { organizationId: [appA] }, permissions: ['*'] }],
    [{ scope: { productId: ['p1', 'p2'] }, permissions: ['*'] }],
    [{ scope: { planId: ['gold'] }, permissions: ['*'] }],
  ]) {
    const err = await rejectsForbidden(asCreator.apiKeys.create({ data: { description: 'wider', acl } }));
    assert.match(err.message, /beyond its own/);
  }
  const child = (await asCreator.apiKeys.create({ data: { description: 'child', acl: [product] } })).fields;
  assertApiKey(child, base, { acl: [product] });
  await rejectsForbidden(asCreator.apiKeys.update({ id: child.id, data: { description: 'x', acl: [{ scope: {}, permissions: ['*'] }] } }));
  // The child holds the product scope only: it can do nothing here.
  await forbidden(basic(base, child.id, child.secretKey).apps.deleteApp(appA));
  await rejectsForbidden(rebilly(base, child.secretKey).apiKeys.delete({ id: creator.id }));
  assert.deepEqual(idsOf(await api.apiKeys.getAll({ sort: ['createdTime'] })), [creds.id, creator.id, child.id]);
});

test('deleting an app or an integration needs rights over every key it would delete', async () => {
  const { creds, api } = await account(server, 'Cascades');
  const acct = basic(base, creds.id, creds.secret);
  const appA = (await acct.apps.createApp(new Sunshine.AppCreateBody('A'))).app.id;
  const integration = (await acct.integrations.createIntegration(appA, customIntegration('I'))).integration.id;
  const strongAppKey = (await acct.appKeys.createAppKey(appA, new Sunshine.AppKeyCreateBody('unrestricted'))).key;
  const strongIntKey = (await acct.intKeys.createCustomIntegrationKey(appA, integration,
    new Sunshine.IntegrationApiKey('unrestricted'))).key;

  // A key restricted to app A, made with the Rebilly SDK.
  const acl = [{ scope: { organizationId: [appA] }, permissions: ['*'] }];
  const restricted = (await api.apiKeys.create({ data: { description: 'A only', acl } })).fields;
  const asA = basic(base, restricted.id, restricted.secretKey);
  const asAByJwt = viaJwt(base, { id: restricted.id, secret: restricted.secretKey }, 'account');
  // A key it makes inherits its ACL, so lies within its rights.
  const own = (await asA.appKeys.createAppKey(appA, new Sunshine.AppKeyCreateBody('own'))).key;
  assertApiKey((await rebilly(base, creds.secret, { organizationId: appA }).apiKeys.get({ id: own.id })).fields,
    `${base}/organizations/${appA}`, { acl });

  // It cannot delete the unrestricted keys directly, nor through their owners.
  await forbidden(asA.appKeys.deleteAppKey(appA, strongAppKey.id));
  await forbidden(asA.intKeys.deleteCustomIntegrationKey(appA, integration, strongIntKey.id));
  for (const sun of [asA, asAByJwt]) {
    await forbidden(sun.apps.deleteApp(appA));
    await forbidden(sun.integrations.deleteIntegration(appA, integration));
  }

  // Nothing was deleted, and every key still authenticates (an integration
  // key may use no route here: 403, not 401).
  assert.equal((await acct.apps.getApp(appA)).app.id, appA);
  assert.equal((await acct.integrations.getIntegration(appA, integration)).integration.id, integration);
  assert.deepEqual(sorted((await acct.appKeys.listAppKeys(appA)).keys.map((k) => k.id)), sorted([strongAppKey.id, own.id]));
  assert.deepEqual((await acct.intKeys.listCustomIntegrationKeys(appA, integration)).keys.map((k) => k.id), [strongIntKey.id]);
  assert.equal((await basic(base, strongAppKey.id, strongAppKey.secret).apps.getApp(appA)).app.id, appA);
  assert.equal((await basic(base, own.id, own.secret).apps.getApp(appA)).app.id, appA);
  await forbidden(basic(base, strongIntKey.id, strongIntKey.secret).apps.getApp(appA));

  // Once the integration holds only keys within its rights, it may delete it;
  // the app still holds the unrestricted app key, until the account deletes it.
  await acct.intKeys.deleteCustomIntegrationKey(appA, integration, strongIntKey.id);
  assertDeleteResult(await asA.integrations.deleteIntegration(appA, integration));
  await rejectsWith(acct.integrations.getIntegration(appA, integration), 404, 'integration_not_found');
  await forbidden(asA.apps.deleteApp(appA));
  assert.equal((await acct.apps.getApp(appA)).app.id, appA);
  await acct.appKeys.deleteAppKey(appA, strongAppKey.id);
  assertDeleteResult(await asA.apps.deleteApp(appA));
  await rejectsWith(acct.apps.getApp(appA), 404, 'app_not_found');
  await unauthorized(basic(base, own.id, own.secret).apps.getApp(appA));
});
