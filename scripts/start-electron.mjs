// `npm start`: launch the desktop app where an Electron binary can be had. Electron >= 42 fetches its
// binary at first launch; on machines without internet that fails, and the browser mode is the way in.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let electronPath;
try {
  electronPath = require('electron');
} catch {
  electronPath = null;
}
const probe = electronPath ? spawnSync(electronPath, ['--version'], { encoding: 'utf8', timeout: 60_000 }) : null;
if (!probe || probe.status !== 0) {
  console.error(
    'No Electron binary is available on this machine (it is downloaded at first launch and that failed or is not allowed here).\n' +
      'Use the same app in a browser instead:  npm run web\n' +
      'Or use the command line:               npx xlab --help',
  );
  process.exit(1);
}
const build = spawnSync('npx', ['electron-vite', 'build'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
spawn(electronPath, ['.'], { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 0));
