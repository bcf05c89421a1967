/**
 * The desktop app itself (Electron mode). Electron fetches its binary at first launch, which is
 * not possible on every machine: without a binary this file is skipped, saying why. The browser
 * specs cover the same screens through `xlab serve`.
 */
import { _electron as electron } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, test } from './fixtures';
import { ROOT, electronBinary } from './paths';

const binary = electronBinary();

test.describe('desktop app (Electron)', () => {
  test.skip(binary.path === null, binary.why);

  test('opens on the Runs screen and starts a run through IPC', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlab-e2e-electron-'));
    const app = await electron.launch({
      executablePath: binary.path!,
      args: [ROOT, '--data-dir', dataDir, '--no-sandbox'],
      cwd: ROOT,
    });
    try {
      const page = await app.firstWindow();
      await expect(page.getByTestId('screen-runs')).toBeVisible();
      await page.getByTestId('nav-new').click();
      await page.getByTestId('ne-experimentName').fill('electron e2e');
      await page.getByTestId('ne-preset').selectOption('tiny-test');
      await page.getByTestId('ne-steps').fill('10');
      await page.getByTestId('ne-batch').fill('4');
      await page.getByTestId('ne-objective-adm-ip').uncheck();
      await page.getByTestId('ne-eval-on').uncheck();
      await page.getByTestId('ne-submit').click();
      await expect(page.getByTestId('runs-row')).toHaveCount(1);
      await expect(page.locator('[data-testid="runs-row"][data-status="done"]')).toHaveCount(1, { timeout: 120_000 });
    } finally {
      await app.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
