#!/usr/bin/env node
// `npm test`: the unit and integration suite (vitest), then the end-to-end suite (Playwright against
// `xlab serve` in Debian's Chromium), then one plain line with the totals that any log reader
// understands. Extra arguments go to vitest (e.g. `npm test -- test/store`), which then runs alone.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-test-'));
const unitReport = path.join(tmp, 'vitest.json');
const e2eReport = path.join(tmp, 'playwright.json');
const extra = process.argv.slice(2);
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
}

const totals = { passed: 0, failed: 0, skipped: 0 };
let status = run(bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${unitReport}`, ...extra]);
try {
  const r = JSON.parse(fs.readFileSync(unitReport, 'utf8'));
  totals.passed += r.numPassedTests;
  totals.failed += r.numFailedTests;
  totals.skipped += r.numPendingTests + r.numTodoTests;
} catch {
  totals.failed += 1; // no report: vitest itself failed to run
}

if (extra.length === 0) {
  const e2e = run(bin('playwright'), ['test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: e2eReport });
  status = status || e2e;
  try {
    const s = JSON.parse(fs.readFileSync(e2eReport, 'utf8')).stats;
    totals.passed += s.expected + s.flaky;
    totals.failed += s.unexpected;
    totals.skipped += s.skipped;
  } catch {
    totals.failed += 1;
  }
}

console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(status);
