/**
 * Checksums and structural checks that turn a regex candidate into a finding. Each
 * runs in time linear in its (bounded) input and allocates little.
 */
import { isIP } from 'node:net';

const CODE_0 = 48;

/** Luhn (ISO/IEC 7812-1) over the digits of `s`, ignoring any other character. */
export function luhnValid(s: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i) - CODE_0;
    if (c < 0 || c > 9) continue;
    let d = c;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Whether `digits` (digits only) has a card issuer's prefix and a length that issuer
 * uses (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro). About one
 * random number in ten passes Luhn; requiring a real IIN range keeps order numbers and
 * timestamps (which start with 1, 7, 8, 9 or 0) out.
 */
export function cardBrandValid(digits: string): boolean {
  const n = digits.length;
  const p2 = Number(digits.slice(0, 2));
  const p4 = Number(digits.slice(0, 4));
  switch (digits[0]) {
    case '4': // Visa
      return n === 13 || n === 16 || n === 19;
    case '2': // Mastercard 2-series
      return p4 >= 2221 && p4 <= 2720 && n === 16;
    case '3':
      if (p2 === 34 || p2 === 37) return n === 15; // Amex
      if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; // JCB
      if (p2 === 36 || p2 === 38 || p2 === 39 || (p4 >= 3000 && p4 <= 3059)) return n >= 14 && n <= 19; // Diners
      return false;
    case '5': // Mastercard 51-55, Maestro 50/56-59
      return p2 >= 51 && p2 <= 55 ? n === 16 : n >= 13 && n <= 19;
    case '6': // Discover, UnionPay, Maestro
      return n >= 13 && n <= 19;
    default:
      return false;
  }
}

/** IBAN length per country (SWIFT IBAN registry). Unknown countries are not IBANs. */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

/** The registered IBAN length for a country code, or undefined. */
export function ibanLength(country: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(IBAN_LENGTHS, country) ? IBAN_LENGTHS[country] : undefined;
}

/** ISO 13616 / ISO 7064 mod-97-10 over a compact, upper-case IBAN. */
export function ibanChecksumValid(iban: string): boolean {
  let rem = 0;
  // Rotate the first four characters to the end; letters count as 10..35.
  for (let k = 0; k < iban.length; k++) {
    const c = iban.charCodeAt((k + 4) % iban.length);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

/**
 * US SSN `AAA-GG-SSSS` as the SSA issues them: no area 000, 666 or 900–999, no group
 * 00, no serial 0000.
 */
export function ssnValid(area: string, group: string, serial: string): boolean {
  return area !== '000' && area !== '666' && area[0] !== '9' && group !== '00' && serial !== '0000';
}

/** Dotted quad with octets 0–255 and no leading zeros (which some parsers read as octal). */
export function ipv4Valid(s: string): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  return parts.every((p) => p.length > 0 && p.length <= 3 && (p === '0' || p[0] !== '0') && Number(p) <= 255);
}

/**
 * IPv6 as Node parses it (`net.isIP`), with at least two hex groups so `::`, `::1` and
 * C++'s `a::b` style are not reported as addresses.
 */
export function ipv6Valid(s: string): boolean {
  if (isIP(s) !== 6) return false;
  let groups = 0;
  for (const g of s.split(':')) if (g !== '') groups++;
  return groups >= 2;
}

/** Whether a base64url JWT header decodes to a JSON object with a string `alg` (RFC 7515 §4.1.1). */
export function jwtHeaderValid(segment: string): boolean {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

/** Upper, lower and digit all present: real API keys are random; prose like `sk-learn-...` is not. */
export function looksRandom(s: string): boolean {
  let upper = false;
  let lower = false;
  let digit = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) upper = true;
    else if (c >= 97 && c <= 122) lower = true;
    else if (c >= 48 && c <= 57) digit = true;
    if (upper && lower && digit) return true;
  }
  return false;
}

/**
 * Phone number shapes, checked on a candidate made only of digits, spaces, `-`, `.`,
 * parentheses and a leading `+`:
 * - international: leading `+`, 8–15 digits (E.164), separators optional;
 * - NANP: optional `1`, then `NXX NXX XXXX` (area and exchange start with 2–9);
 * - trunk-prefixed national (UK, FR, DE, CH, JP, AU...): first group `0` + non-zero
 *   digit (2–5 digits, may be in parentheses), 10–12 digits in 2–6 groups.
 * Without `+`, at least one separator is required: a bare digit run is an order number.
 * Dots are accepted only alone and only as `NNN.NNN.NNNN` or `NN.NN.NN.NN.NN`, so IPs,
 * version strings and dates do not look like phones.
 */
export function phoneValid(s: string): boolean {
  const plus = s[0] === '+';
  let digitCount = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) digitCount++;
  if (digitCount < (plus ? 8 : 10) || digitCount > 15) return false;
  const body = plus ? s.slice(1) : s;
  // Alternating [lead, group, sep, group, ..., group, trail].
  const parts = body.split(/([0-9]+)/);
  const lead = parts[0];
  const trail = parts[parts.length - 1];
  const groups: string[] = [];
  const seps: string[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    groups.push(parts[i]);
    if (i + 1 < parts.length - 1) seps.push(parts[i + 1]);
  }
  if (trail !== '' || (lead !== '' && lead !== '(')) return false;
  // Parentheses: at most one pair, around exactly one group.
  const opens = countChar(body, '(');
  if (opens !== countChar(body, ')') || opens > 1) return false;
  if (opens === 1 && !/\([0-9]+\)/.test(body)) return false;
  for (const sp of seps) if (!ALLOWED_SEPARATORS.has(sp)) return false;
  const digits = groups.join('');
  const dotted = seps.includes('.');
  if (dotted && !seps.every((x) => x === '.')) return false;
  if (plus) {
    if (digits.length < 8 || digits.length > 15 || groups.length > 7) return false;
    if (dotted) return groups.length >= 3 && groups.every((g) => g.length >= 2);
    return true;
  }
  if (groups.length < 2) return false;
  if (dotted) {
    const shape = groups.map((g) => g.length).join('.');
    return (shape === '3.3.4' && nanp(groups)) || (shape === '2.2.2.2.2' && trunk(groups[0]));
  }
  if (nanp(groups)) return true;
  if (digits.length < 10 || digits.length > 12 || groups.length > 6) return false;
  const first = groups[0];
  return first.length >= 2 && first.length <= 5 && trunk(first) && groups.slice(1).every((g) => g.length >= 2 && g.length <= 8);
}

/** A national trunk prefix: one `0` then a non-zero digit (`00` is an international prefix). */
function trunk(group: string): boolean {
  return group[0] === '0' && group.length > 1 && group[1] !== '0';
}

const ALLOWED_SEPARATORS = new Set([' ', '-', '.', '(', ') ', ')', ' (', ')-', ' - ']);

function countChar(s: string, ch: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s[i] === ch) n++;
  return n;
}

function nanp(groups: string[]): boolean {
  const g = groups.length === 4 && groups[0] === '1' ? groups.slice(1) : groups;
  return (
    g.length === 3 &&
    g[0].length === 3 &&
    g[1].length === 3 &&
    g[2].length === 4 &&
    g[0][0] >= '2' &&
    g[1][0] >= '2'
  );
}
