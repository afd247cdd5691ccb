/**
 * Upstream answers as OpenAI sends them, for the llm-response-guard core tests: a chat
 * completion, a Chat Completions stream cut into given deltas, a Responses answer and a
 * Responses stream. Shapes follow test/mock-openai/endpoints.ts and OpenAI's API reference.
 */
import type { ResponseGuardConfig } from '../../../plugins/llm-response-guard/core/guard';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

export const CONFIG: ResponseGuardConfig = {
  redaction: { enabled: true, actions: {}, custom_patterns: [] },
  restore_placeholders: true,
  response_schema: null,
  max_answer_bytes: 8 * 1024 * 1024,
};

export const config = (patch: Partial<ResponseGuardConfig> = {}): ResponseGuardConfig => ({ ...CONFIG, ...patch });

const HEAD = { id: 'chatcmpl-test', created: 1700000000, model: 'gpt-4o-mini', system_fingerprint: 'fp_mock0000000' };

export const CHAT_USAGE = {
  prompt_tokens: 12,
  completion_tokens: 9,
  total_tokens: 21,
  prompt_tokens_details: { cached_tokens: 4, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

/** A non-streamed chat completion, one choice per content. */
export function chatCompletion(...contents: string[]): object {
  return {
    ...HEAD,
    object: 'chat.completion',
    choices: contents.map((content, index) => ({
      index,
      message: { role: 'assistant', content, refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: 'stop',
    })),
    usage: CHAT_USAGE,
  };
}

export interface ChatStreamOptions {
  /** Add the include_usage chunk (and `usage: null` on the others). */
  usage?: boolean;
  /** Line end of the SSE framing. */
  eol?: '\n' | '\r\n';
  /** More choices, by index: their deltas interleave with choice 0's. */
  others?: string[][];
}

/** A Chat Completions stream whose choice 0 content arrives as `deltas`. */
export function chatStreamEvents(deltas: readonly string[], opts: ChatStreamOptions = {}): object[] {
  const extra = opts.usage ? { usage: null } : {};
  const chunk = (index: number, delta: object, finish: string | null) => ({
    ...HEAD,
    object: 'chat.completion.chunk',
    choices: [{ index, delta, logprobs: null, finish_reason: finish }],
    ...extra,
  });
  const choices = [deltas, ...(opts.others ?? [])];
  const events: object[] = choices.map((_, i) => chunk(i, { role: 'assistant', content: '' }, null));
  const longest = Math.max(...choices.map((c) => c.length));
  for (let k = 0; k < longest; k++) choices.forEach((c, i) => k < c.length && events.push(chunk(i, { content: c[k] }, null)));
  choices.forEach((_, i) => events.push(chunk(i, {}, 'stop')));
  if (opts.usage) events.push({ ...HEAD, object: 'chat.completion.chunk', choices: [], usage: CHAT_USAGE });
  return events;
}

/** Frames events as OpenAI does: `data: <json>` + blank line, then `data: [DONE]`. */
export function sse(events: readonly object[], eol: '\n' | '\r\n' = '\n', done = true): string {
  const frames = events.map((e) => `data: ${JSON.stringify(e)}${eol}${eol}`);
  if (done) frames.push(`data: [DONE]${eol}${eol}`);
  return frames.join('');
}

export const chatStream = (deltas: readonly string[], opts: ChatStreamOptions = {}): string =>
  sse(chatStreamEvents(deltas, opts), opts.eol ?? '\n');

export const RESPONSES_USAGE = {
  input_tokens: 20,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 30,
  output_tokens_details: { reasoning_tokens: 8 },
  total_tokens: 50,
};

/** A Responses API response with one message of one output_text part. */
export function responsesAnswer(text: string, status = 'completed'): Record<string, unknown> {
  return {
    id: 'resp_test',
    object: 'response',
    created_at: 1700000000,
    status,
    error: null,
    incomplete_details: null,
    model: 'gpt-4o-mini',
    output:
      status === 'completed'
        ? [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }]
        : [],
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    usage: status === 'completed' ? RESPONSES_USAGE : null,
  };
}

/** A Responses stream (`event:` + `data:` per event, no [DONE]) whose text arrives as `deltas`. */
export function responsesStream(deltas: readonly string[]): string {
  const text = deltas.join('');
  const part = (t: string) => ({ type: 'output_text', text: t, annotations: [] });
  const item = (t: string | null) => ({
    type: 'message',
    id: 'msg_1',
    status: t === null ? 'in_progress' : 'completed',
    role: 'assistant',
    content: t === null ? [] : [part(t)],
  });
  let seq = 0;
  const events: object[] = [
    { type: 'response.created', response: responsesAnswer('', 'in_progress') },
    { type: 'response.in_progress', response: responsesAnswer('', 'in_progress') },
    { type: 'response.output_item.added', output_index: 0, item: item(null) },
    { type: 'response.content_part.added', item_id: 'msg_1', output_index: 0, content_index: 0, part: part('') },
    ...deltas.map((delta) => ({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta, logprobs: [] })),
    { type: 'response.output_text.done', item_id: 'msg_1', output_index: 0, content_index: 0, text, logprobs: [] },
    { type: 'response.content_part.done', item_id: 'msg_1', output_index: 0, content_index: 0, part: part(text) },
    { type: 'response.output_item.done', output_index: 0, item: item(text) },
    { type: 'response.completed', response: responsesAnswer(text) },
  ].map((e) => ({ ...e, sequence_number: seq++ }));
  return events.map((e) => `event: ${(e as { type: string }).type}\ndata: ${JSON.stringify(e)}\n\n`).join('');
}

/** The `data` JSON of each event of a stream, [DONE] and comments left out. */
export function dataOf(stream: string): Array<Record<string, any>> {
  return stream
    .split(/\r?\n\r?\n/)
    .map((block) => block.split(/\r?\n/).filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'))
    .filter((d) => d !== '' && d !== '[DONE]')
    .map((d) => JSON.parse(d));
}

/** Choice `index`'s content deltas in a Chat Completions stream, in order. */
export function contentDeltas(stream: string, index = 0): string[] {
  return dataOf(stream)
    .flatMap((e) => e.choices ?? [])
    .filter((c: any) => c.index === index && typeof c.delta?.content === 'string')
    .map((c: any) => c.delta.content);
}
