// Helpers the dashboard's browser tests share: the native API as an
// account key calls it (to seed data, and to check what the dashboard did
// from the outside), and a bounded poll.

import assert from 'node:assert/strict';

import { basic, customIntegration } from './client.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls fn until it returns a truthy value, for at most timeout ms, and
 * returns that value; fails naming what it waited for, and the last value.
 */
export async function poll(fn, { timeout = 20_000, interval = 250, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeout} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    await sleep(interval);
  }
}

/** A Date as the value of a datetime-local input (UTC, to the minute). */
export const formTime = (date) => date.toISOString().slice(0, 16);

/**
 * The native API (/v1) as the account key creds ({id, secret}) calls it,
 * with HTTP Basic (key id and secret), plus the Sunshine API for what /v1
 * lacks (integrations).
 */
export function nativeApi(baseURL, creds) {
  const authorization = 'Basic ' + Buffer.from(`${creds.id}:${creds.secret}`, 'utf8').toString('base64');

  /** Any request; returns { status, json }. */
  async function call(method, path, body) {
    const init = { method, headers: { Authorization: authorization }, signal: AbortSignal.timeout(30_000) };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(`${baseURL}${path}`, init);
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  /** A request that must answer status; returns its JSON. */
  async function ok(method, path, body, status = 200) {
    const res = await call(method, path, body);
    assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.json)}`);
    return res.json;
  }

  const sunshine = basic(baseURL, creds.id, creds.secret);

  return {
    call,
    ok,
    /** POST /v1/verify {key, ...extra}: the verdict. */
    verify: (key, extra = {}) => ok('POST', '/v1/verify', { key, ...extra }),
    createApp: async (name) => (await ok('POST', '/v1/apps', { name }, 201)).id,
    createIntegration: async (appId, name) =>
      (await sunshine.integrations.createIntegration(appId, customIntegration(name))).integration.id,
    /** POST /v1/keys: the key with its secret. */
    createKey: (body) => ok('POST', '/v1/keys', body, 201),
    patchKey: (id, body) => ok('PATCH', `/v1/keys/${id}`, body),
    roll: (id, gracePeriod) => ok('POST', `/v1/keys/${id}/roll`, { gracePeriod }),
    deleteKey: (id) => ok('DELETE', `/v1/keys/${id}`, undefined, 204),
    /** Every key of the account (up to 100), as GET /v1/keys shows them. */
    keys: async () => (await ok('GET', '/v1/keys?limit=100')).data,
    /** Every app of the account (up to 100). */
    apps: async () => (await ok('GET', '/v1/apps?limit=100')).data,
  };
}
