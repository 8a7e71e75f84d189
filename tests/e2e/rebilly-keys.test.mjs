// Rebilly /api-keys through the official rebilly-js-sdk@62.162.1: create
// (with and without an id), list with limit/offset/sort/filter and the
// Pagination-* totals, get, update (PUT upsert), delete, and the errors the
// SDK maps (validation, not found, conflict, method not allowed, 401).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopServer } from './lib/server.mjs';
import { request } from './lib/client.mjs';
import {
  account, rebilly, RebillyErrors, API_KEY_ID, RFC3339, SECRET, PUBLISHABLE, UNRESTRICTED, plain, idsOf, ulidTime,
  assertApiKey, assertProblem, rejectsRebilly, rejectsInvalid, rejectsUnauthorized,
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


test('create without an id: POST /api-keys/ → 201, api_key_ ULID id, sk_live_/pk_live_ secrets', async () => {
  const { creds, api } = await account(server, 'Create');
  const started = Date.now();
  const seen = [];
  api.addRequestInterceptor({ thenDelegate: (config) => { seen.push(`${config.method.toUpperCase()} ${config.url}`); return config; } });

  const made = await api.apiKeys.create({ data: { description: 'Backend key' } });
  assert.equal(made.response.status, 201);
  // The SDK posted to the collection with a trailing slash.
  assert.deepEqual(seen, ['POST api-keys/']);
  const key = made.fields;
  assertApiKey(key, base, {
    description: 'Backend key', type: 'secret', acl: UNRESTRICTED, allowedIps: null, apiUser: creds.accountId,
  });
  assert.match(key.id, API_KEY_ID);
  assert.match(key.secretKey, SECRET.live);
  assert.match(key.createdTime, RFC3339);
  assert.equal(key.updatedTime, key.createdTime);
  assert.ok(Math.abs(Date.parse(key.createdTime) - started) < 60_000, `createdTime ${key.createdTime} is now`);
  assert.ok(Math.abs(ulidTime(key.id) - started) < 60_000, 'the ULID carries the creation time');
  assert.ok(key._links[0].href.endsWith(`/api-keys/${key.id}`));
  assert.equal(made.response.headers.location, key._links[0].href);
  assert.match(made.response.headers['content-type'], /^application\/json/);

  const pub = (await api.apiKeys.create({ data: { description: 'Browser key', type: 'publishable' } })).fields;
  assertApiKey(pub, base, { description: 'Browser key', type: 'publishable', acl: UNRESTRICTED, allowedIps: null });
  assert.match(pub.id, API_KEY_ID);
  assert.match(pub.secretKey, PUBLISHABLE.live);
  assert.notEqual(pub.id, key.id);

  // Every field given is kept; each key gets its own secret.
  const full = (await api.apiKeys.create({
    data: {
      description: 'Restricted',
      type: 'secret',
      acl: [{ scope: { organizationId: ['org-1'], productId: ['prod_1'], planId: ['plan_1'], customFieldName: ['cf-1'] }, permissions: ['GetApiKey', 'GetApiKeyCollection'] }],
      allowedIps: ['203.0.113.0/24', '198.51.100.7', '2001:db8:abcd:12::/64', '203.0.113.77/24'],
    },
  })).fields;
  assertApiKey(full, base, {
    description: 'Restricted',
    acl: [{ scope: { organizationId: ['org-1'], productId: ['prod_1'], planId: ['plan_1'], customFieldName: ['cf-1'] }, permissions: ['GetApiKey', 'GetApiKeyCollection'] }],
    // Ranges are normalised to their network; single addresses lose their /32.
    allowedIps: ['203.0.113.0/24', '198.51.100.7', '2001:db8:abcd:12::/64', '203.0.113.0/24'],
  });
  assert.equal(new Set([key.secretKey, pub.secretKey, full.secretKey]).size, 3);

  // The key just made works as the SDK's apiKey.
  const own = rebilly(base, key.secretKey);
  assert.equal((await own.apiKeys.get({ id: key.id })).fields.secretKey, key.secretKey);
});

test('create: read-only members in the body are ignored', async () => {
  const { creds, api } = await account(server, 'Read-only');
  const key = (await api.apiKeys.create({
    data: {
      description: 'Echo', id: 'chosen-by-body', secretKey: 'sk_live_x', apiUser: 'someone', createdTime: '2000-01-01T00:00:00Z',
      updatedTime: '2000-01-01T00:00:00Z', _links: [{ href: 'http://elsewhere/', rel: 'self' }], unknownMember: true,
    },
  })).fields;
  assert.match(key.id, API_KEY_ID);
  assert.match(key.secretKey, SECRET.live);
  assertApiKey(key, base, { description: 'Echo', apiUser: creds.accountId });
  assert.notEqual(key.createdTime, '2000-01-01T00:00:00Z');
  await rejectsRebilly(api.apiKeys.get({ id: 'chosen-by-body' }), 'RebillyNotFoundError', 404);
});

test('create with an id: GET → 404 → PUT → 201; again: RebillyConflictError client-side', async () => {
  const { api } = await account(server, 'With id');
  const seen = [];
  // Record what the SDK sends, through its public interceptor hook.
  api.addRequestInterceptor({ thenDelegate: (config) => { seen.push(`${config.method.toUpperCase()} ${config.url}`); return config; } });

  const made = await api.apiKeys.create({ id: 'my-key-1', data: { description: 'Chosen id', type: 'publishable' } });
  assert.deepEqual(seen, ['GET api-keys/my-key-1', 'PUT api-keys/my-key-1']);
  assert.equal(made.response.status, 201);
  assertApiKey(made.fields, base, { id: 'my-key-1', description: 'Chosen id', type: 'publishable' });
  assert.match(made.fields.secretKey, PUBLISHABLE.live);
  assert.equal(made.response.headers.location, `${base}/api-keys/my-key-1`);

  seen.length = 0;
  await assert.rejects(api.apiKeys.create({ id: 'my-key-1', data: { description: 'Second' } }), (e) => {
    assert.ok(e instanceof RebillyErrors.RebillyConflictError);
    assert.equal(e.name, 'RebillyConflictError');
    assert.equal(e.status, null, 'raised by the SDK, not by a 409');
    assert.match(e.message, /already exists/);
    return true;
  });
  assert.deepEqual(seen, ['GET api-keys/my-key-1'], 'the SDK found it with GET and wrote nothing');
  assert.equal((await api.apiKeys.get({ id: 'my-key-1' })).fields.description, 'Chosen id');

  // Client-chosen ids may use every character of the specification's pattern.
  const odd = (await api.apiKeys.create({ id: 'a.b~c@d-e_f', data: { description: 'odd' } })).fields;
  assertApiKey(odd, base, { id: 'a.b~c@d-e_f' });
  // Too long an id (51 characters): the GET finds nothing, the PUT is refused.
  await rejectsInvalid(api.apiKeys.create({ id: 'x'.repeat(51), data: { description: 'long' } }), ['id']);
  // 50 is the limit.
  assertApiKey((await api.apiKeys.create({ id: 'y'.repeat(50), data: { description: 'fifty' } })).fields, base, { id: 'y'.repeat(50) });
});

test('getAll: default order and limit 100, Pagination-* totals, limit/offset', async () => {
  const { creds, api } = await account(server, 'Many');
  const made = [];
  for (let i = 0; i < 101; i += 1) {
    made.push((await api.apiKeys.create({ data: { description: `key ${i}` } })).fields.id);
  }
  // Newest first by default; the bootstrap key, the oldest, is last.
  const all = [...made].reverse().concat(creds.id);

  const page = await api.apiKeys.getAll();
  assert.equal(page.response.status, 200);
  assert.equal(page.total, 102);
  assert.equal(page.limit, 100, 'the default limit is 100');
  assert.equal(page.offset, 0);
  assert.equal(page.response.headers['pagination-total'], '102');
  assert.equal(page.response.headers['pagination-limit'], '100');
  assert.equal(page.response.headers['pagination-offset'], '0');
  assert.deepEqual(idsOf(page), all.slice(0, 100));
  assertApiKey(page.items[0].fields, base, { description: 'key 100', type: 'secret', apiUser: creds.accountId });
  // The list shows each key's secret, as GET does.
  const one = (await api.apiKeys.get({ id: made[100] })).fields;
  assert.deepEqual(plain(page.items[0].fields), plain(one));

  const rest = await api.apiKeys.getAll({ offset: 100 });
  assert.deepEqual([rest.total, rest.limit, rest.offset], [102, 100, 100]);
  assert.deepEqual(idsOf(rest), all.slice(100));
  assert.equal(rest.items[1].fields.description, 'Bootstrap key');
  assert.equal(rest.items[1].fields.type, 'secret');
  assert.equal(rest.items[1].fields.secretKey, creds.secret);

  const mid = await api.apiKeys.getAll({ limit: 3, offset: 5 });
  assert.deepEqual([mid.total, mid.limit, mid.offset], [102, 3, 5]);
  assert.deepEqual(idsOf(mid), all.slice(5, 8));

  const big = await api.apiKeys.getAll({ limit: 1000 });
  assert.equal(big.limit, 1000);
  assert.deepEqual(idsOf(big), all);

  const none = await api.apiKeys.getAll({ limit: 0 });
  assert.deepEqual([none.total, none.limit, none.offset, none.items.length], [102, 0, 0, 0]);
  const past = await api.apiKeys.getAll({ offset: 1000 });
  assert.deepEqual([past.total, past.limit, past.offset, past.items.length], [102, 100, 1000, 0]);

  // Out-of-range and malformed values are refused, all at once.
  await rejectsInvalid(api.apiKeys.getAll({ limit: 1001 }), ['limit']);
  await rejectsInvalid(api.apiKeys.getAll({ limit: -1, offset: 1001 }), ['limit', 'offset']);
  await rejectsInvalid(api.apiKeys.getAll({ limit: 'ten' }), ['limit']);
});

test('getAll: sort by createdTime, updatedTime and id, ascending and descending', async () => {
  const { creds, api } = await account(server, 'Sort');
  const a = (await api.apiKeys.create({ id: 'k-b', data: { description: 'first' } })).fields;
  const b = (await api.apiKeys.create({ id: 'k-c', data: { description: 'second' } })).fields;
  const c = (await api.apiKeys.create({ id: 'k-a', data: { description: 'third' } })).fields;
  const byCreation = [creds.id, a.id, b.id, c.id];

  const asc = await api.apiKeys.getAll({ sort: ['createdTime'] });
  assert.equal(asc.config.params.sort, 'createdTime');
  assert.deepEqual(idsOf(asc), byCreation);
  assert.deepEqual(idsOf(await api.apiKeys.getAll({ sort: ['-createdTime'] })), [...byCreation].reverse());
  assert.deepEqual(idsOf(await api.apiKeys.getAll()), [...byCreation].reverse(), 'default: -createdTime');
  assert.deepEqual(idsOf(await api.apiKeys.getAll({ sort: ['id'] })), [creds.id, 'k-a', 'k-b', 'k-c']);
  assert.deepEqual(idsOf(await api.apiKeys.getAll({ sort: ['-id'] })), ['k-c', 'k-b', 'k-a', creds.id]);

  // Updating the oldest api key moves it to the front by -updatedTime.
  await api.apiKeys.update({ id: a.id, data: { description: 'first, updated' } });
  assert.deepEqual(idsOf(await api.apiKeys.getAll({ sort: ['-updatedTime'] })), [a.id, c.id, b.id, creds.id]);
  assert.deepEqual(idsOf(await api.apiKeys.getAll({ sort: ['updatedTime'] })), [creds.id, b.id, c.id, a.id]);

  // Several keys, joined with a comma by the SDK; limit applies after sorting.
  const two = await api.apiKeys.getAll({ sort: ['-createdTime', 'id'], limit: 2 });
  assert.equal(two.config.params.sort, '-createdTime,id');
  assert.deepEqual(idsOf(two), [c.id, b.id]);

  await rejectsInvalid(api.apiKeys.getAll({ sort: ['description'] }), ['sort']);
  await rejectsInvalid(api.apiKeys.getAll({ sort: ['createdTime', 'nope'] }), ['sort']);
});

test('getAll: filter by type, description and id, with negation and several fields', async () => {
  const { creds, api } = await account(server, 'Filter');
  const fooSecret = (await api.apiKeys.create({ data: { description: 'foo' } })).fields;
  const fooPub = (await api.apiKeys.create({ data: { description: 'foo', type: 'publishable' } })).fields;
  const bar = (await api.apiKeys.create({ data: { description: 'bar' } })).fields;
  const barPub = (await api.apiKeys.create({ data: { description: 'bar baz', type: 'publishable' } })).fields;

  const check = async (filter, ids, extra = {}) => {
    const got = await api.apiKeys.getAll({ filter, sort: ['createdTime'], ...extra });
    assert.equal(got.config.params.filter, filter);
    assert.deepEqual(idsOf(got), ids, `filter=${filter}`);
    return got;
  };

  const pubs = await check('type:publishable', [fooPub.id, barPub.id]);
  assert.equal(pubs.total, 2);
  assert.ok(pubs.items.every((m) => m.fields.type === 'publishable' && /^pk_live_/.test(m.fields.secretKey)));
  await check('type:!secret', [fooPub.id, barPub.id]);
  await check('type:secret', [creds.id, fooSecret.id, bar.id]);
  await check('type:secret,publishable', [creds.id, fooSecret.id, fooPub.id, bar.id, barPub.id]);
  await check('description:foo', [fooSecret.id, fooPub.id]);
  await check('description:bar baz', [barPub.id]);
  await check('description:ba', [], {});
  await check(`id:${bar.id},${fooPub.id}`, [fooPub.id, bar.id]);
  await check(`id:!${bar.id},${fooPub.id}`, [creds.id, fooSecret.id, barPub.id]);
  await check('description:foo;type:secret', [fooSecret.id]);
  await check('description:foo,bar;type:!publishable', [fooSecret.id, bar.id]);
  await check('id:nothing-has-this-id', []);

  // The total counts all matches; limit and offset page through them.
  const paged = await check('description:foo,bar', [fooPub.id], { limit: 1, offset: 1 });
  assert.deepEqual([paged.total, paged.limit, paged.offset], [3, 1, 1]);

  await rejectsInvalid(api.apiKeys.getAll({ filter: 'apiUser:x' }), ['filter']);
  await rejectsInvalid(api.apiKeys.getAll({ filter: 'type' }), ['filter']);
  await rejectsInvalid(api.apiKeys.getAll({ filter: 'type:' }), ['filter']);
});

test('getAll: a filter with a literal ";" (not percent-encoded) is applied or refused, never dropped', async () => {
  const { creds, api } = await account(server, 'Semicolon');
  const pub = (await api.apiKeys.create({ data: { description: 'foo', type: 'publishable' } })).fields;
  await api.apiKeys.create({ data: { description: 'foo' } });
  // The SDK (axios) sends %3B, which works; curl and hand-built URLs send ";".
  const encoded = await request(`${base}/api-keys?filter=type:publishable%3Bdescription:foo`, { headers: { 'REB-APIKEY': creds.secret } });
  assert.deepEqual(encoded.json.map((k) => k.id), [pub.id]);
  const raw = await request(`${base}/api-keys?filter=type:publishable;description:foo`, { headers: { 'REB-APIKEY': creds.secret } });
  if (raw.status === 200) {
    assert.deepEqual(raw.json.map((k) => k.id), [pub.id], 'the filter was applied');
  } else {
    assertProblem(raw, raw.status, raw.json?.title);
    assert.ok(raw.status === 400 || raw.status === 422, `refused with ${raw.status}`);
  }
});

test('get, update (PUT): description replaced, omitted acl/allowedIps kept, null clears', async () => {
  const { api } = await account(server, 'Update');
  const acl = [{ scope: { organizationId: ['org-9'] }, permissions: ['GetApiKey'] }];
  const key = (await api.apiKeys.create({ data: { description: 'before', acl, allowedIps: ['203.0.113.0/24'] } })).fields;

  const got = await api.apiKeys.get({ id: key.id });
  assert.equal(got.response.status, 200);
  assert.deepEqual(plain(got.fields), plain(key));

  const upd = await api.apiKeys.update({ id: key.id, data: { description: 'after' } });
  assert.equal(upd.response.status, 200);
  assert.equal(upd.response.headers.location, undefined, 'no Location on update');
  assertApiKey(upd.fields, base, {
    id: key.id, description: 'after', type: 'secret', acl, allowedIps: ['203.0.113.0/24'],
    secretKey: key.secretKey, createdTime: key.createdTime, apiUser: key.apiUser,
  });
  assert.ok(Date.parse(upd.fields.updatedTime) >= Date.parse(key.updatedTime));
  assert.deepEqual(plain((await api.apiKeys.get({ id: key.id })).fields), plain(upd.fields));

  // allowedIps: null lifts the restriction; acl stays.
  const cleared = (await api.apiKeys.update({ id: key.id, data: { description: 'after', allowedIps: null } })).fields;
  assertApiKey(cleared, base, { acl, allowedIps: null });
  // New values replace; acl: null makes it unrestricted again.
  const replaced = (await api.apiKeys.update({ id: key.id, data: { description: 'x', acl: null, allowedIps: ['198.51.100.0/25'] } })).fields;
  assertApiKey(replaced, base, { description: 'x', acl: UNRESTRICTED, allowedIps: ['198.51.100.0/25'] });

  // What GET returned can be sent back as is (read-only members ignored).
  const back = await api.apiKeys.update({ id: key.id, data: plain((await api.apiKeys.get({ id: key.id })).fields) });
  assert.equal(back.response.status, 200);
  assertApiKey(back.fields, base, { description: 'x', acl: UNRESTRICTED, allowedIps: ['198.51.100.0/25'], secretKey: key.secretKey });

  // type cannot change.
  await rejectsInvalid(api.apiKeys.update({ id: key.id, data: { description: 'x', type: 'publishable' } }), ['type']);
  assert.equal((await api.apiKeys.get({ id: key.id })).fields.type, 'secret');
  // description is required on update as on create.
  await rejectsInvalid(api.apiKeys.update({ id: key.id, data: { acl: null } }), ['description']);

  // PUT to an unknown id is an upsert: 201 with Location.
  const upserted = await api.apiKeys.update({ id: 'put-made-me', data: { description: 'upserted', type: 'publishable' } });
  assert.equal(upserted.response.status, 201);
  assert.equal(upserted.response.headers.location, `${base}/api-keys/put-made-me`);
  assertApiKey(upserted.fields, base, { id: 'put-made-me', description: 'upserted', type: 'publishable' });
});

test('update of a publishable key with only a description (as the official sample does) keeps its type', async () => {
  const { api } = await account(server, 'Publishable update');
  const pub = (await api.apiKeys.create({ data: { description: 'pk', type: 'publishable' } })).fields;
  const upd = await api.apiKeys.update({ id: pub.id, data: { description: 'A better description' } });
  assert.equal(upd.response.status, 200);
  assertApiKey(upd.fields, base, { description: 'A better description', type: 'publishable', secretKey: pub.secretKey });
});

test('delete: 204 with no body, then get/delete → RebillyNotFoundError; the key stops working', async () => {
  const { api } = await account(server, 'Delete');
  const key = (await api.apiKeys.create({ data: { description: 'doomed' } })).fields;
  const own = rebilly(base, key.secretKey);
  assert.equal((await own.apiKeys.getAll({ limit: 1 })).response.status, 200);

  const del = await api.apiKeys.delete({ id: key.id });
  assert.equal(del.response.status, 204);
  assert.deepEqual(plain(del.fields), {});

  const err = await rejectsRebilly(api.apiKeys.get({ id: key.id }), 'RebillyNotFoundError', 404);
  assert.equal(err.response.data.title, 'Not Found');
  assert.equal(err.message, `ApiKey with ID "${key.id}" was not found.`);
  await rejectsRebilly(api.apiKeys.delete({ id: key.id }), 'RebillyNotFoundError', 404);
  // PUT to an unknown id upserts, so a bad body there is a 422, not a 404.
  await rejectsInvalid(api.apiKeys.update({ id: 'never-was', data: {} }), ['description']);
  assert.ok(!idsOf(await api.apiKeys.getAll()).includes(key.id));
  // Deleted means revoked at once.
  await rejectsUnauthorized(own.apiKeys.getAll());

  // A key may not delete itself (409: it would lock its holder out); it
  // still works afterwards.
  const self = (await api.apiKeys.create({ data: { description: 'self' } })).fields;
  const selfApi = rebilly(base, self.secretKey);
  await rejectsRebilly(selfApi.apiKeys.delete({ id: self.id }), 'RebillyConflictError', 409);
  assert.equal((await selfApi.apiKeys.get({ id: self.id })).response.status, 200);
});

test('validation: RebillyValidationError with every invalid field as a dot path', async () => {
  const { api } = await account(server, 'Validation');
  const before = (await api.apiKeys.getAll()).total;

  const cases = [
    [{}, ['description']],
    [{ description: '   ' }, ['description']],
    [{ description: null }, ['description']],
    [{ description: 42 }, ['description']],
    [{ description: 'x'.repeat(256) }, ['description']],
    [{ description: 'bell\u0007' }, ['description']],
    [{ description: 'ok', type: 'private' }, ['type']],
    [{ description: 'ok', acl: 'all' }, ['acl']],
    [{ description: 'ok', acl: ['x'] }, ['acl.0']],
    [{ description: 'ok', acl: [{ permissions: ['*'] }] }, ['acl.0.scope']],
    [{ description: 'ok', acl: [{ scope: {} }] }, ['acl.0.permissions']],
    [{ description: 'ok', acl: [{ scope: {}, permissions: [] }] }, ['acl.0.permissions']],
    [{ description: 'ok', acl: [{ scope: [], permissions: ['*'] }] }, ['acl.0.scope']],
    [{ description: 'ok', acl: [{ scope: {}, permissions: ['GetApiKey', 'not an id!'] }] }, ['acl.0.permissions.1']],
    [{ description: 'ok', acl: [{ scope: { organizationId: ['bad id'] }, permissions: ['*'] }] }, ['acl.0.scope.organizationId.0']],
    [{ description: 'ok', acl: [{ scope: { customFieldName: ['ok', 'a b'] }, permissions: ['*'] }] }, ['acl.0.scope.customFieldName.1']],
    [{ description: 'ok', acl: [{ scope: { productId: 'prod_1' }, permissions: ['*'] }] }, ['acl.0.scope.productId']],
    [{ description: 'ok', allowedIps: 'anywhere' }, ['allowedIps']],
    [{ description: 'ok', allowedIps: ['not-an-ip'] }, ['allowedIps.0']],
    [{ description: 'ok', allowedIps: ['203.0.113.1', '203.0.113.0/33', 'fe80::1%eth0'] }, ['allowedIps.1', 'allowedIps.2']],
    // Private and other non-public ranges, and anything overlapping one.
    [{ description: 'ok', allowedIps: ['10.0.0.0/8', '192.168.1.1', '127.0.0.1', '::1', '0.0.0.0/0', '203.0.113.9'] },
      ['allowedIps.0', 'allowedIps.1', 'allowedIps.2', 'allowedIps.3', 'allowedIps.4']],
    // Every problem at once, in body order.
    [{ description: '', type: 1, acl: [{ scope: {}, permissions: [] }, { scope: {} }], allowedIps: ['x'] },
      ['description', 'type', 'acl.0.permissions', 'acl.1.permissions', 'allowedIps.0']],
  ];
  for (const [data, fields] of cases) {
    const err = await rejectsInvalid(api.apiKeys.create({ data }), fields);
    if (fields[0] === 'description' && data.description === '   ') {
      assert.equal(err.invalidFields[0].message, 'This value should not be blank.');
    }
  }
  // PUT validates the same way.
  await rejectsInvalid(api.apiKeys.update({ id: 'v-1', data: { description: 'ok', acl: [{ scope: {}, permissions: [] }] } }), ['acl.0.permissions']);
  // Nothing was written.
  assert.equal((await api.apiKeys.getAll()).total, before);
  await rejectsRebilly(api.apiKeys.get({ id: 'v-1' }), 'RebillyNotFoundError', 404);
});

test('authentication errors: 401 surfaces as RebillyForbiddenError, with the problem body', async () => {
  const { creds } = await account(server, 'Auth errors');
  const noKey = rebilly(base, null);
  const missing = await rejectsUnauthorized(noKey.apiKeys.getAll());
  assert.equal(missing.message, 'Authorization is required');
  const wrong = await rejectsUnauthorized(rebilly(base, 'sk_live_not-a-real-key').apiKeys.getAll());
  assert.equal(wrong.message, 'Invalid credentials');
  // A well-formed secret changed in one character fails its checksum.
  const last = creds.secret.at(-1) === 'A' ? 'B' : 'A';
  await rejectsUnauthorized(rebilly(base, creds.secret.slice(0, -1) + last).apiKeys.create({ data: { description: 'x' } }));
  await rejectsUnauthorized(rebilly(base, creds.secret.toUpperCase()).apiKeys.get({ id: creds.id }));
  // create({id}) rethrows the GET's 401 rather than trying the PUT.
  await rejectsUnauthorized(noKey.apiKeys.create({ id: 'x-1', data: { description: 'x' } }));
});

test('HTTP: POST with and without the slash, problem bodies, 404/405/415/400 on the wire', async () => {
  const { creds } = await account(server, 'HTTP');
  const h = { 'REB-APIKEY': creds.secret, 'Content-Type': 'application/json' };
  const post = await request(`${base}/api-keys`, { method: 'POST', headers: h, body: JSON.stringify({ description: 'no slash' }) });
  assert.equal(post.status, 201);
  assert.match(post.json.id, API_KEY_ID);
  assert.equal(post.headers.get('location'), `${base}/api-keys/${post.json.id}`);

  const list = await request(`${base}/api-keys?limit=1&sort=-createdTime`, { headers: h });
  assert.equal(list.status, 200);
  assert.ok(Array.isArray(list.json), 'the list is a bare array');
  assert.equal(list.json[0].id, post.json.id);
  assert.equal(list.headers.get('pagination-total'), '2');
  assert.equal(list.headers.get('pagination-limit'), '1');
  assert.equal(list.headers.get('pagination-offset'), '0');

  const del = await request(`${base}/api-keys/${post.json.id}`, { method: 'DELETE', headers: h });
  assert.equal(del.status, 204);
  assert.equal(del.text, '');

  assertProblem(await request(`${base}/api-keys/nope`, { headers: h }), 404, 'Not Found');
  assertProblem(await request(`${base}/api-keys/a/b`, { headers: h }), 404, 'Not Found');
  const patch = await request(`${base}/api-keys/x`, { method: 'PATCH', headers: h, body: '{}' });
  assertProblem(patch, 405, 'Method Not Allowed');
  assert.deepEqual(patch.headers.get('allow').split(', ').sort(), ['DELETE', 'GET', 'HEAD', 'PUT']);
  const delAll = await request(`${base}/api-keys`, { method: 'DELETE', headers: h });
  assertProblem(delAll, 405, 'Method Not Allowed');
  assert.deepEqual(delAll.headers.get('allow').split(', ').sort(), ['GET', 'HEAD', 'POST']);
  assertProblem(await request(`${base}/api-keys`, { method: 'POST', headers: { 'REB-APIKEY': creds.secret }, body: '{"description":"x"}' }), 415, 'Unsupported Media Type');
  assertProblem(await request(`${base}/api-keys`, { method: 'POST', headers: h, body: '{"description":' }), 400, 'Bad Request');
  assertProblem(await request(`${base}/api-keys`, { method: 'POST', headers: h, body: '["description"]' }), 400, 'Bad Request');
  const unauth = await request(`${base}/api-keys`);
  assertProblem(unauth, 401, 'Unauthorized');
  assert.deepEqual(Object.keys(unauth.json).sort(), ['detail', 'status', 'title', 'type']);
  const invalid = await request(`${base}/api-keys`, { method: 'POST', headers: h, body: '{"description":""}' });
  assertProblem(invalid, 422, 'Validation error');
  assert.deepEqual(invalid.json.invalidFields, [{ field: 'description', message: 'This value should not be blank.' }]);
});
