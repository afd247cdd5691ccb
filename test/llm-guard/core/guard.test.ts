/**
 * The whole llm-guard pipeline (core/guard.ts) as a pure function: any body gives a
 * decision (pass, rewrite or an OpenAI-format 4xx), never a throw; the forwarded body
 * is serialized once and only when changed; findings and messages carry no prompt text.
 */
import fc from 'fast-check';
import { parsePluginConfig } from '../../../plugins/shared/kong-config';
import { compileGuard, preflight, runGuard } from '../../../plugins/llm-guard/core/guard';
import { Schema, type LlmGuardConfig } from '../../../plugins/llm-guard/schema';

const config = (overrides: Record<string, unknown> = {}) => parsePluginConfig<LlmGuardConfig>(Schema, overrides);
const guard = compileGuard(config({ include_usage: true, max_tokens_ceiling: 1000 }));
const body = (v: unknown) => Buffer.from(JSON.stringify(v));
const ENDPOINTS = ['chat.completions', 'completions', 'embeddings', 'responses'] as const;

describe('runGuard', () => {
  it('decides on any bytes without throwing: pass, rewrite, or a 4xx in OpenAI format', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ENDPOINTS), fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.json().map((j) => Buffer.from(j))), (endpoint, bytes) => {
        const d = runGuard(guard, { endpoint, body: bytes });
        if (!d.ok) {
          expect(d.rejection.status).toBeGreaterThanOrEqual(400);
          expect(d.rejection.status).toBeLessThan(500);
          expect(typeof d.rejection.message).toBe('string');
        } else if (d.body !== null) {
          expect(() => JSON.parse(d.body!)).not.toThrow();
        }
      }),
      { numRuns: 500 },
    );
  });

  it('decides on any chat-shaped body, and a rewritten body never holds a secret it found', () => {
    const secret = 'sk-proj-' + 'Z9y8X7w6V5u4T3s2R1q0'.repeat(3);
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 200 }), { minLength: 1, maxLength: 5 }), fc.boolean(), (texts, stream) => {
        const messages = texts.map((t, i) => ({ role: 'user', content: i === 0 ? `${t} ${secret}` : t }));
        const d = runGuard(guard, { endpoint: 'chat.completions', body: body({ model: 'gpt-4o-mini', messages, stream }) });
        if (d.ok) {
          expect(d.body).not.toBeNull();
          expect(d.body).not.toContain(secret);
          expect(JSON.stringify(d.facts)).not.toContain(secret);
        } else {
          expect(d.rejection.message).not.toContain(secret);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('serializes nothing when nothing changed', () => {
    const d = runGuard(compileGuard(config()), { endpoint: 'embeddings', body: body({ model: 'text-embedding-3-small', input: 'plain text' }) });
    expect(d).toMatchObject({ ok: true, body: null, facts: { endpoint: 'embeddings', body_rewritten: false } });
  });

  it('strips zero-width and bidi characters from what is forwarded, and only from prompt text', () => {
    const d = runGuard(compileGuard(config()), { endpoint: 'chat.completions', body: body({ model: 'gpt-4o-mini', user: 'a\u200bb', messages: [{ role: 'user', content: 'he\u200bllo\u202e' }] }) });
    expect(d.ok && JSON.parse(d.body!)).toMatchObject({ user: 'a\u200bb', messages: [{ content: 'hello' }] });
  });
});

describe('preflight', () => {
  it('refuses wrong content types and oversized declared bodies before reading, passes what it does not parse', () => {
    expect(preflight(guard, { path: '/v1/chat/completions', contentType: 'text/plain', contentLength: 10, hasBody: true })).toMatchObject({ action: 'reject', rejection: { status: 415 } });
    expect(preflight(guard, { path: '/v1/chat/completions', contentType: 'application/json', contentLength: 10 ** 9, hasBody: true })).toMatchObject({ action: 'reject', rejection: { status: 413 } });
    expect(preflight(guard, { path: '/v1/files', contentType: 'multipart/form-data', contentLength: 10 ** 9, hasBody: true })).toEqual({ action: 'pass', endpoint: null });
    expect(preflight(guard, { path: '/v1/chat/completions', contentType: 'application/json; charset=utf-8', contentLength: 100, hasBody: true })).toEqual({ action: 'read', endpoint: 'chat.completions' });
  });

  it('refuses a config whose custom schema is not JSON, naming the field', () => {
    expect(() => compileGuard(config({ custom_schema: '{not json' }))).toThrow(/custom_schema/);
  });
});
