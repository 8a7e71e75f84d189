// A recording reverse proxy for the end-to-end suite. The harness
// (server.mjs) puts one in front of every server it starts, so that the
// official clients, plain fetch calls and the browser all go through it
// unchanged, and every API exchange is written down for the checker
// (tests/e2e/apicheck), which validates each response against the server's
// OpenAPI document.
//
// The proxy is transparent: it forwards the method, the request target and
// every header as sent (raw, in order, duplicates kept: Host, Authorization,
// X-Forwarded-For…) and adds none, and it answers with the server's status
// and headers as they came. It runs on 127.0.0.1 like the tests, so the
// server sees the same client address through it, and the harness starts
// the server with --public-url set to the proxy's address, so that links and
// Location headers name the address the tests use. A test that needs to
// reach the server directly starts it with { direct: true }.
//
// With LATCHKEY_E2E_RECORD naming a directory, each exchange whose path is
// API (not the dashboard's HTML, /docs, or /metrics) is appended to
// <dir>/<test file>-<pid>.jsonl as one JSON object: method, target (path
// and query), status, response headers and body (text, or base64 when it is
// not UTF-8), and the test file it came from.

import http from 'node:http';
import path from 'node:path';
import { appendFileSync } from 'node:fs';

/** The directory exchanges are recorded in, or undefined. */
export const recordDir = process.env.LATCHKEY_E2E_RECORD || undefined;

/** Paths that are not API: HTML pages and Prometheus text. */
const NOT_API = [/^\/dashboard(\/|$)/, /^\/docs(\/|$)/, /^\/metrics$/];

const source = path.basename(process.argv[1] || 'unknown');
const recordFile = recordDir && path.join(recordDir, `${source.replace(/[^\w.-]/g, '_')}-${process.pid}.jsonl`);

function record(exchange) {
  if (!recordFile) return;
  // Synchronous: a line is whole when the test moves on, and lines of one
  // process never interleave.
  appendFileSync(recordFile, `${JSON.stringify(exchange)}\n`);
}

/** Response headers as { name: [values] }, from raw headers. */
function headerMap(raw) {
  const out = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    (out[raw[i]] ||= []).push(raw[i + 1]);
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function bodyOf(buf) {
  try {
    return { body: utf8.decode(buf) };
  } catch {
    return { body: buf.toString('base64'), base64: true };
  }
}

/**
 * Starts a proxy on 127.0.0.1 (a free port) and returns
 * { port, url, setTarget(port), close() }. Requests that arrive before
 * setTarget get 502.
 */
export async function startRecorder() {
  let target;
  // Connections to the server are kept alive and reused, as a client's are.
  const agent = new http.Agent({ keepAlive: true });
  const proxy = http.createServer((req, res) => {
    if (!target) {
      res.writeHead(502, { 'Content-Type': 'text/plain' }).end('latchkey is not listening yet');
      return;
    }
    const recordIt = recordFile && !NOT_API.some((re) => re.test(req.url.split('?')[0]));
    const upstream = http.request({
      host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.rawHeaders, agent,
    });
    let answered = false;
    upstream.on('response', (up) => {
      answered = true;
      res.writeHead(up.statusCode, up.statusMessage, up.rawHeaders);
      const chunks = [];
      up.on('data', (chunk) => {
        if (recordIt) chunks.push(chunk);
        res.write(chunk);
      });
      up.on('end', () => {
        res.end();
        if (recordIt) {
          record({
            method: req.method, target: req.url, status: up.statusCode,
            headers: headerMap(up.rawHeaders), ...bodyOf(Buffer.concat(chunks)), source,
          });
        }
      });
      up.on('error', () => res.destroy());
    });
    upstream.on('error', (err) => {
      // The server may answer before it has read the whole body (413)
      // and close the connection: the answer has gone back already.
      if (answered) return;
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`proxy: ${err.message}`);
    });
    req.on('error', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  proxy.keepAliveTimeout = 5_000;
  await new Promise((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(0, '127.0.0.1', resolve);
  });
  // Like the servers, the proxy must not keep a finished test alive.
  proxy.unref();
  const { port } = proxy.address();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setTarget(p) {
      target = p;
    },
    close() {
      proxy.close();
      proxy.closeAllConnections();
      agent.destroy();
    },
  };
}
