import { parseSse } from '../../../plugins/llm-response-guard/core/answer';
import { answerTexts, rewriteAnswer, TextRewriter } from '../../../plugins/llm-response-guard/core/rewrite';
import { compileRedactionPolicy, type RedactionConfig } from '../../../plugins/shared/redaction';
import { FAKE } from '../../shared/redaction/fixtures';
import { chatStream, contentDeltas, dataOf, responsesStream } from './streams';

const policy = (config: RedactionConfig = {}) => compileRedactionPolicy(config);
const rewriter = (config: RedactionConfig | null = {}, placeholders: ReadonlyMap<string, string> | null = null) =>
  new TextRewriter(config === null ? null : policy(config), placeholders);

/** Splits `s` at the given offsets. */
const splitAt = (s: string, ...at: number[]): string[] => [0, ...at, s.length].slice(1).map((end, i, all) => s.slice(i === 0 ? 0 : [0, ...at][i], end));

describe('TextRewriter.rewrite', () => {
  it('returns the pieces unchanged when nothing is found', () => {
    expect(rewriter().rewrite(['Hello ', 'world'])).toEqual(['Hello ', 'world']);
  });

  it.each([
    ['an email split in 2', `Write to ${FAKE.email} today`, [12]],
    ['an email split in 3 at the @ and the dot', `Write to ${FAKE.email} today`, [14, 18, 26]],
    ['an sk- key split in 3', `key: ${FAKE.openai}.`, [7, 20, 40]],
    ['a legacy sk- key split right after sk-', `key ${FAKE.openaiLegacy} end`, [7]],
  ])('catches %s across deltas', (_name, text, at) => {
    const pieces = splitAt(text, ...at);
    expect(pieces.join('')).toBe(text);
    const out = rewriter().rewrite(pieces);
    expect(out).toHaveLength(pieces.length);
    const joined = out.join('');
    expect(joined).toMatch(/\[(EMAIL|OPENAI_KEY)_1\]/);
    // no delta carries any piece of the value longer than what a placeholder shares with it
    const value = text.includes('@') ? FAKE.email : text.slice(text.indexOf('sk-')).split(/[ .]/)[0];
    for (const piece of out) expect(value.includes(piece) && piece.length > 3).toBe(false);
    expect(joined).not.toContain(value);
  });

  it('writes the placeholder in the delta where the value ends, leaving earlier ones empty', () => {
    const out = rewriter().rewrite(['Mail jane.', 'doe@exam', 'ple.com', ' now']);
    expect(out).toEqual(['Mail ', '', '[EMAIL_1]', ' now']);
  });

  it('keeps text outside matches in its own delta', () => {
    const out = rewriter().rewrite(['a ', 'b jane.doe@', 'example.com c', ' d ', '203.0.', '113.42 e']);
    expect(out).toEqual(['a ', 'b ', '[EMAIL_1] c', ' d ', '', '[IPV4_1] e']);
  });

  it('masks across deltas', () => {
    const out = rewriter({ actions: { email: 'mask' } }).rewrite(['to jane.d', 'oe@example.com!']);
    expect(out).toEqual(['to ', 'j***@example.com!']);
  });

  it('gives the same value the same placeholder in every text of the answer', () => {
    const r = rewriter();
    expect(r.rewrite([`a ${FAKE.email}`]).join('')).toBe('a [EMAIL_1]');
    expect(r.rewrite(['b jane.', 'doe@example.com']).join('')).toBe('b [EMAIL_1]');
  });

  it('falls back to one cut when the session knows a value the policy alone does not see', () => {
    // the AWS secret is recognized by its `secret_key=` context; bare in a later text, only
    // the session's memory of it catches it, so the policy's spans disagree with the session
    const r = rewriter();
    expect(r.rewrite([`secret_key=${FAKE.awsSecret}`]).join('')).toBe('secret_key=[AWS_SECRET_KEY_1]');
    const pieces = ['x ', FAKE.awsSecret.slice(0, 20), FAKE.awsSecret.slice(20), ' y ', 'z'];
    const out = r.rewrite(pieces);
    expect(out.join('')).toBe('x [AWS_SECRET_KEY_1] y z');
    expect(out).toEqual(['x ', '', '[AWS_SECRET_KEY_1]', ' y ', 'z']);
  });

  it('in the fallback, moves everything between the first and the last change to where the last ends', () => {
    const r = rewriter();
    r.rewrite([`secret_key=${FAKE.awsSecret}`]);
    const out = r.rewrite([`${FAKE.awsSecret} a `, 'b ', `${FAKE.email} c`]);
    expect(out.join('')).toBe('[AWS_SECRET_KEY_1] a b [EMAIL_1] c');
    expect(out).toEqual(['', '', '[AWS_SECRET_KEY_1] a b [EMAIL_1] c']);
  });
});

describe('restore', () => {
  const placeholders = new Map([
    ['[EMAIL_1]', 'alice@client.example'],
    ['[PHONE_1]', '+1 (415) 555-0100'],
  ]);

  it('puts the request values back, also when a placeholder is split across deltas', () => {
    const out = rewriter(null, placeholders).rewrite(['Sent to [EMA', 'IL_1] and [PHONE_1]', '.']);
    expect(out.join('')).toBe('Sent to alice@client.example and +1 (415) 555-0100.');
    expect(out[0]).toBe('Sent to ');
  });

  it('restores after redaction: the restored value is not redacted, a new value is', () => {
    const out = rewriter({}, placeholders).rewrite([`Reply to [EMAIL_1], cc ${FAKE.email}`]);
    expect(out.join('')).toBe('Reply to alice@client.example, cc [EMAIL_2]');
  });

  it("does not restore the answer session's own placeholder that shares a name with the request's", () => {
    const r = rewriter({}, placeholders);
    // first text: the answer's own email becomes [EMAIL_1] (nothing reserved it)
    expect(r.rewrite([`From ${FAKE.email}`]).join('')).toBe('From [EMAIL_1]');
    // second text: the model wrote the request's [EMAIL_1]; the answer's value stays hidden
    expect(r.rewrite([`[EMAIL_1] and ${FAKE.email}`]).join('')).toBe('alice@client.example and [EMAIL_1]');
  });

  it('in a fallback cut, restores request placeholders but not the answer session\'s own', () => {
    const r = rewriter({}, placeholders);
    expect(r.rewrite([`secret_key=${FAKE.awsSecret} ${FAKE.email}`]).join('')).toBe('secret_key=[AWS_SECRET_KEY_1] [EMAIL_1]');
    // bare secret: the cut falls back; [PHONE_1] is only the request's, [EMAIL_1] is also the answer's
    const out = r.rewrite([`${FAKE.awsSecret} [PHONE_1] [EMAIL_1] `, `${FAKE.email} end`]);
    expect(out.join('')).toBe('[AWS_SECRET_KEY_1] +1 (415) 555-0100 [EMAIL_1] [EMAIL_1] end');
  });

  it('leaves unknown placeholders and brackets alone', () => {
    expect(rewriter(null, placeholders).rewrite(['[EMAIL_9] [[PHONE_1]] [', 'x]']).join('')).toBe('[EMAIL_9] [+1 (415) 555-0100] [x]');
  });
});

describe('answerTexts and rewriteAnswer', () => {
  it('finds chat content, refusal and tool arguments in a JSON answer', () => {
    const value = {
      choices: [
        {
          index: 0,
          message: {
            content: 'c',
            refusal: 'r',
            tool_calls: [{ id: 't', type: 'function', function: { name: 'send', arguments: '{"to":"x"}' } }],
          },
        },
        { index: 1, text: 'legacy' },
      ],
    };
    const groups = answerTexts({ kind: 'json', value });
    expect(groups.map((g) => g.map((p) => p.holder[p.key]))).toEqual([['c'], ['r'], ['{"to":"x"}'], ['legacy']]);
  });

  it('finds Responses output texts, refusals and function call arguments', () => {
    const value = {
      output: [
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'not rewritten' }] },
        { type: 'message', content: [{ type: 'output_text', text: 'a' }, { type: 'refusal', refusal: 'b' }] },
        { type: 'function_call', name: 'f', arguments: '{}' },
      ],
    };
    expect(answerTexts({ kind: 'json', value }).map((g) => g.map((p) => p.holder[p.key]))).toEqual([['a'], ['b'], ['{}']]);
  });

  it('joins a Completions stream per choice', () => {
    const chunk = (index: number, text: string) => ({ object: 'text_completion', choices: [{ index, text }] });
    const answer = { kind: 'sse' as const, events: parseSse([chunk(0, 'jane.doe@'), chunk(1, 'x'), chunk(0, 'example.com')].map((e) => `data: ${JSON.stringify(e)}\n\n`).join(''))! };
    rewriteAnswer(answer, rewriter());
    expect(answer.events.map((e) => (e.json as any).choices[0].text)).toEqual(['', 'x', '[EMAIL_1]']);
  });

  it('groups deltas per choice and per tool call', () => {
    const chunk = (index: number, delta: object) => ({ object: 'chat.completion.chunk', choices: [{ index, delta }] });
    const events = [
      chunk(0, { content: 'a' }),
      chunk(1, { content: 'x' }),
      chunk(0, { tool_calls: [{ index: 0, function: { name: 'f', arguments: '{"a' } }] }),
      chunk(0, { content: 'b' }),
      chunk(0, { tool_calls: [{ index: 0, function: { arguments: '":1}' } }] }),
    ];
    const answer = { kind: 'sse' as const, events: parseSse(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(''))! };
    expect(answerTexts(answer).map((g) => g.map((p) => `${p.event}:${p.holder[p.key]}`))).toEqual([
      ['0:a', '3:b'],
      ['1:x'],
      ['2:{"a', '4:":1}'],
    ]);
  });

  it('redacts a value split across two choices independently and marks only changed events', () => {
    const stream = chatStream(['Hi ', 'jane.doe', '@example.com', '!'], { others: [['ok']] });
    const answer = { kind: 'sse' as const, events: parseSse(stream)! };
    const result = rewriteAnswer(answer, rewriter());
    expect(result.changed).toBe(true);
    const changed = [...result.changedEvents].map((i) => (answer.events[i].json as any).choices[0].delta.content);
    expect(changed).toEqual(['', '[EMAIL_1]']);
  });

  it('redacts tool call arguments split across deltas', () => {
    const chunk = (args: string) => ({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: args } }] } }] });
    const answer = { kind: 'sse' as const, events: parseSse([chunk('{"to":"jane.'), chunk('doe@example.com"}')].map((e) => `data: ${JSON.stringify(e)}\n\n`).join(''))! };
    rewriteAnswer(answer, rewriter());
    const args = answer.events.map((e) => (e.json as any).choices[0].delta.tool_calls[0].function.arguments).join('');
    expect(JSON.parse(args)).toEqual({ to: '[EMAIL_1]' });
  });

  it('rewrites every Responses text of a stream consistently: deltas, done events, completed output', () => {
    const answer = { kind: 'sse' as const, events: parseSse(responsesStream(['Mail jane', '.doe@exa', 'mple.com ok']))! };
    const r = rewriter();
    rewriteAnswer(answer, r);
    const events = answer.events.map((e) => e.json as any);
    const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta);
    expect(deltas).toEqual(['Mail ', '', '[EMAIL_1] ok']);
    const expected = 'Mail [EMAIL_1] ok';
    expect(events.find((e) => e.type === 'response.output_text.done').text).toBe(expected);
    expect(events.find((e) => e.type === 'response.content_part.done').part.text).toBe(expected);
    expect(events.find((e) => e.type === 'response.output_item.done').item.content[0].text).toBe(expected);
    expect(events.find((e) => e.type === 'response.completed').response.output[0].content[0].text).toBe(expected);
    // the same text redacted once: counted once
    expect(r.session!.findings()).toEqual({ email: 1 });
  });

  it('keeps the deltas of a stream whose content was split, re-serializable per event', () => {
    const stream = chatStream(['a ', FAKE.openai.slice(0, 10), FAKE.openai.slice(10, 30), FAKE.openai.slice(30), ' b']);
    const answer = { kind: 'sse' as const, events: parseSse(stream)! };
    rewriteAnswer(answer, rewriter());
    const rewritten = answer.events.map((e) => (e.data === '[DONE]' ? 'data: [DONE]\n\n' : `data: ${JSON.stringify(e.json)}\n\n`)).join('');
    expect(contentDeltas(rewritten)).toEqual(['', 'a ', '', '', '[OPENAI_KEY_1]', ' b']);
    expect(dataOf(rewritten)).toHaveLength(dataOf(stream).length);
  });
});
