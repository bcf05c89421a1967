/**
 * Real read-only and full file systems. The tests run as root, where chmod proves nothing, so a
 * child process gets its own mount namespace (`unshare -m`) with two small tmpfs mounts: one that
 * fills up, one that is remounted read-only. The mounts vanish with the child, so nothing is left
 * behind even if it crashes. Where mount namespaces are not allowed (unprivileged CI, macOS,
 * Windows) the test is skipped and says so; the portable variants live in data-dir.test.ts
 * (unwritable path) and store.test.ts (full database via max_page_count).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const storeUrl = pathToFileURL(path.join(repoRoot, 'src/main/store/store.ts')).href;
const dataDirUrl = pathToFileURL(path.join(repoRoot, 'src/main/store/data-dir.ts')).href;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-disk-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function canMountPrivately(): { ok: boolean; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `mount namespaces need Linux (${process.platform})` };
  const probe = path.join(work, 'probe');
  fs.mkdirSync(probe, { recursive: true });
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs "$1"', 'sh', probe], {
    encoding: 'utf8',
  });
  if (r.error) return { ok: false, why: `unshare not available: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, why: `no privilege for a private tmpfs mount: ${r.stderr.trim()}` };
  return { ok: true, why: '' };
}
const mountable = canMountPrivately();
if (!mountable.ok) console.log(`[store] disk.test.ts skipped: ${mountable.why}`);

const SCRIPT = `
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { openStore } from ${JSON.stringify(storeUrl)};
import { ensureDataDir } from ${JSON.stringify(dataDirUrl)};

const [fullMnt, roMnt] = process.argv.slice(2);
const out: Record<string, unknown> = {};
const errInfo = (e: any) => ({ code: e?.code, name: e?.name, message: String(e?.message ?? e) });
const attempt = (f: () => unknown) => { try { return { ok: f() ?? true }; } catch (e) { return { error: errInfo(e) }; } };

// --- full disk ---------------------------------------------------------------------------------
{
  const data = path.join(fullMnt, 'lab');
  const filler = path.join(fullMnt, 'filler');
  fs.writeFileSync(filler, Buffer.alloc(256 * 1024));
  const store = openStore(data);
  const run = store.createRun({ name: 'fills the disk', kind: 'train', config: {}, seed: 1 });
  let saved = 0;
  let failure: unknown;
  for (let b = 0; b < 10_000 && failure === undefined; b++) {
    const batch = Array.from({ length: 1000 }, (_, i) => ({ step: b * 1000 + i, name: 'loss', value: Math.random() }));
    try { store.appendMetrics(run.id, batch); saved += batch.length; } catch (e) { failure = e; }
  }
  out.full = {
    saved,
    error: errInfo(failure),
    totalAfterError: store.metricSeries(run.id, 'loss').total,
    smallWriteWhileFull: attempt(() => store.tag(run.id, 'x')),
    close: attempt(() => store.close()),
  };
  // Everything committed before the failure is readable; the failed batch left no trace.
  const ro = openStore(data, { readonly: true });
  (out.full as any).totalReopenedReadOnly = ro.metricSeries(run.id, 'loss').total;
  ro.close();
  (out.full as any).reopenWhileFull = attempt(() => openStore(data).close());
  fs.rmSync(filler);
  const again = openStore(data);
  again.appendMetrics(run.id, [{ step: 10_000_000, name: 'loss', value: 1 }]);
  (out.full as any).totalAfterFreeing = again.metricSeries(run.id, 'loss').total;
  again.close();
}

// --- read-only file system ---------------------------------------------------------------------
{
  const data = path.join(roMnt, 'lab');
  const store = openStore(data);
  const run = store.createRun({ name: 'on media that becomes read-only', kind: 'train', config: {}, seed: 1 });
  store.close();
  const before = fs.readFileSync(path.join(data, 'lab.sqlite'));
  execFileSync('mount', ['-o', 'remount,ro', roMnt]);
  out.ro = {
    ensureDataDir: attempt(() => ensureDataDir(data, 'env')),
    newDataDir: attempt(() => ensureDataDir(path.join(roMnt, 'new'))),
    openReadWrite: attempt(() => openStore(data)),
    openReadOnly: attempt(() => { const s = openStore(data, { readonly: true }); const r = s.getRun(run.id); s.close(); return r?.name; }),
    unchanged: fs.readFileSync(path.join(data, 'lab.sqlite')).equals(before),
  };
}
process.stdout.write(JSON.stringify(out));
`;

describe.skipIf(!mountable.ok)('real file systems (private tmpfs mounts)', () => {
  it('full disk and read-only file system give clear errors and never half-write', async () => {
    const fullMnt = path.join(work, 'full');
    const roMnt = path.join(work, 'ro');
    fs.mkdirSync(fullMnt);
    fs.mkdirSync(roMnt);
    const script = path.join(work, 'disk-scenarios.mts');
    fs.writeFileSync(script, SCRIPT);
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        'unshare',
        [
          '-m',
          'sh',
          '-c',
          'mount -t tmpfs -o size=1m tmpfs "$1" && mount -t tmpfs -o size=1m tmpfs "$2" && ' +
            'exec "$3" --import tsx "$4" "$1" "$2"',
          'sh',
          fullMnt,
          roMnt,
          process.execPath,
          script,
        ],
        { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    console.log(
      `[store] full tmpfs: ${out.full.saved} points committed before ${out.full.error.code}; ` +
        `read-only tmpfs: open -> ${out.ro.openReadWrite.error?.code}, read-only open -> ` +
        `${out.ro.openReadOnly.error?.code ?? 'ok'}`,
    );

    const full = out.full;
    expect(full.saved).toBeGreaterThan(0);
    expect(full.error.code).toBe('DISK_FULL');
    expect(full.error.message).toMatch(/disk is full/);
    expect(full.error.message).toContain(path.join(fullMnt, 'lab', 'lab.sqlite'));
    expect(full.error.message).toMatch(/Nothing from this operation was saved/);
    expect(full.totalAfterError).toBe(full.saved);
    expect(full.close.error).toBeUndefined(); // close() must not throw on a full disk
    expect(full.totalReopenedReadOnly).toBe(full.saved);
    if (full.reopenWhileFull.error) expect(full.reopenWhileFull.error.code).toMatch(/DISK_FULL|NOT_WRITABLE/);
    expect(full.totalAfterFreeing).toBe(full.saved + 1);

    const ro = out.ro;
    for (const attempt of [ro.ensureDataDir, ro.newDataDir, ro.openReadWrite]) {
      expect(attempt.error.code).toBe('NOT_WRITABLE');
      expect(attempt.error.message).toMatch(/read-only/);
      expect(attempt.error.message).toMatch(/XLAB_HOME/);
      expect(attempt.error.message).toMatch(/--data-dir/);
    }
    expect(ro.ensureDataDir.error.message).toContain(path.join(roMnt, 'lab'));
    expect(ro.ensureDataDir.error.message).toMatch(/from \$XLAB_HOME/);
    // Reading a WAL database needs its -shm file; on read-only media that cannot be created.
    // Either it worked (an -shm was left) or the error says exactly that.
    if (ro.openReadOnly.error) {
      expect(ro.openReadOnly.error.code).toBe('NOT_WRITABLE');
      expect(ro.openReadOnly.error.message).toMatch(/lab\.sqlite-shm/);
    } else {
      expect(ro.openReadOnly.ok).toBe('on media that becomes read-only');
    }
    expect(ro.unchanged).toBe(true);
  });
});
