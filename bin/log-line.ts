/**
 * One structured log line per event. Kong logs whatever a plugin server prints at
 * INFO, prefixed with `[name:pid]`; lines are JSON so they can be parsed, never
 * coloured (kong-pdk's own logger adds ANSI codes).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export function logLine(level: Level, event: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ time: new Date().toISOString(), level, event, ...fields });
}

/** Quoted fragments of an error message may be request data (JSON.parse quotes its input). */
const QUOTED = /"[^"]*"|'[^']*'|`[^`]*`/g;

/** Error description safe to log: name, message with quoted fragments removed, code frames only. */
export function safeError(err: unknown): { error: string; stack?: string } {
  if (!(err instanceof Error)) return { error: `non-Error thrown (${typeof err})` };
  const message = err.message.replace(QUOTED, '"[redacted]"').slice(0, 300);
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((l) => l.trimStart().startsWith('at '))
    .slice(0, 8)
    .map((l) => l.trim())
    .join(' | ');
  return { error: `${err.name}: ${message}`, stack: frames || undefined };
}
