/**
 * llm-response-guard's Kong adapter through the bridge and the real plugin servers,
 * with the openai SDK as the client. The mock upstream echoes the prompt, so what
 * llm-guard lets through (or replaces) comes back in the answer.
 */
import OpenAI from 'openai';
import type { KongBridge } from '../bridge/gateway';
import type { MockOpenAI } from '../mock-openai/server';
import { bridgeWithYml, type BridgeWith } from '../support/bridge-with';
import { readUsage } from '../../plugins/shared/usage';

const chat = (content: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] });

function kongYml(): string {
  return `_format_version: "3.0"
services:
  - name: openai
    url: http://127.0.0.1:1/v1
    routes:
      # the prompt keeps e-mails (allow), the answer loses them
      - name: answers
        paths: [/answers/v1]
        strip_path: true
        plugins:
          - name: llm-guard
            config:
              redaction: { actions: { email: allow } }
          - name: llm-response-guard
            config: {}
      # as answers, but a stream's answer reports no usage (nobody asks for it)
      - name: nousage
        paths: [/nousage/v1]
        strip_path: true
        plugins:
          - name: llm-guard
            config:
              include_usage: false
              redaction: { actions: { email: allow } }
          - name: llm-response-guard
            config: {}
      # the prompt's e-mails are replaced, the answer gets them back
      - name: restore
        paths: [/restore/v1]
        strip_path: true
        plugins:
          - name: llm-guard
            config:
              redaction: { share_placeholders: true }
          - name: llm-response-guard
            config:
              restore_placeholders: true
      - name: blocked
        paths: [/blocked/v1]
        strip_path: true
        plugins:
          - name: llm-guard
            config:
              redaction: { actions: { email: allow } }
          - name: llm-response-guard
            config:
              redaction: { actions: { email: block } }
`;
}

describe('llm-response-guard through the bridge', () => {
  let mock: MockOpenAI;
  let bridge: KongBridge;
  let env: BridgeWith;
  const client = (route: string) => new OpenAI({ apiKey: 'sk-client', baseURL: `${bridge.url}/${route}/v1`, maxRetries: 0 });
  const calls = (plugin: string) => bridge.traces.at(-1)!.pdkCalls.filter((c) => c.plugin === plugin).map((c) => `${c.phase}:${c.method}`);

  beforeAll(async () => {
    env = await bridgeWithYml(kongYml());
    ({ bridge, mock } = env);
  });
  afterAll(() => env?.close());
  beforeEach(() => mock.reset());

  it('redacts personal data in an answer, and publishes its usage', async () => {
    const completion = await client('answers').chat.completions.create(chat('Write to jane.doe@example.com'));
    expect(mock.requests[0].body).toContain('jane.doe@example.com'); // allowed in the prompt
    expect(completion.choices[0].message.content).toBe('Echo: Write to [EMAIL_1]');
    const trace = bridge.traces.at(-1)!;
    expect(readUsage(trace.shared.llm_usage)).toMatchObject({ prompt_tokens: completion.usage!.prompt_tokens, source: 'response' });
    expect(mock.requests[0].headers['accept-encoding']).toBe('identity');
    // the findings ride in the usage set (no call of their own) and reach Kong's log
    expect((trace.shared.llm_usage as Record<string, unknown>).answer_check).toEqual({ findings: { email: 1 }, blocked: false });
    expect(trace.shared.llm_response_guard).toEqual({ checked: true });
    expect(calls('llm-response-guard')).toEqual([
      'access:kong.service.request.set_headers',
      'access:kong.ctx.shared.set',
      'response:kong.service.response.get_status',
      'response:kong.service.response.get_header',
      'response:kong.service.response.get_raw_body',
      'response:kong.ctx.shared.set',
      'response:kong.response.exit',
    ]);
  });

  it('redacts a streamed answer that the SDK still reads chunk by chunk, the value split across chunks', async () => {
    const stream = await client('answers').chat.completions.create({ ...chat('Write to jane.doe@example.com please'), stream: true as const, stream_options: { include_usage: true } });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text).toBe('Echo: Write to [EMAIL_1] please');
    expect(readUsage(bridge.traces.at(-1)!.shared.llm_usage)).toMatchObject({ source: 'stream' });
  });

  it('puts the values llm-guard replaced back into the answer: the client gets its own data, OpenAI never saw it', async () => {
    const completion = await client('restore').chat.completions.create(chat('Write to jane.doe@example.com'));
    expect(mock.requests[0].body).not.toContain('jane.doe@example.com');
    expect(mock.requests[0].body).toContain('[EMAIL_1]');
    expect(completion.choices[0].message.content).toBe('Echo: Write to jane.doe@example.com');
  });

  it('withholds an answer with a blocked type as a 502 the SDK raises, naming the type only', async () => {
    const err = await client('blocked').chat.completions.create(chat('Write to jane.doe@example.com')).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(502);
    expect(err.code).toBe('response_blocked');
    expect(JSON.stringify(err.error)).not.toContain('jane.doe');
    // published before the exit: Kong answers nothing after one
    expect((bridge.traces.at(-1)!.shared.llm_usage as Record<string, unknown>).answer_check).toEqual({ findings: { email: 1 }, blocked: true });
  });

  it('puts the findings of an answer without usage in its mark: still one set', async () => {
    const stream = await client('nousage').chat.completions.create({ ...chat('Write to jane.doe@example.com'), stream: true as const });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('Echo: Write to [EMAIL_1]');
    expect(JSON.parse(mock.requests[0].body).stream_options).toBeUndefined();
    const trace = bridge.traces.at(-1)!;
    expect(trace.shared.llm_response_guard).toEqual({ checked: true, answer_check: { findings: { email: 1 }, blocked: false } });
    // the usage-capture body_filter's record of an unmeasured answer, if any, carries no check
    expect((trace.shared.llm_usage as Record<string, unknown> | undefined)?.answer_check).toBeUndefined();
    expect(calls('llm-response-guard').filter((c) => c === 'response:kong.ctx.shared.set')).toHaveLength(1);
  });

  it('passes an answer with nothing to change without replacing it', async () => {
    await client('answers').chat.completions.create(chat('Nothing personal here'));
    // checked, nothing found: an empty map (a missing check would say "not checked"),
    // which Kong's Lua side hands back as [] (readCounts reads it as {})
    expect((bridge.traces.at(-1)!.shared.llm_usage as Record<string, unknown>).answer_check).toEqual({ findings: [], blocked: false });
    expect(calls('llm-response-guard')).toEqual([
      'access:kong.service.request.set_headers',
      'access:kong.ctx.shared.set',
      'response:kong.service.response.get_status',
      'response:kong.service.response.get_header',
      'response:kong.service.response.get_raw_body',
      'response:kong.ctx.shared.set',
    ]);
  });
});
