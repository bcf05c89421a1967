/**
 * Evaluation timings:
 *  (a) FID of 10,000 x 2048-d features against 10,000 (scripts/bench-fid.ts, run as a child process);
 *  (b) the app's MNIST classifier: extracting the features of 1,000 16x16 images and scoring them
 *      against the cached 10,000-image MNIST reference (FID, sFID, KID, precision/recall, IS, and
 *      FID with a 100-replicate bootstrap), plus the one-off costs (training the classifier if it is
 *      not stored yet, extracting the reference the first time).
 *
 *   npx tsx scripts/bench-eval.ts [--data-dir DIR] [--skip-fid] [--threads N]
 *
 * The classifier and the reference cache live in the data dir (default: the app's), so a second
 * run measures the warm path. CPU time and the load average are printed because wall time depends
 * on what else runs on the machine.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset } from '../src/main/data/dataset';
import { featureNetworkFor } from '../src/main/evaluation/network-catalog';
import { referenceSet } from '../src/main/evaluation/reference-set';
import { scoreImages } from '../src/main/evaluation/scoring';
import { initBackend } from '../src/main/nn/backend';
import { Stream } from '../src/main/rng';
import { resolveDataDirPath } from '../src/main/store/data-dir';

const args = process.argv.slice(2);
const value = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

interface Timing {
  wall: number;
  cpu: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, Timing]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const c = process.cpuUsage(c0);
  return [out, { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 }];
}

const fmt = (t: Timing) => `${t.wall.toFixed(2)} s wall, ${t.cpu.toFixed(2)} s cpu`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<void> {
  if (!args.includes('--skip-fid')) {
    console.log(`(a) FID, 10,000 x 2048 vs 10,000 (scripts/bench-fid.ts), load ${load()}`);
    const here = dirname(fileURLToPath(import.meta.url));
    const threads = value('threads');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'bench-fid.ts'), '--rows', '10000', '--dim', '2048', ...(threads ? ['--threads', threads] : [])], {
      stdio: 'inherit',
    });
    if (r.status !== 0) throw new Error(`bench-fid.ts exited with ${r.status}`);
  }

  const dataDir = value('data-dir') ?? resolveDataDirPath().path;
  console.log(`\n(b) MNIST classifier, data dir ${dataDir}, load ${load()}`);
  const backend = await initBackend('wasm', 'train');
  console.log(`backend ${backend.name}`);
  const [net, tNet] = await timed(() => featureNetworkFor('mnist-classifier', { dataDir, onMessage: (l) => console.log(`  ${l}`) }));
  console.log(`network ${net.id}: ${fmt(tNet)} (load, or train + store on first use)\n  ${net.description}`);

  const spec = { dataset: 'mnist', count: 10_000, imageSize: 16, channels: 1 as const };
  const [ref, tRef] = await timed(() => referenceSet(net, spec, { dataDir }));
  console.log(`reference ${ref.id}: ${fmt(tRef)} (${ref.fromCache ? 'read from the cache' : 'extracted and cached'})`);
  if (!ref.fromCache) {
    const [again, tAgain] = await timed(() => referenceSet(net, spec, { dataDir }));
    console.log(`reference again: ${fmt(tAgain)} (${again.fromCache ? 'read from the cache' : 'extracted'})`);
  }

  // 1,000 16x16 images: bundled digits stand in for samples (the timing does not depend on content),
  // shuffled as samples would be (the Inception Score splits the set into contiguous parts, and the
  // bundle is sorted by digit).
  const gen = await loadDataset('mnist', { limit: 1000, imageSize: 16, channels: 1 });
  const order = new Stream(0, 'bench-eval-order').permutation(1000);
  const data = new Uint8Array(gen.pixels!.length);
  order.forEach((src, i) => data.set(gen.pixels!.subarray(src * 256, (src + 1) * 256), i * 256));
  const images = { data, shape: [1000, 16, 16, 1] as [number, number, number, number] };
  const [features, tExtract] = await timed(() => net.extract(images));
  console.log(`extract 1,000 16x16 images: ${fmt(tExtract)} (${features.pooled.cols}-d pooled, ${features.spatial!.cols}-d spatial)`);
  const [fidOnly, tFid] = await timed(() => scoreImages(net, images, ref, { metrics: ['fid'] }));
  console.log(`extract + FID: ${fmt(tFid)}  FID ${fidOnly.fid.toFixed(4)}`);
  const [all, tAll] = await timed(() => scoreImages(net, images, ref, { seed: 0 }));
  console.log(
    `extract + FID, sFID, KID, precision/recall, IS: ${fmt(tAll)}  ` +
      `FID ${all.fid.toFixed(4)}, sFID ${all.sfid!.toFixed(4)}, KID ${all.kid!.toExponential(3)} ± ${all.kidStd!.toExponential(2)}, ` +
      `P ${all.precision!.toFixed(3)}, R ${all.recall!.toFixed(3)}, IS ${all.is!.toFixed(3)}`,
  );
  const [boot, tBoot] = await timed(() => scoreImages(net, images, ref, { metrics: ['fid'], bootstrap: 100, seed: 0 }));
  console.log(`extract + FID with 100 bootstrap replicates: ${fmt(tBoot)}  95% CI [${boot.fidCi![0].toFixed(4)}, ${boot.fidCi![1].toFixed(4)}]`);
  net.dispose();
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? e);
  process.exit(1);
});
