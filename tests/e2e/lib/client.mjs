// Helpers over the official Sunshine Conversations JS client (CommonJS, so
// loaded with createRequire), jsonwebtoken, and plain fetch.

import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);

/** The official client, sunshine-conversations-client@14.1.0. */
export const Sunshine = require('sunshine-conversations-client');
/** jsonwebtoken@9.0.3. */
export const jwt = require('jsonwebtoken');

/** A fresh ApiClient (not the singleton) pointed at baseURL, no credentials. */
export function newClient(baseURL) {
  const client = new Sunshine.ApiClient();
  client.basePath = baseURL;
  client.timeout = 30_000;
  return client;
}

/** The four API classes under test, bound to one ApiClient. */
export function apisFor(client) {
  return {
    client,
    apps: new Sunshine.AppsApi(client),
    integrations: new Sunshine.IntegrationsApi(client),
    intKeys: new Sunshine.CustomIntegrationApiKeysApi(client),
    appKeys: new Sunshine.AppKeysApi(client),
  };
}

/** APIs authenticated with HTTP Basic: key id as username, secret as password. */
export function basic(baseURL, id, secret) {
  const client = newClient(baseURL);
  client.authentications.basicAuth.username = id;
  client.authentications.basicAuth.password = secret;
  return apisFor(client);
}

/** APIs authenticated with a Bearer token (a JWT, or anything else). */
export function bearer(baseURL, token) {
  const client = newClient(baseURL);
  client.authentications.bearerAuth.accessToken = token;
  return apisFor(client);
}

/** An HS256 JWT as the Sunshine docs sign it: kid = key id, scope claim. */
export function signJwt(keyId, secret, scope, options = {}) {
  return jwt.sign({ scope }, secret, { ...options, header: { kid: keyId, ...(options.header || {}) } });
}

/** APIs authenticated with a freshly signed HS256 JWT for the key. */
export function viaJwt(baseURL, key, scope) {
  return bearer(baseURL, signJwt(key.id, key.secret, scope));
}

export function b64url(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** The Authorization header value for HTTP Basic. */
export function basicHeader(id, secret) {
  return 'Basic ' + Buffer.from(`${id}:${secret}`, 'utf8').toString('base64');
}

/**
 * Asserts that a client promise rejects with an HTTP error of the given
 * status and, if given, error code (err.body.errors[0].code). Returns the
 * rejection for further checks.
 */
export async function rejectsWith(promise, status, code) {
  let caught;
  await assert.rejects(promise, (err) => {
    caught = err;
    assert.equal(err.status, status, `expected HTTP ${status}, got ${err.status}: ${JSON.stringify(err.body)}`);
    assert.ok(err.body && Array.isArray(err.body.errors), `error body should have errors[]: ${JSON.stringify(err.body)}`);
    assert.ok(err.body.errors.length >= 1);
    for (const e of err.body.errors) {
      assert.equal(typeof e.code, 'string');
      assert.equal(typeof e.title, 'string');
    }
    if (code !== undefined) assert.equal(err.body.errors[0].code, code);
    return true;
  });
  return caught;
}

/** Asserts a 401 unauthorized from the client promise. */
export const unauthorized = (promise) => rejectsWith(promise, 401, 'unauthorized');
/** Asserts a 403 forbidden from the client promise. */
export const forbidden = (promise) => rejectsWith(promise, 403, 'forbidden');

/** A custom integration body as the client models it, with one webhook. */
export function customIntegration(displayName) {
  const body = new Sunshine.Custom('custom', [
    new Sunshine.Webhook('https://example.com/cb', ['conversation:message']),
  ]);
  if (displayName !== undefined) body.displayName = displayName;
  return body;
}

export const KEY_ID = {
  integration: /^int_[0-9a-f]{24}$/,
  app: /^app_[0-9a-f]{24}$/,
  account: /^act_[0-9a-f]{24}$/,
};
export const OBJECT_ID = /^[0-9a-f]{24}$/;

/**
 * fetch with a bounded wait that returns { status, headers, text, json }
 * (json is undefined when the body is not JSON).
 */
export async function request(url, { method = 'GET', headers = {}, body } = {}) {
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Asserts an error body {errors:[{code,title}]} with the given first code. */
export function assertErrorBody(res, status, code) {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type') || '', /^application\/json/);
  assert.ok(res.json && Array.isArray(res.json.errors), `error body should have errors[]: ${res.text}`);
  assert.equal(res.json.errors[0].code, code);
  assert.equal(typeof res.json.errors[0].title, 'string');
  assert.ok(res.json.errors[0].title.length > 0);
}

/**
 * Asserts what the 14.1.0 client resolves a DELETE to: the server answers
 * 200 {}, and the client, finding an empty object, falls back to the
 * response text, so the promise resolves to the string "{}", exactly as
 * against Sunshine.
 */
export function assertDeleteResult(data) {
  assert.equal(typeof data, 'string', `DELETE should resolve to the body text, got ${JSON.stringify(data)}`);
  assert.equal(data, '{}');
}
