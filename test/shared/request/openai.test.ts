import { endpointOf, promptTexts, replaceTexts } from '../../../plugins/shared/request/openai';

describe('endpointOf', () => {
  it.each([
    ['/v1/chat/completions', 'chat.completions'],
    ['/chat/completions', 'chat.completions'],
    ['/openai/v1/chat/completions', 'chat.completions'],
    ['/v1/chat/completions/', 'chat.completions'],
    ['//v1//chat/completions', 'chat.completions'],
    ['/v1/chat/completions?x=1', 'chat.completions'],
    ['/v1/completions', 'completions'],
    ['/team-a/completions', 'completions'],
    ['/v1/embeddings', 'embeddings'],
    ['/v1/responses', 'responses'],
    ['responses', 'responses'],
  ])('maps %s to %s', (path, endpoint) => {
    expect(endpointOf(path)).toBe(endpoint);
  });

  it.each(['/v1/models', '/v1/responses/resp_1', '/v1/chat/completions/chatcmpl_1', '/v1/mychat/completionsx', '/v1/xembeddings', '', '/'])(
    'does not map %s',
    (path) => expect(endpointOf(path)).toBeNull(),
  );
});

describe('promptTexts', () => {
  const chat = {
    model: 'gpt-4o',
    messages: [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', name: 'alice', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'data:...' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"q":"x"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '42' },
    ],
    tools: [{ type: 'function', function: { name: 'f', description: 'Looks things up', parameters: { type: 'object' } } }],
  };

  it('lists every client-written chat text, in body order', () => {
    expect(promptTexts('chat.completions', chat)).toEqual([
      { param: 'messages[0].content', text: 'Be brief.' },
      { param: 'messages[1].content[0].text', text: 'hi' },
      { param: 'messages[2].tool_calls[0].function.arguments', text: '{"q":"x"}' },
      { param: 'messages[3].content', text: '42' },
      { param: 'tools[0].function.description', text: 'Looks things up' },
    ]);
  });

  it('lists completions prompts and skips token arrays', () => {
    expect(promptTexts('completions', { prompt: ['a', 'b'], suffix: 's' })).toEqual([
      { param: 'prompt[0]', text: 'a' },
      { param: 'prompt[1]', text: 'b' },
      { param: 'suffix', text: 's' },
    ]);
    expect(promptTexts('completions', { prompt: [1, 2, 3] })).toEqual([]);
    expect(promptTexts('embeddings', { input: 'x' })).toEqual([{ param: 'input', text: 'x' }]);
    expect(promptTexts('embeddings', { input: [[1, 2]] })).toEqual([]);
  });

  it('lists Responses instructions, input and input items', () => {
    expect(promptTexts('responses', { instructions: 'be nice', input: 'hello' })).toEqual([
      { param: 'instructions', text: 'be nice' },
      { param: 'input', text: 'hello' },
    ]);
    const body = {
      input: [
        { role: 'user', content: 'a' },
        { role: 'user', content: [{ type: 'input_text', text: 'b' }, { type: 'input_image', image_url: 'x' }] },
        { type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c', output: 'out' },
      ],
      tools: [{ type: 'function', name: 'f', description: 'd' }, { type: 'web_search' }],
    };
    expect(promptTexts('responses', body).map((t) => t.param)).toEqual(['input[0].content', 'input[1].content[0].text', 'input[2].arguments', 'input[3].output', 'tools[0].description']);
  });

  it('yields nothing for bodies of the wrong shape, without throwing', () => {
    for (const body of [null, 3, 'x', [], { messages: 'x' }, { messages: [null, 1, { content: 5 }] }]) {
      expect(promptTexts('chat.completions', body)).toEqual([]);
    }
  });
});

describe('replaceTexts', () => {
  it('writes texts back at their params and leaves the original untouched', () => {
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'text', text: 'mail a@b.c' }] }, { role: 'user', content: 'call 555' }] };
    const before = structuredClone(body);
    const out = replaceTexts('chat.completions', body, new Map([['messages[0].content[0].text', 'mail [EMAIL]'], ['messages[1].content', 'call [PHONE]'], ['model', 'x']]));
    expect(out).toEqual({ model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'text', text: 'mail [EMAIL]' }] }, { role: 'user', content: 'call [PHONE]' }] });
    expect(body).toEqual(before);
    expect(replaceTexts('chat.completions', body, new Map())).toBe(body);
  });

  it('keeps an own __proto__ member as data when copying', () => {
    const body = JSON.parse('{"__proto__":{"x":1},"input":"a"}');
    const out = replaceTexts('embeddings', body, new Map([['input', 'b']])) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(out, '__proto__')).toBe(true);
    expect(out.input).toBe('b');
  });
});

describe('promptTexts: fields found by review', () => {
  it('reads refusals, predicted outputs, custom tools, reasoning summaries and stored-prompt variables, and writes them back', () => {
    const chat = { model: 'gpt-4o', messages: [{ role: 'assistant', content: null, refusal: 'R1' }, { role: 'assistant', content: [{ type: 'refusal', refusal: 'R2' }] }], prediction: { type: 'content', content: 'P1' } };
    const responses = {
      model: 'gpt-4o',
      input: [
        { type: 'function_call_output', call_id: 'c', output: [{ type: 'input_text', text: 'O1' }] },
        { type: 'custom_tool_call', input: 'C1' },
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'S1' }] },
      ],
      prompt: { id: 'p', variables: { a: 'V1', b: { type: 'input_text', text: 'V2' } } },
      tools: [{ type: 'custom', name: 'x', description: 'D1' }],
    };
    for (const [endpoint, body, texts] of [
      ['chat.completions', chat, ['R1', 'R2', 'P1']],
      ['responses', responses, ['O1', 'C1', 'S1', 'D1', 'V1', 'V2']],
    ] as const) {
      const found = promptTexts(endpoint, body);
      expect(found.map((t) => t.text)).toEqual(texts);
      const rewritten = replaceTexts(endpoint, body, new Map(found.map((t) => [t.param, `${t.text}!`])));
      expect(promptTexts(endpoint, rewritten).map((t) => t.text)).toEqual(texts.map((t) => `${t}!`));
    }
  });
});
