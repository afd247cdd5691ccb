/**
 * The prompt-injection policy of one plugin config: built-in rules chosen by id or
 * category plus operator deny patterns, compiled once (at instance start), then run
 * per message. Pure: no Kong import, no I/O, no clock.
 *
 * Matching: every text rule of the policy (built-in and custom) is one RE2 set
 * (re2js `RE2Set`), so a message is normalized once and matched once, linear in its
 * length whatever the number of rules. Encoded-payload rules decode base64/hex/percent
 * blobs and match the decoded text against the built-in override, extraction and
 * role-play rules (all of them, whether or not this policy enables them: decoding is
 * the rule, the text rules are its test).
 *
 * Findings name the rule and its category, never the matched text: they reach logs
 * and clients, and the matched text is the user's prompt.
 */
import { RE2JS, RE2Set } from 're2js';
import { normalizeForScan, stripInvisible } from './normalize';
import {
  BUILTIN_RULE_DEFS,
  DECODED_PAYLOAD_CATEGORIES,
  INJECTION_CATEGORIES,
  type EncodedRuleDef,
  type InjectionCategory,
  type TextRuleDef,
} from './rules';
import { decodePayloads } from './encoded';

/** Rule id prefix of operator patterns: `custom.<name>`. */
export const CUSTOM_RULE_PREFIX = 'custom.';
/** Category of every operator pattern's findings. */
export const CUSTOM_CATEGORY = 'custom';
/** Allowed pattern names: they become rule ids, which logs and metrics carry. */
const PATTERN_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Bounds on operator patterns: each is compiled into the one per-config RE2 set. */
export const MAX_CUSTOM_PATTERNS = 100;
export const MAX_PATTERN_LENGTH = 1000;

export type FindingCategory = InjectionCategory | typeof CUSTOM_CATEGORY;

/** One rule that matched. Never carries the matched text. */
export interface InjectionFinding {
  /** e.g. `override.ignore_previous` or `custom.<name>` */
  readonly rule_id: string;
  readonly category: FindingCategory;
}

/** An operator deny pattern, RE2 syntax, matched case-insensitively on the normalized text. */
export interface CustomPattern {
  /** Letters, digits, `_` and `-`; the finding's rule id is `custom.<name>`. */
  readonly name: string;
  /** RE2 syntax (https://github.com/google/re2/wiki/Syntax): no backreferences or lookaround. */
  readonly pattern: string;
}

export interface InjectionPolicyConfig {
  /**
   * Built-in rules to run: `true` (default) all, `false` none, or a list of rule ids
   * (`override.ignore_previous`) and categories (`roleplay_jailbreak`).
   */
  readonly builtin_rules?: boolean | readonly string[] | null;
  /** Operator deny patterns, run in addition to the built-in rules. */
  readonly custom_patterns?: readonly CustomPattern[] | null;
}

/** A compiled policy; safe to share between requests and instances. */
export interface InjectionPolicy {
  /** Ids of the rules this policy runs, built-in first, in scan order. */
  readonly rule_ids: readonly string[];
  /**
   * Findings for one text (one chat message or content part), in rule order, each
   * rule at most once; `[]` when clean. Linear in `text.length`; never throws on a
   * string.
   */
  scan(text: string): InjectionFinding[];
}

/**
 * A config the policy cannot be built from. The message names the field and, for a
 * custom pattern, its name, never the pattern text or RE2's message (which quotes it).
 */
export class InjectionConfigError extends Error {
  override readonly name = 'InjectionConfigError';
  constructor(
    message: string,
    /** The config field at fault, e.g. `custom_patterns` or `builtin_rules`. */
    readonly field: string,
    /** The offending custom pattern's name, when a pattern is at fault. */
    readonly patternName?: string,
  ) {
    super(message);
  }
}

interface CompiledTextRule {
  readonly finding: InjectionFinding;
  readonly pattern: string;
}

function finding(rule_id: string, category: FindingCategory): InjectionFinding {
  return Object.freeze({ rule_id, category });
}

function buildSet(patterns: readonly string[]): RE2Set | undefined {
  if (patterns.length === 0) return undefined;
  const set = new RE2Set(RE2Set.UNANCHORED);
  for (const p of patterns) set.add(p);
  set.compile();
  return set;
}

/** The built-in rules decoded payloads are matched against, compiled on first use. */
let decodedSet: RE2Set | undefined;
function decodedPayloadSet(): RE2Set {
  decodedSet ??= buildSet(
    BUILTIN_RULE_DEFS.filter(
      (r): r is TextRuleDef => r.kind === 'text' && DECODED_PAYLOAD_CATEGORIES.includes(r.category),
    ).map((r) => r.pattern),
  )!;
  return decodedSet;
}

function selectBuiltins(selection: boolean | readonly string[] | null | undefined) {
  if (selection === undefined || selection === null || selection === true) return BUILTIN_RULE_DEFS;
  if (selection === false) return [];
  if (!Array.isArray(selection)) {
    throw new InjectionConfigError('builtin_rules must be a boolean or a list of rule ids and categories', 'builtin_rules');
  }
  const wanted = new Set<string>();
  for (const entry of selection) {
    const known =
      typeof entry === 'string' &&
      (BUILTIN_RULE_DEFS.some((r) => r.id === entry) || (INJECTION_CATEGORIES as readonly string[]).includes(entry));
    if (!known) {
      // the entry is config, not user data, but keep it out of the message all the same
      throw new InjectionConfigError(
        `builtin_rules: unknown rule id or category at position ${wanted.size + 1} (see BUILTIN_RULES)`,
        'builtin_rules',
      );
    }
    wanted.add(entry);
  }
  return BUILTIN_RULE_DEFS.filter((r) => wanted.has(r.id) || wanted.has(r.category));
}

function compileCustom(patterns: readonly CustomPattern[] | null | undefined): CompiledTextRule[] {
  if (patterns === undefined || patterns === null) return [];
  if (!Array.isArray(patterns)) throw new InjectionConfigError('custom_patterns must be a list', 'custom_patterns');
  if (patterns.length > MAX_CUSTOM_PATTERNS) {
    throw new InjectionConfigError(`custom_patterns: at most ${MAX_CUSTOM_PATTERNS} patterns`, 'custom_patterns');
  }
  const seen = new Set<string>();
  return patterns.map((p, i) => {
    const name: unknown = p?.name;
    if (typeof name !== 'string' || !PATTERN_NAME.test(name)) {
      throw new InjectionConfigError(
        `custom_patterns[${i + 1}]: name must be 1-64 letters, digits, _ or -`,
        'custom_patterns',
      );
    }
    if (seen.has(name)) throw new InjectionConfigError(`custom_patterns: duplicate name ${name}`, 'custom_patterns', name);
    seen.add(name);
    const source: unknown = p.pattern;
    if (typeof source !== 'string' || source.length === 0 || source.length > MAX_PATTERN_LENGTH) {
      throw new InjectionConfigError(
        `custom_patterns ${name}: pattern must be a non-empty string of at most ${MAX_PATTERN_LENGTH} characters`,
        'custom_patterns',
        name,
      );
    }
    let re: RE2JS;
    try {
      re = RE2JS.compile(source, RE2JS.CASE_INSENSITIVE);
    } catch {
      throw new InjectionConfigError(`custom_patterns ${name}: invalid RE2 pattern`, 'custom_patterns', name);
    }
    if (re.test('')) {
      // `a*`, `^`, `x?`: would flag every message
      throw new InjectionConfigError(`custom_patterns ${name}: pattern matches empty text`, 'custom_patterns', name);
    }
    // "(?i)" prefix: the set has one flag word for all patterns, and the built-in
    // ones are lower-case already. A valid pattern stays valid and means the same.
    return { finding: finding(CUSTOM_RULE_PREFIX + name, CUSTOM_CATEGORY), pattern: `(?i)${source}` };
  });
}

/**
 * Compiles a policy from config; call once per plugin config, never per request.
 * @throws InjectionConfigError on an unknown built-in id/category, or a custom
 *   pattern with a bad or duplicate name, invalid RE2 syntax, or that matches empty text
 */
export function compileInjectionPolicy(config: InjectionPolicyConfig = {}): InjectionPolicy {
  const builtins = selectBuiltins(config.builtin_rules);
  const textRules: CompiledTextRule[] = [
    ...builtins
      .filter((r): r is TextRuleDef => r.kind === 'text')
      .map((r) => ({ finding: finding(r.id, r.category), pattern: r.pattern })),
    ...compileCustom(config.custom_patterns),
  ];
  const encodedRules = builtins
    .filter((r): r is EncodedRuleDef => r.kind === 'encoded')
    .map((r) => ({ finding: finding(r.id, r.category), encoding: r.encoding }));
  // compiled here, not on the first request that carries a blob
  if (encodedRules.length > 0) decodedPayloadSet();
  let set: RE2Set | undefined;
  try {
    set = buildSet(textRules.map((r) => r.pattern));
  } catch {
    // each pattern compiled alone above; a failure here is the set's DFA budget
    throw new InjectionConfigError('custom_patterns: patterns too complex to compile together', 'custom_patterns');
  }
  const ruleIds = Object.freeze([...textRules, ...encodedRules].map((r) => r.finding.rule_id));
  // scan order for findings: built-in order (text then encoded), custom last
  const builtinText = textRules.filter((r) => r.finding.category !== CUSTOM_CATEGORY);
  const customText = textRules.filter((r) => r.finding.category === CUSTOM_CATEGORY);

  return {
    rule_ids: ruleIds,
    scan(text: string): InjectionFinding[] {
      if (typeof text !== 'string') throw new TypeError('scan expects a string');
      const findings: InjectionFinding[] = [];
      let hits: ReadonlySet<number> = new Set();
      if (set) hits = new Set(set.match(normalizeForScan(text)));
      for (let i = 0; i < builtinText.length; i++) if (hits.has(i)) findings.push(builtinText[i].finding);
      if (encodedRules.length > 0) {
        const caseKept = stripInvisible(text).normalize('NFKC');
        const decoded = decodedPayloadSet();
        for (const rule of encodedRules) {
          const payloads = decodePayloads(caseKept, rule.encoding);
          if (payloads.some((p) => decoded.match(normalizeForScan(p)).length > 0)) findings.push(rule.finding);
        }
      }
      for (let i = 0; i < customText.length; i++) if (hits.has(builtinText.length + i)) findings.push(customText[i].finding);
      return findings;
    },
  };
}
