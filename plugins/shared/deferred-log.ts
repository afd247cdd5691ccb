/**
 * Log lines for Kong's error log from code that runs outside a request (a Redis client
 * failing over, an audit sink dropping records). A plugin server's own output reaches
 * Kong's log only at info level (kong/runloop/plugin_servers/process.lua logs every
 * line it reads with ngx.INFO), invisible at Kong's default `notice`: so such lines are
 * kept here and written with `kong.log.err` by the next request that passes by, one
 * PDK call per line, only when there is one. Bounded: past MAX_PENDING, lines are
 * counted, and the count is written with the next flush.
 */
import type { KongPdk } from './pdk';

const MAX_PENDING = 20;
const pending: string[] = [];
let overflow = 0;

/** Keeps `line` (no request data, no secret: the caller's responsibility) for the next flush. */
export function deferLog(line: string): void {
  if (pending.length < MAX_PENDING) pending.push(line);
  else overflow++;
}

/** Writes the kept lines through Kong's log; a no-op (no PDK call) when there are none. */
export async function flushDeferredLogs(kong: KongPdk): Promise<void> {
  if (pending.length === 0) return;
  const lines = pending.splice(0);
  if (overflow > 0) {
    lines.push(JSON.stringify({ event: 'log_lines_dropped', count: overflow }));
    overflow = 0;
  }
  for (const l of lines) await kong.log.err(l).catch(() => undefined);
}

/**
 * A line about work outside a request (no request data, no secret): written to stderr
 * now (Kong logs it at info) and, for `error` and `warn`, kept for Kong's error log
 * with the next request.
 */
export function logOutsideRequest(plugin: string, level: 'error' | 'warn' | 'notice', event: string, fields: Record<string, unknown>): void {
  const line = JSON.stringify({ level, plugin, event, ...fields });
  if (level !== 'notice') deferLog(line);
  process.stderr.write(`${line}\n`);
}
