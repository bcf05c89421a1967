// From the sources the training worker is TypeScript: load tsx in this thread, then the worker.
// (A built app starts training-worker.js directly; see worker-pool.ts.)
import { register } from 'tsx/esm/api';

register();
await import('./training-worker.ts');
