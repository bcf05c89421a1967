/** `xlab serve`: browser mode — the LabApi over HTTP + SSE, the built UI, and the job supervisor. */
import { Command } from 'commander';
import { createLabApi } from '../api/lab-api';
import { nodeJobForker } from '../jobs/fork-node';
import { defaultConcurrency, startSupervisor } from '../jobs/supervisor';
import { DEFAULT_PORT, checkBindHost, startServer } from '../server';
import { resolveDataDir } from '../store/data-dir';
import { openStore } from '../store/store';
import { addDataDirOption, intArg } from './history';

export function serveCommand(): Command {
  const cmd = new Command('serve').description('serve the app to a browser (and run queued jobs) until Ctrl-C');
  addDataDirOption(cmd)
    .option('--port <n>', `port (0 picks a free one)`, intArg('--port'), DEFAULT_PORT)
    .option('--host <address>', 'address to listen on; anything but loopback needs --allow-remote', '127.0.0.1')
    .option('--allow-remote', 'allow a non-loopback --host; every request then needs the printed token')
    .option('--concurrency <n>', `jobs at once (default ${defaultConcurrency()} here: one per two cores)`, intArg('--concurrency'))
    .option('--no-jobs', 'do not run queued jobs here (another process does)')
    .option('--renderer <dir>', 'built UI to serve (default: out/renderer of this checkout)')
    .option('--json', 'print { url, token, dataDir } as JSON on stdout once listening')
    .action(async (o) => {
      // Refuse before touching the data dir.
      checkBindHost(o.host, Boolean(o.allowRemote));
      const layout = resolveDataDir({ dataDirArg: o.dataDir });
      const store = openStore(layout.root);
      const supervisor =
        o.jobs === false
          ? null
          : startSupervisor({
              store,
              dataDir: layout.root,
              concurrency: o.concurrency || defaultConcurrency(),
              fork: nodeJobForker(),
            });
      const api = createLabApi({ store, dataDir: layout.root, supervisor });
      let server;
      try {
        server = await startServer({
          api,
          store,
          dataDir: layout.root,
          host: o.host,
          port: o.port,
          allowRemote: Boolean(o.allowRemote),
          ...(o.renderer ? { rendererDir: o.renderer } : {}),
        });
      } catch (err) {
        await supervisor?.shutdown();
        api.close();
        store.close();
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new Error(`port ${o.port} is in use: choose another with --port (0 picks a free one)`);
        throw err;
      }
      const openUrl = server.token ? `${server.url}?token=${server.token}` : server.url;
      if (o.json) {
        process.stdout.write(JSON.stringify({ url: server.url, token: server.token, dataDir: layout.root }) + '\n');
      } else {
        process.stdout.write(`Exposure Lab is serving ${openUrl}\n`);
        if (server.token) {
          process.stdout.write(`access token (required on every request from other machines): ${server.token}\n`);
        }
        process.stdout.write(
          `data dir ${layout.root}; ${supervisor ? `running up to ${supervisor.concurrency} job(s) at once` : 'not running jobs'}. Ctrl-C stops.\n`,
        );
      }
      let stopping = false;
      const stop = () => {
        if (stopping) process.exit(130);
        stopping = true;
        process.stderr.write('stopping: running jobs write a checkpoint first (Ctrl-C again to quit at once)\n');
        void (async () => {
          await server.close();
          await supervisor?.shutdown();
          api.close();
          store.close();
          process.exit(0);
        })();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      // Runs until a signal.
      await new Promise<never>(() => undefined);
    });
  return cmd;
}
