/**
 * Linearity: the guard's cost per byte at 512 KiB against 64 KiB, for answers that stress
 * each pass: a stream of many small deltas with values split across them, a JSON answer
 * of near-miss text, brackets without a closing one (restore), lines without a colon (SSE
 * fields). Best of three runs each; one 512 KiB run is compared with eight 64 KiB runs (the
 * same bytes): linear work gives a ratio near 1, quadratic near 8. The bound (3, or an
 * absolute 60 ms for inputs too fast to time reliably) leaves room for a shared machine.
 */
import { compileResponseGuard, runResponseGuard } from '../../../plugins/llm-response-guard/core/guard';
import { FAKE } from '../../shared/redaction/fixtures';
import { chatCompletion, chatStream, config, enc } from './streams';

const SMALL = 64 * 1024;
const LARGE = 512 * 1024;
const MAX_RATIO = 3;
const FAST_ENOUGH_MS = 60;

const guard = compileResponseGuard(config());
const placeholders = new Map([['[EMAIL_1]', 'alice@client.example']]);

/** `unit` repeated to about `bytes` characters. */
const fill = (unit: string, bytes: number) => unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);

/** Deltas of about 6 characters, cutting through every value. */
function deltasOf(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 6) out.push(text.slice(i, i + 6));
  return out;
}

const CASES: Record<string, (bytes: number) => { contentType: string; body: Uint8Array }> = {
  'stream of small deltas with split emails and keys': (bytes) => ({
    contentType: 'text/event-stream',
    // each ~6-character delta costs ~200 bytes of framing: size the text so the stream is `bytes`
    body: enc(chatStream(deltasOf(fill(`Mail ${FAKE.email} key ${FAKE.openai} and [EMAIL_1]. `, Math.floor(bytes / 40))), { usage: true })),
  }),
  'JSON answer of near-miss text': (bytes) => ({
    contentType: 'application/json',
    body: enc(JSON.stringify(chatCompletion(fill('a@ sk- 4242 [EMAIL_ x.y@ ', bytes)))),
  }),
  'JSON answer of many findings, a placeholder only at the end': (bytes) => ({
    contentType: 'application/json',
    body: enc(JSON.stringify(chatCompletion(`${fill(`${FAKE.email} `, bytes)} [EMAIL_1]`))),
  }),
  'JSON answer of brackets without a close': (bytes) => ({
    contentType: 'application/json',
    body: enc(JSON.stringify(chatCompletion(fill('[', bytes)))),
  }),
  'stream of lines without a colon': (bytes) => ({
    contentType: 'text/event-stream',
    body: enc(fill('dataxxxxxxxxxxx\n', bytes)),
  }),
  'stream of comments and blank lines': (bytes) => ({
    contentType: 'text/event-stream',
    body: enc(fill(':\n\n\r\n', bytes)),
  }),
};

function best(runs: number, fn: () => void): number {
  let min = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return min;
}

describe('runResponseGuard linearity', () => {
  it.each(Object.keys(CASES))('%s', (name) => {
    const small = CASES[name](SMALL);
    const large = CASES[name](LARGE);
    const run = (input: { contentType: string; body: Uint8Array }) => {
      const d = runResponseGuard(guard, { ...input, status: 200, placeholders });
      expect(d.action).not.toBe('reject');
    };
    run(small); // warm-up
    const smallMs = best(3, () => {
      for (let i = 0; i < 8; i++) run(small);
    });
    const largeMs = best(3, () => run(large));
    const ratio = largeMs / smallMs;
    // eslint-disable-next-line no-console
    console.log(`${name}: 8 x 64 KiB ${smallMs.toFixed(1)} ms, 512 KiB ${largeMs.toFixed(1)} ms, ratio ${ratio.toFixed(2)} (${small.body.length}/${large.body.length} bytes)`);
    if (largeMs > FAST_ENOUGH_MS) expect(ratio).toBeLessThan(MAX_RATIO);
  });
});
