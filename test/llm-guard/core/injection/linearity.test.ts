/**
 * ReDoS / linearity: every built-in rule, the full policy and the normalizers on
 * adversarial inputs (near-misses repeated: a rule's opening words with nothing that
 * completes it, long runs of one class). One 512 KiB scan is timed against eight
 * 64 KiB scans (the same number of bytes), best of three each: linear work gives a
 * ratio near 1, quadratic near 8 (the raw 512K/64K ratio, printed too, is ~8 vs ~64).
 * The bound (3, or 40 ms absolute for inputs too fast to time reliably) leaves room for
 * a slow, shared machine and still fails any quadratic rule.
 */
import {
  BUILTIN_RULES,
  compileInjectionPolicy,
  normalizeForScan,
  stripInvisible,
} from '../../../../plugins/llm-guard/core/injection';

const SMALL = 64 * 1024;
const LARGE = 512 * 1024;
/** Per-byte cost at 512 KiB over per-byte cost at 64 KiB. */
const MAX_RATIO = 3;
const FAST_ENOUGH_MS = 40;

/** Near-miss inputs per rule, repeated to size. */
const ADVERSARIAL: Record<string, string[]> = {
  'override.ignore_previous': ['ignore all the your ', 'ignore previous ', 'forget everything you were '],
  'override.new_instructions': ['new instructions: ', 'important new system prompt:\n'],
  'override.from_now_on': ['from now on you ', 'from now on you will not have to '],
  'extraction.reveal_system_prompt': ['reveal me the your ', 'print your full exact ', 'what is your '],
  'extraction.prior_context': ['what were you told ', 'repeat all the text above '],
  'roleplay.dan': ['you are now a ', 'dan 1'],
  'roleplay.developer_mode': ['chatgpt with developer mode ', 'developer mode enabled '],
  'roleplay.unrestricted_ai': ['you are now an ', 'act as an unfiltered '],
  'roleplay.no_restrictions': ['pretend that you have no ', 'you are no longer bound by '],
  'roleplay.jailbreak': ['jailbreak ', 'you have been '],
  'delimiter.chat_template_token': ['<|im_start', '<|', '[/inst'],
  'delimiter.role_header': ['\nsystem: ', '\n### system:', '\nsystem:\n'],
  'delimiter.system_tag': ['</user>\n<', '</system'],
  'delimiter.system_fence': ['\n```', '\n~~~sys'],
  'encoded.base64': ['QUJD', 'SWdub3JlIGFsbC'],
  'encoded.hex': ['6a', '6a ', '\\x6a'],
  'encoded.url': ['%41', 'a%2'],
};
const GENERIC = ['a', ' ', '\n', 'The quick brown fox jumps over the lazy dog. '];
const NORMALIZER_INPUTS = ['a\u200B', '\u{E0061}', 'аеорсух', 'e\u0301\u0302\u0303', 'ＡＢ', ' \t\n', '\u202E\u2066x'];

/** Whole repetitions, so both sizes end the same way (a cut unit can change the path taken). */
function fill(unit: string, size: number): string {
  return unit.repeat(Math.floor(size / unit.length));
}

function bestOfThree(f: () => unknown): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    f();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return best;
}

const table: string[] = [];

function expectLinear(label: string, unit: string, run: (text: string) => unknown): void {
  const small = fill(unit, SMALL);
  const large = fill(unit, LARGE);
  const times = LARGE / SMALL;
  run(small); // warm-up: JIT, lazy DFA states
  run(large);
  const tSmall = bestOfThree(() => run(small));
  const tSmallTimes = bestOfThree(() => {
    for (let i = 0; i < times; i++) run(small);
  });
  const tLarge = bestOfThree(() => run(large));
  const perByte = tLarge / tSmallTimes;
  table.push(
    `${label.padEnd(32)} ${JSON.stringify(unit).slice(0, 30).padEnd(30)} 64K ${tSmall.toFixed(1).padStart(5)} ms  ` +
      `512K ${tLarge.toFixed(1).padStart(6)} ms  x${(tLarge / tSmall).toFixed(1).padStart(4)}  per-byte x${perByte.toFixed(2)}`,
  );
  expect({ label, unit, ok: perByte < MAX_RATIO || tLarge < FAST_ENOUGH_MS }).toEqual({ label, unit, ok: true });
}

afterAll(() => console.log(`linearity (best of 3):\n${table.join('\n')}`));

describe('built-in rules are linear in the input size', () => {
  it('covers every built-in rule with adversarial inputs', () => {
    expect(Object.keys(ADVERSARIAL).sort()).toEqual(BUILTIN_RULES.map((r) => r.id).sort());
  });

  it.each(BUILTIN_RULES.map((r) => [r.id]))('%s alone', (id) => {
    const policy = compileInjectionPolicy({ builtin_rules: [id] });
    for (const unit of [...ADVERSARIAL[id], ...GENERIC]) expectLinear(id, unit, (t) => policy.scan(t));
  });

  it('the full policy with a custom pattern, on every adversarial input', () => {
    const policy = compileInjectionPolicy({ custom_patterns: [{ name: 'deny', pattern: '(a|aa)+b|x{1,100}y' }] });
    for (const unit of [...new Set([...Object.values(ADVERSARIAL).map((units) => units[0]), ...GENERIC])]) {
      expectLinear('full policy', unit, (t) => policy.scan(t));
    }
  });
});

describe('normalization is linear in the input size', () => {
  it.each(NORMALIZER_INPUTS.concat(GENERIC).map((u) => [u]))('normalizeForScan and stripInvisible on %j', (unit) => {
    expectLinear('normalizeForScan', unit, normalizeForScan);
    expectLinear('stripInvisible', unit, stripInvisible);
  });
});
