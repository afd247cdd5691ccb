/**
 * Text normalization for prompt-injection scanning.
 *
 * Two outputs with two purposes:
 * - `stripInvisible` is what the gateway may forward to OpenAI: the user's text with
 *   only invisible format characters removed (no case folding, no NFKC), so what the
 *   model reads is what a human reviewer sees.
 * - `normalizeForScan` is a scan-only copy, folded so that one lower-case ASCII rule
 *   matches the many spellings an attacker can give a phrase: fullwidth and styled
 *   letters (NFKC), Cyrillic/Greek look-alikes, accents, words split by zero-width
 *   characters, hidden Unicode "tag" text, irregular spacing.
 *
 * Every step is one pass over the text (String.prototype.normalize, or a `replace`
 * with a single character class), so both functions are linear in the input size.
 */

/**
 * Invisible format characters (Unicode general category Cf and friends) that render as
 * nothing but still reach the model's tokenizer, the classic way to split a trigger
 * word ("ig\u200Bnore") or to reorder what a reviewer sees (bidi overrides, the
 * "Trojan Source" attack, CVE-2021-42574):
 * - zero-width: U+200B ZWSP, U+200C ZWNJ, U+200D ZWJ, U+2060 WORD JOINER, U+FEFF BOM,
 *   U+180E MONGOLIAN VOWEL SEPARATOR, U+00AD SOFT HYPHEN, U+034F COMBINING GRAPHEME
 *   JOINER, U+2061–U+2064 invisible math operators;
 * - variation selectors: U+FE00–U+FE0F, U+E0100–U+E01EF, Mongolian U+180B–U+180D, U+180F;
 * - bidi controls: U+202A–U+202E embeddings/overrides, U+2066–U+2069 isolates,
 *   U+200E/U+200F LRM/RLM, U+061C ARABIC LETTER MARK;
 * - Unicode tags U+E0000–U+E007F ("ASCII smuggling": invisible copies of ASCII that
 *   some models read as text).
 *
 * Cost of removing them from forwarded text: ZWJ emoji sequences fall apart into their
 * parts, U+FE0F emoji presentation is lost and tag-based flag emoji show as a plain
 * black flag. Text meaning is unchanged.
 */
const INVISIBLE_CLASS =
  '\\u00AD\\u034F\\u061C\\u180B-\\u180F\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u2069\\uFE00-\\uFE0F\\uFEFF' +
  '\\u{E0000}-\\u{E007F}\\u{E0100}-\\u{E01EF}';
const INVISIBLE = new RegExp(`[${INVISIBLE_CLASS}]+`, 'gu');

/** Tag characters that mirror printable ASCII (U+E0020 SPACE … U+E007E TILDE). */
const TAG_TEXT = /[\u{E0020}-\u{E007E}]+/gu;
const TAG_OFFSET = 0xe0000;

/** Nonspacing combining marks, removed after NFKD so "ïgnörë" reads "ignore". */
const COMBINING_MARKS = /\p{Mn}+/gu;

/**
 * Look-alikes of Latin letters that NFKC leaves alone (it folds fullwidth, math-styled
 * and circled letters, not other scripts). Upper-case forms are mapped before case
 * folding, because Greek/Cyrillic capitals lower-case to letters that no longer look
 * Latin (Η → η). Sources: Unicode confusables.txt (UTS #39), restricted to letters that
 * are near-identical in common fonts; typographic quotes map to ASCII quotes so rules
 * can spell "don't" once.
 */
const HOMOGLYPHS: Readonly<Record<string, string>> = {
  // Cyrillic
  'а': 'a', 'А': 'a', 'В': 'b', 'е': 'e', 'Е': 'e', 'ѕ': 's', 'Ѕ': 's', 'і': 'i', 'І': 'i',
  'ј': 'j', 'Ј': 'j', 'К': 'k', 'к': 'k', 'М': 'm', 'Н': 'h', 'о': 'o', 'О': 'o', 'р': 'p',
  'Р': 'p', 'с': 'c', 'С': 'c', 'Т': 't', 'у': 'y', 'У': 'y', 'х': 'x', 'Х': 'x', 'ү': 'y',
  'Ү': 'y', 'һ': 'h', 'Һ': 'h', 'ԁ': 'd', 'Ԁ': 'd', 'ԛ': 'q', 'Ԛ': 'q', 'ԝ': 'w', 'Ԝ': 'w',
  'ӏ': 'l', 'Ӏ': 'l', 'Ь': 'b',
  // Greek
  'Α': 'a', 'α': 'a', 'Β': 'b', 'Ε': 'e', 'ε': 'e', 'Ζ': 'z', 'Η': 'h', 'Ι': 'i', 'ι': 'i',
  'Κ': 'k', 'κ': 'k', 'Μ': 'm', 'Ν': 'n', 'ν': 'v', 'Ο': 'o', 'ο': 'o', 'Ρ': 'p', 'ρ': 'p',
  'Τ': 't', 'Υ': 'y', 'υ': 'u', 'Χ': 'x', 'χ': 'x', 'ϲ': 'c', 'Ϲ': 'c', 'ϳ': 'j', 'Ϳ': 'j',
  // Armenian
  'օ': 'o', 'ս': 'u', 'ո': 'n', 'հ': 'h', 'ց': 'g',
  // Latin letters outside ASCII that NFKC keeps
  'ɡ': 'g', 'ɑ': 'a', 'ı': 'i', 'ȷ': 'j', 'ɩ': 'i', 'ʏ': 'y', 'ɪ': 'i', 'ʀ': 'r', 'ᴅ': 'd',
  // punctuation
  '\u2018': "'", '\u2019': "'", '\u02BC': "'", '\u2032': "'", '\u201C': '"', '\u201D': '"',
};
const HOMOGLYPH = new RegExp(`[${Object.keys(HOMOGLYPHS).join('')}]`, 'g');

/** Line breaks as JavaScript's `\s` sees them (CR, LF, VT, FF, LS, PS) plus NEL. */
const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/;
const NOT_LINE_BREAK_AT_END = /[^\n\r\v\f\u0085\u2028\u2029]$/;
const WHITESPACE_RUN = /[\s\u0085]+/g;

function collapseWhitespace(run: string): string {
  if (!LINE_BREAK.test(run)) return ' ';
  // A run spanning a line break keeps one '\n' (rules anchor on line starts, like a
  // chat transcript's "system:" line) and one space when the next line is indented
  // (so a YAML key nested under another is not read as a line-start header).
  return NOT_LINE_BREAK_AT_END.test(run) ? '\n ' : '\n';
}

/**
 * Removes invisible format characters (zero-width, variation selectors, bidi
 * controls, Unicode tags) and nothing else: no NFKC, no case change, no whitespace
 * change. This is the text to forward upstream. Idempotent; never adds characters.
 */
export function stripInvisible(text: string): string {
  return text.replace(INVISIBLE, '');
}

/**
 * The scan-only form of `text`: hidden tag text revealed, invisible characters
 * removed, NFKC with combining marks dropped, homoglyphs mapped to Latin, lower-cased,
 * whitespace runs collapsed to one space (or one '\n', plus one space if the next line
 * is indented). Built-in rules are written against this form. Never forward it.
 */
export function normalizeForScan(text: string): string {
  return (
    text
      // tag text is made visible (set apart by spaces) rather than dropped: it is an
      // instruction the model may read, so it must be scanned
      .replace(TAG_TEXT, (run) => ` ${Array.from(run, (c) => String.fromCharCode(c.codePointAt(0)! - TAG_OFFSET)).join('')} `)
      .replace(INVISIBLE, '')
      // NFKD then mark removal then NFKC: compatibility folding, accents dropped
      .normalize('NFKD')
      .replace(COMBINING_MARKS, '')
      .normalize('NFKC')
      .replace(HOMOGLYPH, (c) => HOMOGLYPHS[c])
      .toLowerCase()
      .replace(WHITESPACE_RUN, collapseWhitespace)
  );
}
