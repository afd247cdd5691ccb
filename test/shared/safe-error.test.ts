import { safeError } from '../../plugins/shared/safe-error';

describe('safeError', () => {
  it('withholds a message that quotes anything, which may be request data', () => {
    let parseError: unknown;
    try {
      JSON.parse('{"messages": "my "secret" prompt"}');
    } catch (err) {
      parseError = err;
    }
    expect(safeError(parseError).error).toBe('SyntaxError (message withheld: it quotes data)');
    expect(safeError(new Error("bad key 'sk-live-123'")).error).toBe('Error (message withheld: it quotes data)');
  });

  it('keeps a message that quotes nothing', () => {
    expect(safeError(new TypeError('Cannot read properties of undefined (reading x)')).error).toBe(
      'TypeError: Cannot read properties of undefined (reading x)',
    );
  });

  it('keeps code frames only, at most eight', () => {
    const err = new Error('boom');
    err.stack = ['Error: boom secret', ...Array.from({ length: 12 }, (_, i) => `    at f${i} (/app/x.js:${i}:1)`)].join('\n');
    const { stack } = safeError(err);
    expect(stack!.split(' | ')).toHaveLength(8);
    expect(stack).not.toContain('secret');
  });

  it('describes a thrown non-Error by its type only', () => {
    expect(safeError('sk-live-123')).toEqual({ error: 'non-Error thrown (string)' });
  });
});
