/**
 * An error as it may be logged: no secret or prompt text may reach a log, and error
 * messages can quote their input (JSON.parse echoes the text it failed on, a URL
 * parser the URL), so quoted fragments are removed and only code frames are kept.
 */
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
