/**
 * Deterministic prompt text for the guard benches: prose with the things a real
 * prompt carries (emails, phone numbers, order numbers, amounts, dates) so the
 * redaction detectors find work, and random letters as the worst case for the
 * tokenizer (every piece unseen). Each seed gives different text, so the tokenizer's
 * merge cache does not make repeated iterations cheaper than a new prompt.
 */

/** Small, fast PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the a of and to in for on with from by about as at customer order account invoice shipment delivery ' +
  'report quarter revenue team meeting schedule project deadline summary draft review update request ' +
  'please could you help me write explain compare translate outline a short clear friendly formal ' +
  'letter email paragraph note table list plan budget forecast estimate policy contract clause section ' +
  'warehouse supplier product price discount refund return warranty support ticket issue error log ' +
  'server database query latency deployment release version feature customer feedback survey result ' +
  'last next this week month year morning afternoon Monday Tuesday Wednesday Thursday Friday ' +
  'London Berlin Madrid Toronto Sydney office branch region market segment growth decline stable ' +
  'analysis chart figure increase decrease percent total average median number people users visits ' +
  'we they our their it is was were will would should can may have has had been being not also ' +
  'because however therefore although while after before during until unless whether which that'
).split(' ');

const FIRST = ['anna', 'bob', 'carla', 'deepak', 'elena', 'farid', 'grace', 'hiro', 'ines', 'jon'];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'corp.example.co.uk'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function digits(r: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(r() * 10);
  return s;
}

/** One token of "data" a prompt might carry, roughly one in twelve words. */
function datum(r: () => number): string {
  switch (Math.floor(r() * 6)) {
    case 0:
      return `${pick(r, FIRST)}.${pick(r, FIRST)}${digits(r, 2)}@${pick(r, DOMAINS)}`;
    case 1:
      return `+1 415 555 ${digits(r, 4)}`;
    case 2:
      return `order #${digits(r, 6)}`;
    case 3:
      return `$${digits(r, 3)}.${digits(r, 2)}`;
    case 4:
      return `2024-${String(1 + Math.floor(r() * 12)).padStart(2, '0')}-${String(1 + Math.floor(r() * 28)).padStart(2, '0')}`;
    default:
      return `${digits(r, 2)}%`;
  }
}

/** ASCII prose of exactly `bytes` bytes. */
export function prose(bytes: number, seed: number): string {
  const r = rng(seed);
  const parts: string[] = [];
  let len = 0;
  let sentence = 0;
  while (len < bytes) {
    let w = r() < 0.08 ? datum(r) : pick(r, WORDS);
    if (sentence === 0) w = w[0].toUpperCase() + w.slice(1);
    sentence++;
    if (sentence > 8 + Math.floor(r() * 12)) {
      w += r() < 0.2 ? '.\n' : '.';
      sentence = 0;
    } else if (r() < 0.06) w += ',';
    parts.push(w);
    len += w.length + 1;
  }
  return parts.join(' ').slice(0, bytes);
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** `bytes` random ASCII letters, no spaces: one long run for every scanner. */
export function randomLetters(bytes: number, seed: number): string {
  const r = rng(seed);
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) out[i] = LETTERS.charCodeAt(Math.floor(r() * LETTERS.length));
  return out.toString('latin1');
}

/** The bridge benches' chat prompt: ~300 bytes of body, with an email llm-guard redacts. */
export const BENCH_PROMPT =
  'Please draft a short, friendly reply to jane.doe@example.com confirming that order #448213 ships on Monday and that the refund of $82.50 was approved.';

/** A chat.completions body around one user prompt. */
export function chatBody(prompt: string, model = 'gpt-4o-mini'): Buffer {
  return Buffer.from(
    JSON.stringify({
      model,
      messages: [
        { role: 'system', content: 'You are a helpful assistant for our operations team.' },
        { role: 'user', content: prompt },
      ],
    }),
  );
}
