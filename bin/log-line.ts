/**
 * One structured log line per event. Kong logs whatever a plugin server prints at
 * INFO, prefixed with `[name:pid]`; lines are JSON so they can be parsed, never
 * coloured (kong-pdk's own logger adds ANSI codes).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export function logLine(level: Level, event: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ time: new Date().toISOString(), level, event, ...fields });
}

export { safeError } from '../plugins/shared/safe-error';
