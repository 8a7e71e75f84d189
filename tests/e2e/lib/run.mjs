// npm test: the end-to-end tests, then the OpenAPI check of every API
// response they provoked.
//
//   npm test                       every *.test.mjs
//   npm test -- keys.test.mjs      some files (arguments go to node --test)
//
// The tests run with LATCHKEY_E2E_RECORD set to a fresh directory, where the
// harness's recording proxy (lib/recorder.mjs) writes every exchange and the
// served /openapi.json. Then `go run ./tests/e2e/apicheck` validates each
// response against that document. npm test fails if either fails; the check
// runs even when a test failed, so that both are reported. Set
// LATCHKEY_E2E_KEEP=1 to keep the directory for a look.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const e2e = path.resolve(here, '..');
const repoRoot = path.resolve(e2e, '..', '..');

const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-e2e-exchanges-'));
const env = { ...process.env, LATCHKEY_E2E_RECORD: dir };

const tests = spawnSync(process.execPath,
  ['--test', '--test-concurrency=1', '--test-timeout=600000', ...process.argv.slice(2)],
  { cwd: e2e, env, stdio: 'inherit' });

console.log(`\n# OpenAPI check of the recorded responses (${dir})`);
const check = spawnSync('go', ['run', './tests/e2e/apicheck', '-dir', dir], { cwd: repoRoot, stdio: 'inherit' });

if (process.env.LATCHKEY_E2E_KEEP) {
  console.log(`# exchanges kept in ${dir}`);
} else {
  rmSync(dir, { recursive: true, force: true });
}

const failed = (r) => r.error || r.status !== 0;
if (tests.error) console.error(tests.error);
if (check.error) console.error(check.error);
process.exit(failed(tests) || failed(check) ? 1 : 0);
