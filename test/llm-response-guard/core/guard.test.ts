import {
  answerCheck,
  answerUsage,
  compileResponseGuard,
  ResponseGuardConfigError,
  runResponseGuard,
  type AnswerInput,
} from '../../../plugins/llm-response-guard/core/guard';
import { parseAnswer } from '../../../plugins/llm-response-guard/core/answer';
import { RedactionConfigError } from '../../../plugins/shared/redaction';
import { FAKE } from '../../shared/redaction/fixtures';
import { chatCompletion, chatStream, config, contentDeltas, dataOf, enc, responsesAnswer, responsesStream, sse } from './streams';

const JSON_TYPE = 'application/json';
const SSE_TYPE = 'text/event-stream; charset=utf-8';
const input = (body: string | Uint8Array, contentType: string | null = JSON_TYPE, extra: Partial<AnswerInput> = {}): AnswerInput => ({
  contentType,
  status: 200,
  body: typeof body === 'string' ? enc(body) : body,
  placeholders: null,
  ...extra,
});
const guard = compileResponseGuard(config());

describe('compileResponseGuard', () => {
  it.each([0, -1, 1.5, 2 ** 40])('refuses max_answer_bytes %p', (max) => {
    expect(() => compileResponseGuard(config({ max_answer_bytes: max }))).toThrow(ResponseGuardConfigError);
  });

  it('refuses a schema that is not JSON, without quoting it', () => {
    expect(() => compileResponseGuard(config({ response_schema: '{secret' }))).toThrow('response_schema: not valid JSON');
  });

  it('refuses a bad redaction config', () => {
    expect(() =>
      compileResponseGuard(config({ redaction: { enabled: true, actions: { nope: 'redact' } as never, custom_patterns: [] } })),
    ).toThrow(RedactionConfigError);
  });

  it('skips redaction when disabled', () => {
    expect(compileResponseGuard(config({ redaction: { enabled: false, actions: {}, custom_patterns: [] } })).redaction).toBeNull();
  });
});

describe('runResponseGuard', () => {
  it('passes a clean JSON answer untouched, with its usage', () => {
    const d = runResponseGuard(guard, input(JSON.stringify(chatCompletion('Hello!'))));
    expect(d).toEqual({
      action: 'pass',
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, cached_tokens: 4, reasoning_tokens: 0, source: 'response' },
      findings: {},
    });
  });

  it('replaces a JSON answer with a redacted one and reports findings', () => {
    const d = runResponseGuard(guard, input(JSON.stringify(chatCompletion(`Her mail is ${FAKE.email}`, `key ${FAKE.openai}`))));
    expect(d.action).toBe('replace');
    if (d.action !== 'replace') return;
    const body = JSON.parse(d.body);
    expect(body.choices.map((c: any) => c.message.content)).toEqual(['Her mail is [EMAIL_1]', 'key [OPENAI_KEY_1]']);
    expect(body.usage.total_tokens).toBe(21);
    expect(d.findings).toEqual({ email: 1, openai_key: 1 });
    expect(d.body).not.toContain(FAKE.email);
  });

  it('passes non-2xx answers untouched with usage unknown', () => {
    const err = JSON.stringify({ error: { message: `bad ${FAKE.email}`, type: 'invalid_request_error', param: null, code: null } });
    for (const status of [400, 429, 500, 503, 304]) {
      // not scanned: null, not {} (which would say "checked, nothing found")
      expect(runResponseGuard(guard, input(err, JSON_TYPE, { status }))).toEqual({ action: 'pass', usage: null, findings: null });
    }
  });

  it('passes content types it does not read and empty bodies', () => {
    expect(runResponseGuard(guard, input(new Uint8Array([0xff, 0xfb, 0x90]), 'audio/mpeg')).action).toBe('pass');
    expect(runResponseGuard(guard, input('', JSON_TYPE)).action).toBe('pass');
    expect(runResponseGuard(guard, input(FAKE.email, null)).action).toBe('pass');
  });

  it('withholds an answer over max_answer_bytes (502)', () => {
    const small = compileResponseGuard(config({ max_answer_bytes: 64 }));
    const d = runResponseGuard(small, input(JSON.stringify(chatCompletion('x'.repeat(100)))));
    expect(d).toMatchObject({ action: 'reject', rejection: { status: 502, type: 'server_error', code: 'response_too_large' } });
  });

  it('withholds an answer that is not what its Content-Type says (502)', () => {
    expect(runResponseGuard(guard, input(`not json ${FAKE.email}`))).toMatchObject({
      action: 'reject',
      rejection: { status: 502, code: 'response_invalid' },
    });
    const d = runResponseGuard(guard, input(`data: ${FAKE.email}\n\n`, SSE_TYPE));
    expect(d).toMatchObject({ action: 'reject', rejection: { code: 'response_invalid' } });
    if (d.action === 'reject') expect(d.rejection.message).not.toContain(FAKE.email);
  });

  it('withholds an answer with a blocked type, naming the type only (502 response_blocked)', () => {
    const strict = compileResponseGuard(config({ redaction: { enabled: true, actions: { openai_key: 'block' }, custom_patterns: [] } }));
    const d = runResponseGuard(strict, input(chatStream(['use ', FAKE.openai.slice(0, 12), FAKE.openai.slice(12)], { usage: true }), SSE_TYPE));
    expect(d).toMatchObject({
      action: 'reject',
      rejection: { status: 502, type: 'server_error', code: 'response_blocked' },
      findings: { openai_key: 1 },
      usage: { total_tokens: 21, source: 'stream' },
    });
    if (d.action === 'reject') {
      expect(d.rejection.message).toContain('openai_key');
      expect(d.rejection.message).not.toContain('sk-');
    }
  });

  it('reports allowed findings without changing the answer', () => {
    const lenient = compileResponseGuard(config({ redaction: { enabled: true, actions: { email: 'allow' }, custom_patterns: [] } }));
    expect(runResponseGuard(lenient, input(JSON.stringify(chatCompletion(FAKE.email))))).toMatchObject({ action: 'pass', findings: { email: 1 } });
  });

  it('applies custom patterns', () => {
    const custom = compileResponseGuard(
      config({ redaction: { enabled: true, actions: {}, custom_patterns: [{ name: 'emp', pattern: 'EMP-[0-9]{6}', action: 'mask' }] } }),
    );
    const d = runResponseGuard(custom, input(chatStream(['id EMP-12', '3456.']), SSE_TYPE));
    expect(d.action).toBe('replace');
    if (d.action === 'replace') expect(contentDeltas(d.body).join('')).toBe('id ****.');
  });

  describe('streams', () => {
    it('re-serializes only changed events and keeps [DONE] and the event count', () => {
      const stream = chatStream(['Contact ', 'jane.doe@', 'example.com', ' soon'], { usage: true });
      const d = runResponseGuard(guard, input(stream, SSE_TYPE));
      expect(d.action).toBe('replace');
      if (d.action !== 'replace') return;
      expect(contentDeltas(d.body)).toEqual(['', 'Contact ', '', '[EMAIL_1]', ' soon']);
      expect(dataOf(d.body)).toHaveLength(dataOf(stream).length);
      expect(d.body.endsWith('data: [DONE]\n\n')).toBe(true);
      // unchanged events are the upstream's bytes
      expect(d.body.startsWith(stream.slice(0, stream.indexOf('\n\n') + 2))).toBe(true);
      expect(d.usage).toEqual({ prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, cached_tokens: 4, reasoning_tokens: 0, source: 'stream' });
    });

    it('handles CRLF framing', () => {
      const d = runResponseGuard(guard, input(chatStream(['a ', FAKE.email], { eol: '\r\n' }), SSE_TYPE));
      expect(d.action).toBe('replace');
      if (d.action === 'replace') expect(contentDeltas(d.body).join('')).toBe('a [EMAIL_1]');
    });

    it('has no usage without include_usage', () => {
      expect(runResponseGuard(guard, input(chatStream(['hi']), SSE_TYPE))).toEqual({ action: 'pass', usage: null, findings: {} });
    });

    it('reads the usage of a Responses stream from response.completed', () => {
      const d = runResponseGuard(guard, input(responsesStream(['Hi ', 'there']), SSE_TYPE));
      expect(d).toEqual({
        action: 'pass',
        usage: { prompt_tokens: 20, completion_tokens: 30, total_tokens: 50, cached_tokens: 0, reasoning_tokens: 8, source: 'stream' },
        findings: {},
      });
    });
  });

  describe('restore', () => {
    const placeholders = new Map([['[EMAIL_1]', 'alice@client.example']]);

    it('restores the request placeholders in a JSON answer and a stream', () => {
      const json = runResponseGuard(guard, input(JSON.stringify(chatCompletion('Sent to [EMAIL_1].')), JSON_TYPE, { placeholders }));
      expect(json.action).toBe('replace');
      if (json.action === 'replace') expect(JSON.parse(json.body).choices[0].message.content).toBe('Sent to alice@client.example.');
      const stream = runResponseGuard(guard, input(chatStream(['Sent to [EM', 'AIL_1', '].']), SSE_TYPE, { placeholders }));
      if (stream.action !== 'replace') throw new Error('expected a replacement');
      expect(contentDeltas(stream.body)).toEqual(['', 'Sent to ', '', 'alice@client.example.']);
      expect(stream.findings).toEqual({});
    });

    it('round trip: what llm-guard redacted in the prompt comes back in the answer, nothing else', async () => {
      const { compileRedactionPolicy } = await import('../../../plugins/shared/redaction');
      const request = compileRedactionPolicy({}).newSession();
      const prompt = request.redact(`Write to ${FAKE.email} about card ${FAKE.card}`).text;
      expect(prompt).toBe('Write to [EMAIL_1] about card [PAYMENT_CARD_1]');
      const map = new Map<string, string>();
      for (const p of ['[EMAIL_1]', '[PAYMENT_CARD_1]']) map.set(p, request.restore(p));
      // the answer's session sees the request's [EMAIL_1] in the text and numbers its own value past it
      const answer = `I wrote to [EMAIL_1] (card [PAYMENT_CARD_1]) and cc'd bob@other.example.`;
      const d = runResponseGuard(guard, input(JSON.stringify(chatCompletion(answer)), JSON_TYPE, { placeholders: map }));
      if (d.action !== 'replace') throw new Error('expected a replacement');
      expect(JSON.parse(d.body).choices[0].message.content).toBe(`I wrote to ${FAKE.email} (card ${FAKE.card}) and cc'd [EMAIL_2].`);
      expect(d.findings).toEqual({ email: 1 });
    });

    it('does not restore when restore_placeholders is off', () => {
      const off = compileResponseGuard(config({ restore_placeholders: false }));
      expect(runResponseGuard(off, input(JSON.stringify(chatCompletion('[EMAIL_1]')), JSON_TYPE, { placeholders })).action).toBe('pass');
    });

    it('restores with redaction disabled', () => {
      const restoreOnly = compileResponseGuard(config({ redaction: { enabled: false, actions: {}, custom_patterns: [] } }));
      const d = runResponseGuard(restoreOnly, input(JSON.stringify(responsesAnswer('to [EMAIL_1]')), JSON_TYPE, { placeholders }));
      if (d.action !== 'replace') throw new Error('expected a replacement');
      expect(JSON.parse(d.body).output[0].content[0].text).toBe('to alice@client.example');
    });
  });

  describe('response_schema', () => {
    const schema = JSON.stringify({ type: 'object', required: ['choices'], properties: { choices: { type: 'array', minItems: 1 } } });
    const checked = compileResponseGuard(config({ response_schema: schema }));

    it('passes a conforming answer', () => {
      expect(runResponseGuard(checked, input(JSON.stringify(chatCompletion('ok')))).action).toBe('pass');
    });

    it('withholds a non-conforming JSON answer (502 response_schema_mismatch), usage kept', () => {
      const d = runResponseGuard(checked, input(JSON.stringify(responsesAnswer('hi'))));
      expect(d).toMatchObject({ action: 'reject', rejection: { status: 502, type: 'server_error', code: 'response_schema_mismatch' }, usage: { total_tokens: 50 } });
    });

    it('does not apply to streams', () => {
      expect(runResponseGuard(checked, input(sse([{ type: 'response.created' }], '\n', false), SSE_TYPE)).action).toBe('pass');
    });
  });
});

describe('answerUsage', () => {
  const parse = (body: string, type: string) => {
    const p = parseAnswer(type, enc(body), 1 << 20);
    if (!p.ok) throw new Error('unparsable');
    return p.answer;
  };

  it('reads Responses usage from a JSON answer', () => {
    expect(answerUsage(parse(JSON.stringify(responsesAnswer('x')), JSON_TYPE))).toEqual({
      prompt_tokens: 20,
      completion_tokens: 30,
      total_tokens: 50,
      cached_tokens: 0,
      reasoning_tokens: 8,
      source: 'response',
    });
  });

  it('reads embeddings usage', () => {
    const body = JSON.stringify({ object: 'list', data: [], model: 'text-embedding-3-small', usage: { prompt_tokens: 5, total_tokens: 5 } });
    expect(answerUsage(parse(body, JSON_TYPE))).toMatchObject({ prompt_tokens: 5, completion_tokens: 0, total_tokens: 5, source: 'response' });
  });

  it('reads the include_usage chunk of a stream, ignoring usage: null chunks', () => {
    expect(answerUsage(parse(chatStream(['a', 'b'], { usage: true }), SSE_TYPE))).toMatchObject({ total_tokens: 21, source: 'stream' });
  });
});

describe('answerCheck (what the adapter publishes of an answer)', () => {
  const strict = compileResponseGuard(config({ redaction: { enabled: true, actions: { email: 'block' }, custom_patterns: [] } }));
  const schema = compileResponseGuard(config({ response_schema: JSON.stringify({ type: 'object', required: ['nope'] }) }));
  const restoreOnly = compileResponseGuard(config({ redaction: { enabled: false, actions: {}, custom_patterns: [] }, restore_placeholders: true }));
  const placeholders = new Map([['[EMAIL_1]', 'alice@client.example']]);

  it('counts what a scanned answer held, and says whether it was withheld', () => {
    const redacted = runResponseGuard(guard, input(JSON.stringify(chatCompletion(`Mail ${FAKE.email} or ${FAKE.email}`, `key ${FAKE.openai}`))));
    expect(answerCheck(redacted)).toEqual({ findings: { email: 2, openai_key: 1 }, blocked: false });
    const withheld = runResponseGuard(strict, input(JSON.stringify(chatCompletion(FAKE.email))));
    expect(answerCheck(withheld)).toEqual({ findings: { email: 1 }, blocked: true });
    // scanned and clean: {} (checked, nothing found), with or without usage
    expect(answerCheck(runResponseGuard(guard, input(JSON.stringify(chatCompletion('Hello!')))))).toEqual({ findings: {}, blocked: false });
    expect(answerCheck(runResponseGuard(guard, input(chatStream(['hi']), SSE_TYPE)))).toEqual({ findings: {}, blocked: false });
  });

  it('is null for answers whose texts were not scanned, refusals other than a block included', () => {
    const cases = [
      runResponseGuard(guard, input(JSON.stringify({ error: { message: FAKE.email } }), JSON_TYPE, { status: 400 })),
      runResponseGuard(guard, input(new Uint8Array([0xff, 0xfb]), 'audio/mpeg')),
      runResponseGuard(guard, input('', JSON_TYPE)),
      runResponseGuard(guard, input(`not json ${FAKE.email}`)),
      runResponseGuard(schema, input(JSON.stringify(chatCompletion(FAKE.email)))),
      runResponseGuard(restoreOnly, input(JSON.stringify(chatCompletion(`[EMAIL_1] ${FAKE.email}`)), JSON_TYPE, { placeholders })),
    ];
    expect(cases.map((d) => d.action)).toEqual(['pass', 'pass', 'pass', 'reject', 'reject', 'replace']);
    for (const d of cases) {
      expect(d.findings).toBeNull();
      expect(answerCheck(d)).toBeNull();
    }
  });

  it('never carries answer text', () => {
    const d = runResponseGuard(strict, input(chatStream(['write ', FAKE.email.slice(0, 5), FAKE.email.slice(5)], { usage: true }), SSE_TYPE));
    const text = JSON.stringify(answerCheck(d));
    expect(text).toBe('{"findings":{"email":1},"blocked":true}');
  });
});
