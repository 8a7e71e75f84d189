// Helpers for the Rebilly /api-keys tests: the official rebilly-js-sdk
// (62.162.1, ESM), configured as a user would, plus the few Sunshine calls
// (made with fetch) that set up apps and app keys.

import assert from 'node:assert/strict';
import { RebillyAPI, RebillyErrors } from 'rebilly-js-sdk';

import { basicHeader, request } from './client.mjs';
import { bootstrap } from './server.mjs';

export { RebillyAPI, RebillyErrors };

/**
 * An SDK instance pointed at baseURL (both live and sandbox), authenticated
 * with apiKey (sent as REB-APIKEY; null for none), optionally scoped to an
 * organization (an app id) and with any other RebillyAPI option.
 */
export function rebilly(baseURL, apiKey, { organizationId, ...rest } = {}) {
  const options = { apiKey, urls: { live: baseURL, sandbox: baseURL }, timeout: 30_000, ...rest };
  if (organizationId !== undefined) options.organizationId = organizationId;
  return RebillyAPI(options);
}

/** Rebilly-style key ids: api_key_ and a 26-character ULID (Crockford base32). */
export const API_KEY_ID = /^api_key_[0-9A-HJKMNP-TV-Z]{26}$/;
/** RFC 3339 date-times as the server writes them (UTC, whole seconds). */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
/** A secret of each kind and environment: prefix, 43 + 6 URL-safe characters. */
export const SECRET = {
  live: /^sk_live_[A-Za-z0-9_-]{49}$/,
  sandbox: /^sk_sandbox_[A-Za-z0-9_-]{49}$/,
};
export const PUBLISHABLE = {
  live: /^pk_live_[A-Za-z0-9_-]{49}$/,
  sandbox: /^pk_sandbox_[A-Za-z0-9_-]{49}$/,
};

/** The ACL the server shows for a key without restrictions. */
export const UNRESTRICTED = [{ scope: {}, permissions: ['*'] }];

/** The members every ApiKey the server returns has, sorted. */
export const API_KEY_MEMBERS = [
  '_links', 'acl', 'allowedIps', 'apiUser', 'createdTime', 'description', 'id', 'secretKey', 'type', 'updatedTime',
].sort();

/** Deep copy of SDK data (members and collections are deep-frozen). */
export const plain = (value) => JSON.parse(JSON.stringify(value));

/**
 * Asserts that fields is a well-formed ApiKey whose self link lives under
 * base (e.g. `${baseURL}/organizations/${appId}`), and checks any expected
 * member values given in want.
 */
export function assertApiKey(fields, base, want = {}) {
  assert.deepEqual(Object.keys(fields).sort(), API_KEY_MEMBERS);
  assert.equal(typeof fields.id, 'string');
  assert.match(fields.createdTime, RFC3339);
  assert.match(fields.updatedTime, RFC3339);
  assert.ok(Date.parse(fields.updatedTime) >= Date.parse(fields.createdTime));
  assert.deepEqual(plain(fields._links), [{ href: `${base}/api-keys/${fields.id}`, rel: 'self' }]);
  assert.ok(['secret', 'publishable'].includes(fields.type));
  assert.match(fields.secretKey, fields.type === 'secret' ? /^sk_(live|sandbox)_/ : /^pk_(live|sandbox)_/);
  for (const [name, value] of Object.entries(want)) {
    assert.deepEqual(plain(fields[name]), value, `ApiKey.${name}`);
  }
}

/**
 * Asserts that an SDK promise rejects with the given RebillyErrors class
 * (by name) and HTTP status, with the server's problem object as the
 * response body. Returns the error.
 */
export async function rejectsRebilly(promise, errorName, status) {
  let caught;
  await assert.rejects(promise, (err) => {
    caught = err;
    assert.ok(err instanceof RebillyErrors[errorName],
      `expected ${errorName}, got ${err?.name} (status ${err?.status}): ${JSON.stringify(err?.response?.data)}`);
    assert.equal(err.name, errorName);
    assert.equal(err.status, status);
    const body = err.response.data;
    assert.equal(body.status, status);
    assert.equal(body.type, 'about:blank');
    assert.equal(typeof body.title, 'string');
    assert.equal(typeof body.detail, 'string');
    assert.equal(err.message, body.detail, 'the SDK takes its message from detail');
    return true;
  });
  return caught;
}

/** Asserts a 401 (which the SDK, as of 62.162.1, maps to RebillyForbiddenError). */
export async function rejectsUnauthorized(promise) {
  const err = await rejectsRebilly(promise, 'RebillyForbiddenError', 401);
  assert.equal(err.response.data.title, 'Unauthorized');
  return err;
}

/** Asserts a 403 (which the SDK maps to nothing specific: RebillyRequestError). */
export async function rejectsForbidden(promise) {
  const err = await rejectsRebilly(promise, 'RebillyRequestError', 403);
  assert.ok(!(err instanceof RebillyErrors.RebillyForbiddenError));
  assert.equal(err.response.data.title, 'Forbidden');
  return err;
}

/** Asserts a 422 whose invalidFields name exactly these fields, in order. */
export async function rejectsInvalid(promise, fields) {
  const err = await rejectsRebilly(promise, 'RebillyValidationError', 422);
  assert.equal(err.response.data.title, 'Validation error');
  assert.ok(Array.isArray(err.invalidFields), 'err.invalidFields is the body\'s invalidFields');
  for (const f of err.invalidFields) {
    assert.deepEqual(Object.keys(f).sort(), ['field', 'message']);
    assert.ok(f.message.length > 0);
  }
  assert.deepEqual(err.invalidFields.map((f) => f.field), fields);
  return err;
}

/** Asserts a fetch result (lib/client.mjs request()) is a problem object. */
export function assertProblem(res, status, title) {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type') || '', /^application\/json/);
  assert.equal(res.json?.status, status, res.text);
  assert.equal(res.json.title, title);
  assert.equal(typeof res.json.detail, 'string');
}

/** Creates a Sunshine app with HTTP Basic id:secret and returns its id. */
export async function createApp(baseURL, creds, displayName = 'x') {
  const res = await request(`${baseURL}/v2/apps`, {
    method: 'POST',
    headers: { Authorization: basicHeader(creds.id, creds.secret), 'Content-Type': 'application/json' },
    body: JSON.stringify({ displayName }),
  });
  assert.equal(res.status, 201, res.text);
  assert.match(res.json.app.id, /^[0-9a-f]{24}$/);
  return res.json.app.id;
}

/** Creates a Sunshine app key and returns { id, displayName, secret }. */
export async function createAppKey(baseURL, creds, appId, displayName = 'k') {
  const res = await request(`${baseURL}/v2/apps/${appId}/keys`, {
    method: 'POST',
    headers: { Authorization: basicHeader(creds.id, creds.secret), 'Content-Type': 'application/json' },
    body: JSON.stringify({ displayName }),
  });
  assert.equal(res.status, 201, res.text);
  return res.json.key;
}

/** The ids of an SDK collection's items, in order. */
export const idsOf = (collection) => collection.items.map((m) => m.fields.id);

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The millisecond timestamp a ULID-based key id carries (its first 10 characters). */
export function ulidTime(id) {
  const ulid = id.replace(/^api_key_/, '');
  let ms = 0;
  for (const c of ulid.slice(0, 10)) ms = ms * 32 + CROCKFORD.indexOf(c);
  return ms;
}

/**
 * A fresh account on server (so that list totals are exact): its bootstrap
 * credentials, and an SDK for them.
 */
export async function account(server, name) {
  const creds = await bootstrap(server.dataDir, { name });
  return { creds, api: rebilly(server.baseURL, creds.secret) };
}
