/**
 * An error as it may be logged. No secret or prompt text may reach a log, and error
 * messages can quote their input (JSON.parse echoes the text it failed on, with
 * nested quotes that defeat any redaction of "quoted parts"). So a message is kept
 * only when it quotes nothing, and only code frames of the stack are kept.
 */
const QUOTE = /["'`]/;
const MAX_MESSAGE = 300;
const MAX_FRAMES = 8;

/**
 * Error description safe to log: name, message unless it quotes anything, code
 * frames. Duck-typed: errors from Node internals may come from another realm.
 */
export function safeError(err: unknown): { error: string; stack?: string } {
  const { name, message, stack } = (typeof err === 'object' && err !== null ? err : {}) as Record<string, unknown>;
  if (typeof name !== 'string') return { error: `non-Error thrown (${typeof err})` };
  const text = typeof message === 'string' && message !== '' ? message.slice(0, MAX_MESSAGE) : '';
  const shown = text === '' ? name : QUOTE.test(text) ? `${name} (message withheld: it quotes data)` : `${name}: ${text}`;
  const frames = (typeof stack === 'string' ? stack : '')
    .split('\n')
    .filter((l) => l.trimStart().startsWith('at '))
    .slice(0, MAX_FRAMES)
    .map((l) => l.trim())
    .join(' | ');
  return { error: shown, stack: frames || undefined };
}
