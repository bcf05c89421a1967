#!/usr/bin/env node
// `xlab` runs the TypeScript sources directly through tsx, so the command line always matches the
// checkout without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main/cli.ts');
await main(process.argv);
