/**
 * The built-in detectors. Each is a JS RegExp written to run in time linear in the input
 * (checked by test/shared/redaction/redos.test.ts):
 * - every quantifier is bounded, so one match attempt costs a constant;
 * - no nested quantifier over an ambiguous body (each repeated group ends in a delimiter
 *   or consumes exactly one digit), so a failing attempt cannot backtrack exponentially;
 * - a negative lookbehind pins each match to the start of a token, so an attempt starts
 *   at most once per token instead of at every character of a long run;
 * - a candidate the checksum or shape check rejects is retried one character later,
 *   never from an earlier position.
 * PEM blocks are found with `indexOf`, not a regex: a lazy `[\s\S]*?` up to END would be
 * quadratic over many unterminated BEGIN lines.
 */
import {
  cardBrandValid,
  ibanChecksumValid,
  ibanLength,
  ipv4Valid,
  ipv6Valid,
  jwtHeaderValid,
  looksRandom,
  luhnValid,
  phoneValid,
  ssnValid,
} from './checks';
import type { BuiltinEntityType, EntityType } from './types';

/** Secrets win overlaps over custom patterns, custom patterns over PII. */
export type DetectorKind = 'secret' | 'custom' | 'pii';

/** Where a candidate is accepted: the match itself, a sub-range, or nothing (retry one char later). */
type Accept = (m: RegExpExecArray, text: string) => boolean | readonly [number, number];

/** One detector: reports candidate spans in increasing, non-overlapping order. */
export interface Detector {
  readonly type: EntityType;
  readonly kind: DetectorKind;
  find(text: string, emit: (start: number, end: number) => void): void;
}

/** A detector from a global RegExp and an optional check on each match. */
export function regexDetector(type: EntityType, kind: DetectorKind, re: RegExp, accept?: Accept): Detector {
  if (!re.global) throw new Error(`detector ${type}: RegExp needs the g flag`);
  return {
    type,
    kind,
    find(text, emit) {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const verdict = accept ? accept(m, text) : true;
        if (verdict === true) {
          emit(m.index, m.index + m[0].length);
        } else if (verdict === false) {
          re.lastIndex = m.index + 1;
        } else {
          emit(verdict[0], verdict[1]);
          re.lastIndex = Math.max(verdict[1], m.index + 1);
        }
        if (m[0].length === 0) re.lastIndex = Math.max(re.lastIndex, m.index + 1);
      }
    },
  };
}

/** Offsets of capture group `group`; the RegExp needs the `d` flag. */
function groupSpan(m: RegExpExecArray, group: number): readonly [number, number] {
  return m.indices![group];
}

/**
 * The longest prefix of `s` (found at `base`), ending where a separator starts, that
 * `valid` accepts: adjacent numbers ("020 7946 0958 06 12 34 56 78", a card and its CVV)
 * run together in one candidate.
 */
function longestValidPrefix(
  s: string,
  base: number,
  isSeparator: (ch: string) => boolean,
  valid: (s: string) => boolean,
): boolean | readonly [number, number] {
  if (valid(s)) return [base, base + s.length];
  for (let i = s.length - 1; i > 0; i--) {
    if (isSeparator(s[i]) && !isSeparator(s[i - 1]) && valid(s.slice(0, i))) return [base, base + i];
  }
  return false;
}

// ---------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------

const PEM_BEGIN = '-----BEGIN ';
const PEM_END = '-----END ';
const PEM_HEADER = /-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?-----/y;
const PEM_FOOTER = /-----END (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?-----/y;
/** Base64, whitespace and RFC 1421 header characters of a PEM body. */
const PEM_BODY_CHAR = /[A-Za-z0-9+/=\s:,.\-]/;

/**
 * `-----BEGIN ... PRIVATE KEY-----` through the matching END line. A block with no END
 * (a key pasted truncated) is still a key: it runs over the header and the body
 * characters that follow, up to the next `-----`.
 */
const pemDetector: Detector = {
  type: 'pem_private_key',
  kind: 'secret',
  find(text, emit) {
    let from = 0;
    let nextEnd = -2; // position of the next "-----END " at or after `from`; -2: not searched
    while (from < text.length) {
      const begin = text.indexOf(PEM_BEGIN, from);
      if (begin < 0) return;
      PEM_HEADER.lastIndex = begin;
      if (!PEM_HEADER.test(text)) {
        from = begin + 1;
        continue;
      }
      const bodyStart = PEM_HEADER.lastIndex;
      if (nextEnd !== -1 && nextEnd < bodyStart) nextEnd = text.indexOf(PEM_END, bodyStart);
      let end = -1;
      if (nextEnd >= 0) {
        PEM_FOOTER.lastIndex = nextEnd;
        if (PEM_FOOTER.test(text)) end = PEM_FOOTER.lastIndex;
      }
      if (end < 0) {
        // Unterminated (or a non-matching END): header plus the body that follows.
        end = bodyStart;
        while (end < text.length && PEM_BODY_CHAR.test(text[end]) && !text.startsWith('-----', end)) end++;
      }
      emit(begin, end);
      from = end;
    }
  },
};

/** Passwords that are template slots or our own placeholders, not credentials. */
const PASSWORD_PLACEHOLDER = /^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\{\{[^}]*\}\}|<[^>]*>|\[[^\]]*\]|\*+|x+|X+|\.\.\.|%s)$/;

const SECRET_DETECTORS: readonly Detector[] = [
  pemDetector,
  // JWS compact serialisation (RFC 7515 §7.1): the header always starts `{"` = `eyJ`.
  regexDetector(
    'jwt',
    'secret',
    /(?<![A-Za-z0-9_\-.])(eyJ[A-Za-z0-9_-]{5,4096})\.[A-Za-z0-9_-]{2,65536}\.[A-Za-z0-9_-]{0,8192}/g,
    (m) => jwtHeaderValid(m[1]),
  ),
  // Legacy `sk-` + 48, project/service-account/admin keys; never `sk-ant-` (Anthropic).
  regexDetector(
    'openai_key',
    'secret',
    /(?<![A-Za-z0-9_-])sk-(?!ant-)(?:proj-|svcacct-|admin-)?([A-Za-z0-9_-]{20,512})/g,
    (m) => looksRandom(m[1]),
  ),
  regexDetector('anthropic_key', 'secret', /(?<![A-Za-z0-9_-])sk-ant-([A-Za-z0-9_-]{20,512})/g, (m) => looksRandom(m[1])),
  regexDetector('aws_access_key', 'secret', /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g),
  // Only when labelled: a bare 40-char base64 string is as likely a hash as a key.
  regexDetector(
    'aws_secret_key',
    'secret',
    /(?<![A-Za-z0-9])(?:aws[_-]?)?secret[_-]?(?:access[_-]?)?key["']?[ \t]{0,4}(?:[:=]|=>)[ \t]{0,4}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/dgi,
    (m) => groupSpan(m, 1),
  ),
  regexDetector(
    'github_token',
    'secret',
    /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})/g,
  ),
  regexDetector(
    'slack_token',
    'secret',
    /(?<![A-Za-z0-9_-])(?:xox[abprs]-[A-Za-z0-9-]{10,255}|https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9_/]{20,255})/g,
    (m) => /[0-9]/.test(m[0]),
  ),
  // Secret and restricted keys, live and test. Publishable keys (pk_live_, pk_test_) are
  // public by design (they ship in web pages) and are not detected.
  regexDetector('stripe_key', 'secret', /(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,255}/g),
  regexDetector('google_api_key', 'secret', /(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/g),
  // scheme://user:password@host (RFC 3986 §3.2.1): only the password. The password may
  // hold an unescaped '@'; the last '@' before the path ends the userinfo.
  regexDetector(
    'url_password',
    'secret',
    /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}:\/\/[^\s:/@?#]{0,128}:([^\s/?#]{1,256})@(?=[A-Za-z0-9[])/dg,
    (m) => (PASSWORD_PLACEHOLDER.test(m[1]) ? false : groupSpan(m, 1)),
  ),
];

// ---------------------------------------------------------------------------------
// PII
// ---------------------------------------------------------------------------------

/** Text just before a dotted quad that makes it a version number, not an address. */
const VERSION_CONTEXT =
  /(?:\bv|version|ver\.?|release|build|firmware|fw|sdk|patch|revision|rev|tag|upgraded?|updated?|bump(?:ed)?)(?:\s+(?:to|from|is|was))?\s*[:=#]?\s*$/i;
const CONTEXT_WINDOW = 40;

/**
 * A card candidate: one separator kind at most, groups of 3+ digits, an issuer's IIN
 * range and length, Luhn. Tries the whole candidate, then shorter prefixes ending at a
 * group boundary (a CVV or another number may follow after a space). One pass over the
 * candidate, no regex or allocation per boundary: this runs at every digit-run start.
 */
function acceptCard(m: RegExpExecArray): boolean | readonly [number, number] {
  const s = m[0];
  if (s[0] < '2' || s[0] > '6') return false; // no issuer range starts otherwise
  let digits = '';
  let sep = '';
  let group = 0;
  const ends: number[] = []; // candidate end offsets, at group boundaries
  const counts: number[] = []; // digits before each end
  for (let i = 0; i <= s.length; i++) {
    const ch = i < s.length ? s[i] : '';
    if (ch >= '0' && ch <= '9') {
      digits += ch;
      group++;
      continue;
    }
    if (group < 3) break; // "42 42 ..." or "4-2-4...": not a card grouping
    ends.push(i);
    counts.push(digits.length);
    if (ch === '') break;
    if (sep === '') sep = ch;
    else if (ch !== sep) break;
    group = 0;
  }
  for (let k = ends.length - 1; k >= 0; k--) {
    const n = counts[k];
    if (n < 13 || n > 19) continue;
    const d = n === digits.length ? digits : digits.slice(0, n);
    if (cardBrandValid(d) && luhnValid(d)) return ends[k] === s.length ? true : [m.index, m.index + ends[k]];
  }
  return false;
}

const isPhoneSeparator = (ch: string): boolean => ch === ' ' || ch === '-' || ch === '.' || ch === '(' || ch === ')';

/** An IBAN candidate: the country's registered length, mod-97, a token boundary after it. */
function acceptIban(m: RegExpExecArray, text: string): boolean | readonly [number, number] {
  const s = m[0];
  const len = ibanLength(s.slice(0, 2));
  if (len === undefined) return false;
  let compact = '';
  let i = 0;
  for (; i < s.length && compact.length < len; i++) if (s[i] !== ' ') compact += s[i];
  if (compact.length < len) return false;
  const end = m.index + i;
  if (end < text.length && /[A-Za-z0-9]/.test(text[end])) return false;
  if (!ibanChecksumValid(compact)) return false;
  return i === s.length ? true : [m.index, end];
}

const PII_DETECTORS: readonly Detector[] = [
  // Local part and labels bounded by RFC 5321 (64, 63); ASCII only. Not the userinfo of
  // a URL (`https://user@host/`) nor an scp-style git remote (`git@github.com:org/repo`).
  regexDetector(
    'email',
    'pii',
    /(?<![A-Za-z0-9._%+/-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9]|:[^\s])/g,
  ),
  regexDetector('payment_card', 'pii', /(?<![A-Za-z0-9_.-])[0-9](?:[ -]?[0-9]){12,18}(?![A-Za-z0-9_-]|\.[0-9])/g, acceptCard),
  regexDetector('iban', 'pii', /(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,8}(?: ?[A-Z0-9]{1,4})?/g, acceptIban),
  regexDetector('us_ssn', 'pii', /(?<![A-Za-z0-9_-])([0-9]{3})-([0-9]{2})-([0-9]{4})(?![A-Za-z0-9_-]|\.[0-9])/g, (m) =>
    ssnValid(m[1], m[2], m[3]),
  ),
  // Without '+', not inside a longer run of spaced digits (an IBAN, a bad card number).
  regexDetector(
    'phone',
    'pii',
    /(?<![A-Za-z0-9_+\-./:@#$()])(?:\+\(?|(?<![0-9][ .-])\(?)[0-9][0-9 ().-]{5,24}[0-9](?![A-Za-z0-9_\-:@]|[./][0-9])/g,
    (m) => {
      // "(020 7946 0958)": the '(' opens prose, not an area code.
      const skip = m[0][0] === '(' && !m[0].includes(')') ? 1 : 0;
      return longestValidPrefix(m[0].slice(skip), m.index + skip, isPhoneSeparator, phoneValid);
    },
  ),
  regexDetector(
    'ipv4',
    'pii',
    /(?<![A-Za-z0-9_.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![A-Za-z0-9_]|\.[A-Za-z0-9_])/g,
    (m, text) => ipv4Valid(m[0]) && !VERSION_CONTEXT.test(text.slice(Math.max(0, m.index - CONTEXT_WINDOW), m.index)),
  ),
  regexDetector(
    'ipv6',
    'pii',
    /(?<![A-Za-z0-9_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![A-Za-z0-9_:]|\.[A-Za-z0-9_])/g,
    (m) => ipv6Valid(m[0]) && (m[0].includes('.') || countHex(m[0]) >= 5),
  ),
];

function countHex(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s[i] !== ':') n++;
  return n;
}

/** Every built-in detector, in tie-break order: secrets first, then PII. */
export const BUILTIN_DETECTORS: ReadonlyMap<BuiltinEntityType, Detector> = new Map(
  [...SECRET_DETECTORS, ...PII_DETECTORS].map((d) => [d.type as BuiltinEntityType, d]),
);
