/**
 * Work a plugin must finish before its plugin server exits. Kong stops plugin servers
 * with SIGTERM (on `kong stop`, `kong reload` and when a server is replaced); the
 * server (bin/llm-pluginserver.ts) runs every hook registered here, in parallel, and
 * exits when all are done or the deadline has passed, whichever comes first. llm-audit
 * flushes its delivery queues this way, so records queued in memory reach their sinks
 * or their disk buffers instead of being lost with the process.
 */

type Hook = (deadlineMs: number) => Promise<void>;

const hooks = new Set<Hook>();

/** Registers `hook` (once per function); it gets the time it may take, in ms. */
export function onShutdown(hook: Hook): void {
  hooks.add(hook);
}

/** Runs every hook; resolves when all settled or after `deadlineMs`. Never rejects. */
export async function runShutdownHooks(deadlineMs: number): Promise<void> {
  if (hooks.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deadlineMs);
    timer.unref();
  });
  const all = Promise.allSettled([...hooks].map((h) => Promise.resolve().then(() => h(deadlineMs)))).then(() => undefined);
  await Promise.race([all, deadline]);
  clearTimeout(timer);
}
