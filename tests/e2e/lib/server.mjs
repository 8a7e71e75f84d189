// Test harness for the end-to-end suite: builds the real latchkey binary,
// starts servers on loopback with a fresh data directory each, runs the
// bootstrap command, and stops everything it started.
//
// Every wait is bounded (WAIT_MS) and every server this module starts is
// killed when the test process exits, so a failing test leaks nothing.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

import { startRecorder, recordDir } from './recorder.mjs';

/** Upper bound for every wait in this harness (build excepted). */
export const WAIT_MS = 30_000;

/** Upper bound for `go build` (a cold module cache compiles SQLite). */
const BUILD_MS = 8 * 60_000;

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root: tests/e2e/lib/../../.. */
export const repoRoot = path.resolve(here, '..', '..', '..');

// Temp directories and live servers this process made, cleaned up at exit.
const tempDirs = new Set();
const liveServers = new Set();

process.on('exit', () => {
  for (const s of liveServers) {
    try {
      s.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});

/** A fresh temporary directory, removed when the test process exits. */
export function tempDir(prefix = 'latchkey-e2e-') {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

// The environment the binary runs with: ours, less any LATCHKEY_* variable
// that could point it at another database, address or master key.
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('LATCHKEY_')) env[k] = v;
  }
  return env;
}

function run(file, args, { cwd, timeout, env = cleanEnv() } = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout, env, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err) {
          err.message += `\nstdout:\n${stdout}\nstderr:\n${stderr}`;
          reject(err);
          return;
        }
        resolve({ stdout, stderr });
      });
  });
}

let binaryPromise;

/**
 * Builds ./cmd/latchkey once per test process (Go's build cache makes the
 * later builds of other test files a link step) and returns the binary's
 * path. LATCHKEY_E2E_BIN names a prebuilt binary to use instead.
 */
export function binary() {
  if (!binaryPromise) {
    binaryPromise = (async () => {
      if (process.env.LATCHKEY_E2E_BIN) {
        const bin = path.resolve(process.env.LATCHKEY_E2E_BIN);
        assert.ok(existsSync(bin), `LATCHKEY_E2E_BIN=${bin} does not exist`);
        return bin;
      }
      const out = tempDir('latchkey-e2e-bin-');
      const bin = path.join(out, 'latchkey');
      await run('go', ['build', '-o', bin, './cmd/latchkey'], { cwd: repoRoot, timeout: BUILD_MS, env: process.env });
      return bin;
    })();
  }
  return binaryPromise;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The --db value for a data directory. */
export function dsn(dataDir) {
  return `sqlite:${path.join(dataDir, 'latchkey.db')}`;
}

/**
 * Starts `latchkey serve` on 127.0.0.1:0 with dataDir (a fresh temp dir by
 * default) and any extra CLI args (e.g. ['--trusted-proxies', '127.0.0.1/32']),
 * and waits until /healthz answers 200.
 *
 * Returns { baseURL, port, directURL, dataDir, child, exited, stderr(), stdout(), stop() }.
 * stop() sends SIGTERM (unless the process has already exited) and resolves
 * { code, signal } once it has exited; exited resolves the same way.
 *
 * baseURL and port are those of a recording proxy in front of the server
 * (lib/recorder.mjs), through which every request reaches it unchanged and
 * every API response is recorded for the OpenAPI check; unless args set
 * --public-url or --trusted-proxies, the server is told its public URL is
 * the proxy's, so that its links name it. directURL is the server itself:
 * with { direct: true } (or LATCHKEY_E2E_DIRECT=1) there is no proxy and
 * baseURL is directURL.
 */
export async function startServer({ dataDir = tempDir(), args = [], direct = Boolean(process.env.LATCHKEY_E2E_DIRECT) } = {}) {
  const bin = await binary();
  const recorder = direct ? undefined : await startRecorder();
  if (recorder && !args.includes('--public-url') && !args.includes('--trusted-proxies')) {
    args = [...args, '--public-url', recorder.url];
  }
  // The suites refuse hundreds of credentials from 127.0.0.1 on purpose,
  // far past the default failed-authentication threshold (30 a minute per
  // address); throttle.test.mjs tests the throttle itself with a low one.
  if (!args.includes('--failed-auth-limit')) args = ['--failed-auth-limit', '100000/1m', ...args];
  const child = spawn(bin, ['serve', '--addr', '127.0.0.1:0', '--db', dsn(dataDir), ...args], {
    cwd: dataDir,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Unreferenced, so that a test that fails without stopping its server does
  // not keep the test process alive; the exit handler above kills it then.
  child.unref();
  child.stdout.unref();
  child.stderr.unref();
  let log = '';
  let out = '';
  const exited = new Promise((resolve) => {
    // 'close' rather than 'exit': the process has ended and its output has
    // all been read, so the log is complete.
    child.once('close', (code, signal) => resolve({ code, signal }));
    // A failure to start at all (e.g. the binary is missing) ends it too.
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  const server = { child, dataDir, exited, stderr: () => log, stdout: () => out };
  liveServers.add(server);
  exited.then(() => {
    liveServers.delete(server);
    recorder?.close();
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8');

  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no "msg=listening" line within ${WAIT_MS} ms; stderr:\n${log}`));
    }, WAIT_MS);
    const onData = (d) => {
      log += d;
      const m = /msg=listening addr=(127\.0\.0\.1:(\d+))(\s|$)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({ host: m[1], port: Number(m[2]) });
      }
    };
    child.stderr.on('data', onData);
    exited.then(({ code, signal, error }) => {
      clearTimeout(timer);
      reject(new Error(`latchkey serve exited (code ${code}, signal ${signal}${error ? `, ${error}` : ''}) before listening; stderr:\n${log}`));
    });
  });
  // Keep collecting the log after the listening line.
  child.stderr.removeAllListeners('data');
  child.stderr.on('data', (d) => { log += d; });

  server.directURL = `http://${addr.host}`;
  server.port = addr.port;
  server.baseURL = server.directURL;
  if (recorder) {
    recorder.setTarget(addr.port);
    server.port = recorder.port;
    server.baseURL = recorder.url;
  }

  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    let health;
    try {
      const res = await fetch(`${server.baseURL}/healthz`, { signal: AbortSignal.timeout(2_000) });
      health = { status: res.status, text: await res.text() };
    } catch {
      // not ready yet
    }
    if (health?.status === 200) {
      assert.deepEqual(JSON.parse(health.text), { status: 'ok' });
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`GET /healthz did not answer 200 within ${WAIT_MS} ms; stderr:\n${log}`);
    }
    await sleep(50);
  }

  if (recorder && recordDir) await saveDocument(server.baseURL);

  let stopped;
  server.stop = () => {
    if (!stopped) {
      stopped = (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        let timer;
        const timeout = new Promise((resolve) => { timer = setTimeout(resolve, WAIT_MS, 'timeout'); });
        const result = await Promise.race([exited, timeout]);
        clearTimeout(timer);
        if (result === 'timeout') {
          child.kill('SIGKILL');
          throw new Error(`latchkey serve did not exit within ${WAIT_MS} ms of SIGTERM; stderr:\n${log}`);
        }
        return result;
      })();
    }
    return stopped;
  };
  return server;
}

/**
 * Saves the OpenAPI document the server serves as <recordDir>/openapi.json,
 * once per run (the first test process to get there writes it): the
 * checker validates the recorded exchanges against it.
 */
async function saveDocument(baseURL) {
  const file = path.join(recordDir, 'openapi.json');
  if (existsSync(file)) return;
  const res = await fetch(`${baseURL}/openapi.json`, { signal: AbortSignal.timeout(WAIT_MS) });
  assert.equal(res.status, 200, 'GET /openapi.json');
  const text = await res.text();
  try {
    writeFileSync(file, text, { flag: 'wx' });
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
}

/**
 * Stops a server and asserts a graceful shutdown: exit code 0 and the
 * "stopped" log line. Safe to call on a server that was never started.
 */
export async function stopServer(server) {
  if (!server) return;
  const { code, signal } = await server.stop();
  assert.equal(signal, null, `latchkey serve died of ${signal}; stderr:\n${server.stderr()}`);
  assert.equal(code, 0, `latchkey serve exited with ${code}; stderr:\n${server.stderr()}`);
  assert.match(server.stderr(), /msg=stopped/);
}

/**
 * Runs `latchkey bootstrap` against dataDir's database and returns the one
 * JSON object it prints on stdout: { id, secret, accountId, scope }.
 */
export async function bootstrap(dataDir, { name } = {}) {
  const bin = await binary();
  const args = ['bootstrap', '--db', dsn(dataDir)];
  if (name !== undefined) args.push('--name', name);
  const { stdout } = await run(bin, args, { cwd: dataDir, timeout: WAIT_MS });
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `bootstrap should print one line on stdout, got:\n${stdout}`);
  const creds = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(creds).sort(), ['accountId', 'id', 'scope', 'secret']);
  return creds;
}

/**
 * Reads <dataDir>/initial-credentials.json, asserting that it is a regular
 * file of mode 0600 holding a non-empty id and secret.
 */
export function initialCredentials(dataDir) {
  const file = path.join(dataDir, 'initial-credentials.json');
  const st = statSync(file);
  assert.ok(st.isFile(), `${file} is not a regular file`);
  assert.equal((st.mode & 0o777).toString(8), '600', `${file} should have mode 0600`);
  const creds = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(typeof creds.id, 'string');
  assert.equal(typeof creds.secret, 'string');
  assert.ok(creds.id.length > 0 && creds.secret.length > 0);
  return creds;
}
