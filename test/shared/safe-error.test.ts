import { safeError } from '../../plugins/shared/safe-error';

describe('safeError', () => {
  it('keeps the error name and message but removes quoted fragments, which may be request data', () => {
    let parseError: unknown;
    try {
      JSON.parse('{"messages": "my secret prompt"');
    } catch (err) {
      parseError = err;
    }
    const logged = safeError(new Error('bad key "sk-live-123" in \'x-api-key\' near `prompt`'));
    expect(logged.error).toBe('Error: bad key "[redacted]" in "[redacted]" near "[redacted]"');
    expect(JSON.stringify(safeError(parseError))).not.toContain('my secret prompt');
  });

  it('keeps code frames only, at most eight', () => {
    const err = new Error('boom');
    err.stack = ['Error: boom "secret"', ...Array.from({ length: 12 }, (_, i) => `    at f${i} (/app/x.js:${i}:1)`)].join('\n');
    const { stack } = safeError(err);
    expect(stack!.split(' | ')).toHaveLength(8);
    expect(stack).not.toContain('secret');
  });

  it('describes a thrown non-Error by its type only', () => {
    expect(safeError('sk-live-123')).toEqual({ error: 'non-Error thrown (string)' });
  });
});
