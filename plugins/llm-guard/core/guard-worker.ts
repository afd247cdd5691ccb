/**
 * Worker-thread side of offload.ts: compiles each config once (by its key) and runs
 * the same `runGuard` the main thread runs for small bodies. Errors go back as
 * messages (never the request's text); the handler then fails closed.
 */
import { parentPort } from 'node:worker_threads';
import { compileGuard, runGuard, type CompiledGuard } from './guard';
import type { GuardJob } from './offload';

/** Configs seen by this worker; a config change adds one, and there are few. */
const MAX_CONFIGS = 64;
const compiled = new Map<string, CompiledGuard>();

parentPort?.on('message', (msg: GuardJob & { id: number }) => {
  try {
    let guard = compiled.get(msg.configKey);
    if (!guard) {
      if (compiled.size >= MAX_CONFIGS) compiled.delete(compiled.keys().next().value!);
      guard = compileGuard(msg.config);
      compiled.set(msg.configKey, guard);
    }
    parentPort!.postMessage({ id: msg.id, ok: true, decision: runGuard(guard, msg.input) });
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.name : 'error' });
  }
});
