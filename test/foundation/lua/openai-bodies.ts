/**
 * Upstream bodies as OpenAI (and test/mock-openai/endpoints.ts) send them: chat
 * completion JSON and SSE chunks (with and without stream_options.include_usage),
 * Responses API JSON and its SSE events, embeddings, legacy completions.
 */

export const SSE_TYPE = 'text/event-stream; charset=utf-8';
export const JSON_TYPE = 'application/json';

const HEAD = {
  id: 'chatcmpl-Bx7mQ2pLrT9vKc4sWnE1yZ0aHfGdJ',
  created: 1751234567,
  model: 'gpt-4o-mini',
  service_tier: 'default',
  system_fingerprint: 'fp_mock0000000',
};

export const CHAT_USAGE = {
  prompt_tokens: 19,
  completion_tokens: 11,
  total_tokens: 30,
  prompt_tokens_details: { cached_tokens: 4, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 2, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

export const RESPONSES_USAGE = {
  input_tokens: 37,
  input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
  output_tokens: 12,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 49,
};

/** Content pieces with the bytes a naive scanner trips on: quotes, escapes, `data:`, a fake usage, UTF-8. */
export const TRICKY_PIECES = [
  'Echo: ',
  'he said "usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2} ',
  'and \\"choices\\":[] \\\\ ',
  '\ndata: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}\n\n',
  'naïve café – 日本語 😀 ',
  '{"usage":{',
  'done.',
];

export interface Stream {
  /** The whole upstream body. */
  body: string;
  /** What a client that did not ask for usage should get (the usage-only event removed). */
  withoutUsageEvent: string;
}

export interface ChatStreamOptions {
  includeUsage: boolean;
  pieces?: string[];
  /** Line terminator (SSE allows CRLF). */
  eol?: string;
}

export function chatStream({ includeUsage, pieces = ['Echo: ', 'hello ', 'there'], eol = '\n' }: ChatStreamOptions): Stream {
  const chunk = (delta: object, finish: string | null) => ({
    ...HEAD,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const events = [chunk({ role: 'assistant', content: '', refusal: null }, null), ...pieces.map((p) => chunk({ content: p }, null)), chunk({}, 'stop')];
  const frame = (e: object | string) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}${eol}${eol}`;
  const before = events.map(frame).join('');
  const usageEvent = includeUsage ? frame({ ...HEAD, object: 'chat.completion.chunk', choices: [], usage: CHAT_USAGE }) : '';
  const done = frame('[DONE]');
  return { body: before + usageEvent + done, withoutUsageEvent: before + done };
}

export function chatCompletion(content = 'Echo: hello there'): string {
  return JSON.stringify({
    id: HEAD.id,
    object: 'chat.completion',
    created: HEAD.created,
    model: HEAD.model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage: CHAT_USAGE,
    service_tier: 'default',
    system_fingerprint: HEAD.system_fingerprint,
  });
}

function responseObject(status: 'in_progress' | 'completed', text: string, usage: object | null) {
  return {
    id: 'resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b',
    object: 'response',
    created_at: 1751234567,
    status,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model: 'gpt-4.1',
    output:
      status === 'completed'
        ? [{ type: 'message', id: 'msg_67ccd2bf17f0819081ff3bb2cf6508e6', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }]
        : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage,
    user: null,
    metadata: {},
  };
}

export function responsesJson(text = 'Echo: hello there'): string {
  return JSON.stringify(responseObject('completed', text, RESPONSES_USAGE));
}

/** A Responses API stream: `event: <type>` + `data: <json>` per event, no [DONE]. */
export function responsesStream(pieces: string[] = ['Echo: ', 'hello ', 'there']): string {
  const text = pieces.join('');
  const item = { id: 'msg_67ccd2bf17f0819081ff3bb2cf6508e6', type: 'message', status: 'in_progress', role: 'assistant', content: [] };
  const part = { type: 'output_text', text: '', annotations: [] };
  let seq = 0;
  const ev = (type: string, rest: object) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...rest })}\n\n`;
  return [
    ev('response.created', { response: responseObject('in_progress', '', null) }),
    ev('response.in_progress', { response: responseObject('in_progress', '', null) }),
    ev('response.output_item.added', { output_index: 0, item }),
    ev('response.content_part.added', { item_id: item.id, output_index: 0, content_index: 0, part }),
    ...pieces.map((delta) => ev('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta })),
    ev('response.output_text.done', { item_id: item.id, output_index: 0, content_index: 0, text }),
    ev('response.content_part.done', { item_id: item.id, output_index: 0, content_index: 0, part: { ...part, text } }),
    ev('response.output_item.done', { output_index: 0, item: { ...item, status: 'completed', content: [{ ...part, text }] } }),
    ev('response.completed', { response: responseObject('completed', text, RESPONSES_USAGE) }),
  ].join('');
}

export function embeddingsJson(inputs = 2): string {
  const data = Array.from({ length: inputs }, (_, index) => ({
    object: 'embedding',
    index,
    embedding: Array.from({ length: 64 }, (_, i) => Math.sin(index * 64 + i) / 3),
  }));
  return JSON.stringify({ object: 'list', data, model: 'text-embedding-3-small', usage: { prompt_tokens: 8, total_tokens: 8 } });
}

export function completionJson(): string {
  return JSON.stringify({
    id: 'cmpl-9Zx1',
    object: 'text_completion',
    created: 1751234567,
    model: 'gpt-3.5-turbo-instruct',
    system_fingerprint: HEAD.system_fingerprint,
    choices: [{ text: 'Echo: hi', index: 0, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 },
  });
}

export function openAiError(message: string, type = 'invalid_request_error'): string {
  return JSON.stringify({ error: { message, type, param: null, code: null }, usage: { prompt_tokens: 5, completion_tokens: 0, total_tokens: 5 } });
}
