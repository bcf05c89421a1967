import { resolve } from 'node:path';
import { defineConfig, externalizeDepsPlugin } from 'electron-vite';
import react from '@vitejs/plugin-react';

// Main and preload run in Node/Electron: their npm dependencies (tfjs, better-sqlite3, sharp) stay
// external so native addons and .wasm files load from node_modules at run time.
export default defineConfig({
  main: {
    plugins: [externalizeDepsPlugin()],
    build: {
      rollupOptions: {
        // The job process is a second entry: the supervisor starts it with utilityProcess.fork.
        input: {
          index: resolve(__dirname, 'src/main/index.ts'),
          'job-process': resolve(__dirname, 'src/main/jobs/job-process.ts'),
          // Data-parallel training starts one worker thread per core from this entry.
          'training-worker': resolve(__dirname, 'src/main/training/parallel/training-worker.ts'),
        },
      },
    },
  },
  preload: {
    plugins: [externalizeDepsPlugin()],
    build: {
      // A sandboxed renderer can only load a CommonJS preload.
      rollupOptions: {
        input: { index: resolve(__dirname, 'src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'src/renderer'),
    plugins: [react()],
    build: {
      // electron-vite leaves the renderer unminified; minified, the first paint parses far less.
      minify: 'esbuild',
      rollupOptions: { input: { index: resolve(__dirname, 'src/renderer/index.html') } },
    },
  },
});
