/**
 * The guard's re-serialized streams as the official openai SDK reads them: a tiny HTTP
 * server on 127.0.0.1 serves the guard's output (in 7-byte writes, so the SDK's own
 * line and event splitting is exercised across TCP reads) and the SDK iterates it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { compileResponseGuard, runResponseGuard } from '../../../plugins/llm-response-guard/core/guard';
import { FAKE } from '../../shared/redaction/fixtures';
import { chatStream, config, enc, responsesStream } from './streams';

let body = '';
let server: http.Server;
let client: OpenAI;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      const bytes = Buffer.from(body, 'utf8');
      for (let i = 0; i < bytes.length; i += 7) res.write(bytes.subarray(i, i + 7));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new OpenAI({ apiKey: 'sk-test', baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, maxRetries: 0 });
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const guard = compileResponseGuard(config());
const placeholders = new Map([['[PHONE_1]', '+1 (415) 555-0100']]);

/** The guard's body for a stream; fails the test unless the guard rewrote it. */
function guarded(stream: string): string {
  const d = runResponseGuard(guard, { contentType: 'text/event-stream', status: 200, body: enc(stream), placeholders });
  if (d.action !== 'replace') throw new Error(`expected a replacement, got ${d.action}`);
  return d.body;
}

describe('re-serialized streams read by the openai SDK', () => {
  it('chat.completions.create({stream: true}): every chunk parses, content redacted and restored, usage last', async () => {
    const key = FAKE.openai;
    for (const eol of ['\n', '\r\n'] as const) {
      body = guarded(
        chatStream(['Call [PHO', 'NE_1] or mail ', 'jane.', 'doe@exam', 'ple.com; key ', key.slice(0, 9), key.slice(9, 33), key.slice(33), ' ok'], {
          usage: true,
          eol,
          others: [['second ', 'choice']],
        }),
      );
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      const content: Record<number, string> = {};
      let chunks = 0;
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        chunks++;
        for (const c of chunk.choices) content[c.index] = (content[c.index] ?? '') + (c.delta.content ?? '');
        if (chunk.usage) usage = chunk.usage;
      }
      expect(content[0]).toBe('Call +1 (415) 555-0100 or mail [EMAIL_1]; key [OPENAI_KEY_1] ok');
      expect(content[1]).toBe('second choice');
      expect(chunks).toBe(2 + 11 + 2 + 1);
      expect(usage?.total_tokens).toBe(21);
    }
  });

  it('responses.create({stream: true}): deltas and the final response agree', async () => {
    body = guarded(responsesStream(['Reach jane', '.doe@example', '.com at [PHONE_1]']));
    const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', stream: true });
    let deltas = '';
    let final: OpenAI.Responses.Response | undefined;
    const types: string[] = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') deltas += event.delta;
      if (event.type === 'response.completed') final = event.response;
    }
    const expected = 'Reach [EMAIL_1] at +1 (415) 555-0100';
    expect(deltas).toBe(expected);
    const part = final?.output[0];
    expect(part?.type === 'message' && part.content[0].type === 'output_text' ? part.content[0].text : null).toBe(expected);
    expect(types).toHaveLength(11);
  });
});
