import { answerKind, DONE_DATA, parseAnswer, parseSse, serializeSse, serializeSseEvent } from '../../../plugins/llm-response-guard/core/answer';

const bytes = (s: string) => new TextEncoder().encode(s);
const MB = 1024 * 1024;

describe('answerKind', () => {
  it.each([
    ['application/json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['Application/JSON', 'json'],
    ['application/problem+json', 'json'],
    ['text/event-stream', 'sse'],
    ['text/event-stream; charset=utf-8', 'sse'],
    ['audio/mpeg', 'other'],
    ['application/jsonl', 'other'],
    ['text/plain', 'other'],
    [null, 'other'],
  ])('reads %s as %s', (type, kind) => {
    expect(answerKind(type)).toBe(kind);
  });
});

describe('parseSse', () => {
  it('splits events on blank lines and parses JSON data', () => {
    const events = parseSse('data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n')!;
    expect(events.map((e) => e.data)).toEqual(['{"a":1}', '{"a":2}', DONE_DATA]);
    expect(events.map((e) => e.json)).toEqual([{ a: 1 }, { a: 2 }, undefined]);
    expect(events.every((e) => e.complete)).toBe(true);
  });

  it('accepts CRLF and CR line ends', () => {
    const crlf = parseSse('data: {"a":1}\r\n\r\ndata: [DONE]\r\n\r\n')!;
    expect(crlf.map((e) => e.data)).toEqual(['{"a":1}', DONE_DATA]);
    const cr = parseSse('data: {"a":1}\r\rdata: [DONE]\r\r')!;
    expect(cr.map((e) => e.data)).toEqual(['{"a":1}', DONE_DATA]);
  });

  it('joins several data lines of one event with a line feed', () => {
    const [event] = parseSse('data: {"a":\ndata: 1}\n\n')!;
    expect(event.data).toBe('{"a":\n1}');
    expect(event.json).toEqual({ a: 1 });
  });

  it('reads event names (Responses API) and ignores comments', () => {
    const events = parseSse(': keep-alive\n\nevent: response.output_text.delta\n: a comment\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n')!;
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ event: null, data: null, json: undefined });
    expect(events[1]).toMatchObject({ event: 'response.output_text.delta', json: { delta: 'Hi' } });
  });

  it('strips exactly one space after the colon, and reads a line without a colon as a field name', () => {
    const [event] = parseSse('data:{"a":"x"}\nevent\n\n')!;
    expect(event.data).toBe('{"a":"x"}');
    expect(event.event).toBe('');
    const [spaced] = parseSse('data:  [1]\n\n')!;
    expect(spaced.data).toBe(' [1]');
  });

  it('keeps a last event without its blank line as incomplete', () => {
    const events = parseSse('data: {"a":1}\n\ndata: [DONE]')!;
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ data: DONE_DATA, complete: false });
    const oneLine = parseSse('data: {"a":1}\n\ndata: {"b":2}\n')!;
    expect(oneLine[1]).toMatchObject({ json: { b: 2 }, complete: false });
  });

  it('refuses data that is neither JSON nor [DONE]', () => {
    expect(parseSse('data: hello\n\n')).toBeNull();
    expect(parseSse('data: {"a":\n\n')).toBeNull();
  });

  it('re-serializes an untouched stream byte for byte', () => {
    const text = ': hi\r\n\r\nevent: x\r\ndata: {"a":1}\r\nid: 7\r\n\r\n\n\ndata: [DONE]';
    expect(serializeSse(parseSse(text)!)).toBe(text);
  });
});

describe('serializeSseEvent', () => {
  it('writes new data where the data lines were, keeping the other fields', () => {
    const [event] = parseSse('event: response.output_text.delta\r\ndata: {"a":\r\ndata: 1}\r\nid: 3\r\n\r\n')!;
    expect(serializeSseEvent(event, '{"a":2}')).toBe('event: response.output_text.delta\ndata: {"a":2}\nid: 3\n\n');
  });

  it('writes multi-line data as several data lines', () => {
    const [event] = parseSse('data: 1\n\n')!;
    expect(serializeSseEvent(event, '[\n2]')).toBe('data: [\ndata: 2]\n\n');
  });

  it('keeps an incomplete event incomplete', () => {
    const events = parseSse('data: [DONE]\n\ndata: {"a":1}')!;
    expect(serializeSseEvent(events[1], '{"a":2}')).toBe('data: {"a":2}');
  });
});

describe('parseAnswer', () => {
  it('parses a JSON answer', () => {
    expect(parseAnswer('application/json', bytes('{"a":[1]}'), MB)).toEqual({ ok: true, answer: { kind: 'json', value: { a: [1] } } });
  });

  it('refuses a body over the limit before reading it', () => {
    expect(parseAnswer('application/json', bytes('{"a":"xxxxxxxx"}'), 8)).toEqual({ ok: false, code: 'response_too_large' });
    expect(parseAnswer('text/event-stream', bytes('data: [DONE]\n\n'), 8)).toEqual({ ok: false, code: 'response_too_large' });
  });

  it('refuses malformed JSON, invalid UTF-8 and nesting past the depth limit', () => {
    expect(parseAnswer('application/json', bytes('{"a":'), MB)).toEqual({ ok: false, code: 'response_invalid' });
    expect(parseAnswer('application/json', new Uint8Array([0x22, 0xff, 0x22]), MB)).toEqual({ ok: false, code: 'response_invalid' });
    expect(parseAnswer('application/json', bytes('['.repeat(100) + ']'.repeat(100)), MB)).toEqual({ ok: false, code: 'response_invalid' });
  });

  it('does not read other content types', () => {
    expect(parseAnswer('audio/mpeg', new Uint8Array([0xff, 0xfb]), 1)).toEqual({ ok: true, answer: { kind: 'other' } });
  });
});
