/**
 * End-to-end tests of the UI in browser mode: each worker starts a real `xlab serve` (see
 * e2e/fixtures.ts) and drives Debian's Chromium against it. `npm run e2e`.
 *
 * Benchmarks are tagged @bench and left out unless XLAB_BENCH=1:
 *   XLAB_BENCH=1 npx playwright test --grep @bench
 */
import { defineConfig } from '@playwright/test';

const chromium = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  globalSetup: './e2e/global-setup.ts',
  // Training jobs and the browser share two cores: one worker, tests in file order.
  workers: 1,
  fullyParallel: false,
  timeout: 180_000,
  expect: { timeout: 15_000 },
  retries: 0,
  reporter: [['list']],
  grepInvert: process.env['XLAB_BENCH'] ? undefined : /@bench/,
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    launchOptions: {
      executablePath: chromium,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
});
