/**
 * Policy (compiled once per plugin config) and session (one per request): detection,
 * overlap resolution, placeholders, restore.
 *
 * Overlaps: every detector reports its own non-overlapping candidates; where candidates
 * of different detectors overlap, exactly one wins and the others are dropped, by
 *   1. kind: secrets, then custom patterns, then PII (a key inside a URL is a key);
 *   2. the longer span;
 *   3. the earlier start;
 *   4. detector order (`BUILTIN_TYPES`, then custom patterns in config order).
 * The order is total, so the result does not depend on the text's history or the
 * session. Resolution marks accepted characters in one byte array, so it costs the
 * total length of the candidates (at most detectors x text length) plus a sort.
 */
import { RE2JS } from 're2js';
import { BUILTIN_DETECTORS, type Detector, type DetectorKind } from './detectors';
import { findEchoes } from './echoes';
import { maskValue } from './mask';
import {
  ACTIONS,
  BUILTIN_TYPES,
  RedactionConfigError,
  type Action,
  type BuiltinEntityType,
  type CustomPattern,
  type EntityType,
  type RedactionConfig,
  type Span,
} from './types';

/** Defaults when the operator sets no action for a type: everything is redacted. */
export const DEFAULT_ACTIONS: Readonly<Record<BuiltinEntityType, Action>> = Object.freeze(
  Object.fromEntries(BUILTIN_TYPES.map((t) => [t, 'redact' as Action])) as Record<BuiltinEntityType, Action>,
);

export const MAX_CUSTOM_PATTERNS = 64;
export const MAX_PATTERN_LENGTH = 2048;
const CUSTOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Placeholder shape, `[LABEL_N]`. Used both to restore and to reserve placeholder-like
 * text already present in an input, so a literal `[EMAIL_1]` typed by a user is never
 * confused with one of ours.
 */
const PLACEHOLDER = /\[([A-Z][A-Z0-9_]{0,79})_([1-9][0-9]{0,8})\]/g;

const KIND_RANK: Readonly<Record<DetectorKind, number>> = { secret: 0, custom: 1, pii: 2 };

/** A compiled detector with its action and placeholder label. */
interface Rule {
  readonly detector: Detector;
  readonly action: Action;
  /** `EMAIL`, `PAYMENT_CARD`, `CUSTOM_EMPLOYEE_ID`. */
  readonly label: string;
  readonly rank: number;
  readonly order: number;
}

/** A compiled config: immutable, shared by all requests of one plugin instance. */
export interface RedactionPolicy {
  /** Every entity type this policy detects, built-in and custom. */
  readonly types: readonly EntityType[];
  /** The action configured for `type` (built-in or `custom:<name>`); undefined if unknown. */
  actionFor(type: string): Action | undefined;
  /** Findings only: resolved, non-overlapping spans in text order. Same as `scanText`. */
  scan(text: string): Span[];
  /** A session for one request: placeholders are stable and restorable within it. */
  newSession(): RedactionSession;
}

/** Result of `RedactionSession.redact`. */
export interface RedactionResult {
  text: string;
  /** Whether any span was replaced (an `allow`-only text is unchanged). */
  changed: boolean;
}

/**
 * Redaction state of one request. Not shared between requests: a placeholder names one
 * value of this session only.
 */
export interface RedactionSession {
  /** Applies the policy's actions to `text`; never throws on any string. */
  redact(text: string): RedactionResult;
  /** Types whose action is `block` found so far in this session. */
  readonly blocked: ReadonlySet<string>;
  /** Entity type to number of occurrences found so far (all actions). Never any text. */
  findings(): Record<string, number>;
  /** `text` with this session's placeholders (redact and block) replaced by their originals. */
  restore(text: string): string;
  /**
   * Placeholder to original value, for a later stage of the same request (restoring
   * an answer). It holds the very data redaction removed: keep it per request and
   * never log it.
   */
  placeholders(): ReadonlyMap<string, string>;
  /** Distinct placeholders handed out in this session. */
  readonly placeholderCount: number;
}

/**
 * Compiles and checks an operator config. Call once per config (plugin instance start),
 * never per request.
 * @throws RedactionConfigError naming the field or custom pattern name at fault; the
 *   message never contains a pattern's value.
 */
export function compileRedactionPolicy(config: RedactionConfig): RedactionPolicy {
  const actions: Record<string, Action> = { ...DEFAULT_ACTIONS };
  for (const [type, action] of Object.entries(config.actions ?? {})) {
    if (!Object.prototype.hasOwnProperty.call(DEFAULT_ACTIONS, type)) {
      throw new RedactionConfigError(`actions: unknown entity type ${safeLabel(type)}`);
    }
    if (action === undefined) continue;
    if (!ACTIONS.includes(action)) throw new RedactionConfigError(`actions.${type}: must be one of ${ACTIONS.join(', ')}`);
    actions[type] = action;
  }

  const rules: Rule[] = BUILTIN_TYPES.map((type, order) => {
    const detector = BUILTIN_DETECTORS.get(type)!;
    return { detector, action: actions[type], label: type.toUpperCase(), rank: KIND_RANK[detector.kind], order };
  });

  const custom = config.custom_patterns ?? [];
  if (!Array.isArray(custom)) throw new RedactionConfigError('custom_patterns: must be an array');
  if (custom.length > MAX_CUSTOM_PATTERNS) {
    throw new RedactionConfigError(`custom_patterns: at most ${MAX_CUSTOM_PATTERNS} patterns`);
  }
  const names = new Set<string>();
  custom.forEach((p: CustomPattern, i) => {
    const where = `custom_patterns[${i}]`;
    if (typeof p?.name !== 'string' || !CUSTOM_NAME.test(p.name)) {
      throw new RedactionConfigError(`${where}.name: must be 1-64 characters of A-Z a-z 0-9 _ -`);
    }
    if (names.has(p.name)) throw new RedactionConfigError(`${where}: duplicate name ${p.name}`);
    names.add(p.name);
    const action = p.action ?? 'redact';
    if (!ACTIONS.includes(action)) {
      throw new RedactionConfigError(`${where} (${p.name}).action: must be one of ${ACTIONS.join(', ')}`);
    }
    if (typeof p.pattern !== 'string' || p.pattern.length === 0 || p.pattern.length > MAX_PATTERN_LENGTH) {
      throw new RedactionConfigError(`${where} (${p.name}).pattern: must be 1-${MAX_PATTERN_LENGTH} characters`);
    }
    const type: EntityType = `custom:${p.name}`;
    rules.push({
      detector: customDetector(type, compileRe2(p.pattern, `${where} (${p.name})`)),
      action,
      label: `CUSTOM_${p.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`,
      rank: KIND_RANK.custom,
      order: BUILTIN_TYPES.length + i,
    });
  });

  return new Policy(rules);
}

/**
 * Findings for callers that change nothing (llm-audit): resolved spans in text order.
 * Spans carry offsets only; slice the text yourself if you must, and never log it.
 */
export function scanText(policy: RedactionPolicy, text: string): Span[] {
  return policy.scan(text);
}

function compileRe2(pattern: string, where: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch {
    // re2js messages quote the pattern; an operator may have pasted a secret into it.
    throw new RedactionConfigError(`${where}.pattern: not valid RE2 syntax`);
  }
}

/** An RE2 pattern as a detector; empty matches are skipped. */
function customDetector(type: EntityType, re: RE2JS): Detector {
  return {
    type,
    kind: 'custom',
    find(text, emit) {
      const m = re.matcher(text);
      let last = -1;
      while (m.find()) {
        const start = m.start();
        const end = m.end();
        if (end > start) emit(start, end);
        else if (start <= last) break; // defensive: no progress
        last = Math.max(start, end);
      }
    },
  };
}

/** For error messages: a type name the operator wrote, without anything odd in it. */
function safeLabel(s: string): string {
  return /^[A-Za-z0-9_:-]{1,64}$/.test(s) ? s : '(unprintable)';
}

interface Found {
  rule: Rule;
  start: number;
  end: number;
}

class Policy implements RedactionPolicy {
  readonly types: readonly EntityType[];
  private readonly byType: ReadonlyMap<string, Rule>;

  constructor(private readonly rules: readonly Rule[]) {
    this.types = rules.map((r) => r.detector.type);
    this.byType = new Map(rules.map((r) => [r.detector.type, r]));
  }

  actionFor(type: string): Action | undefined {
    return this.byType.get(type)?.action;
  }

  scan(text: string): Span[] {
    return this.find(text).map((f) => ({ type: f.rule.detector.type, start: f.start, end: f.end }));
  }

  newSession(): RedactionSession {
    return new Session(this);
  }

  /**
   * Resolved matches in text order (see the overlap rules at the top of this file), then
   * echoes: other occurrences of the secret and custom values found (and of `known`,
   * values an earlier message of the session revealed), under the same type.
   */
  find(text: string, known?: ReadonlyMap<string, Rule>): Found[] {
    if (typeof text !== 'string' || text.length === 0) return [];
    const candidates: Found[] = [];
    for (const rule of this.rules) {
      rule.detector.find(text, (start, end) => candidates.push({ rule, start, end }));
    }
    if (candidates.length === 0 && (known === undefined || known.size === 0)) return candidates;
    candidates.sort(
      (a, b) =>
        a.rule.rank - b.rule.rank ||
        b.end - b.start - (a.end - a.start) ||
        a.start - b.start ||
        a.rule.order - b.rule.order,
    );
    const taken = new Uint8Array(text.length);
    const kept: Found[] = [];
    for (const c of candidates) {
      let free = true;
      for (let i = c.start; i < c.end; i++) {
        if (taken[i] !== 0) {
          free = false;
          break;
        }
      }
      if (!free) continue;
      taken.fill(1, c.start, c.end);
      kept.push(c);
    }
    const secrets = new Map<string, Rule>(known);
    for (const f of kept) {
      if (f.rule.rank === KIND_RANK.pii) continue;
      const value = text.slice(f.start, f.end);
      if (!secrets.has(value)) secrets.set(value, f.rule);
    }
    if (secrets.size > 0) {
      findEchoes(text, secrets.keys(), taken, (start, end, value) => kept.push({ rule: secrets.get(value)!, start, end }));
    }
    return kept.sort((a, b) => a.start - b.start);
  }
}

class Session implements RedactionSession {
  private readonly placeholderOf = new Map<string, string>(); // type NUL value -> placeholder
  private readonly originalOf = new Map<string, string>(); // placeholder -> value
  private readonly lastNumber = new Map<string, number>(); // label -> last N handed out
  private readonly reserved = new Set<string>(); // placeholder-like text seen in inputs
  private readonly counts = new Map<string, number>();
  private readonly blockedTypes = new Set<string>();
  /** Secret and custom values found so far: swept from later messages too. */
  private readonly knownSecrets = new Map<string, Rule>();

  constructor(private readonly policy: Policy) {}

  get blocked(): ReadonlySet<string> {
    return this.blockedTypes;
  }

  get placeholderCount(): number {
    return this.originalOf.size;
  }

  findings(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  redact(text: string): RedactionResult {
    if (typeof text !== 'string' || text.length === 0) return { text: typeof text === 'string' ? text : '', changed: false };
    const found = this.policy.find(text, this.knownSecrets);
    if (found.length === 0) return { text, changed: false };
    this.reserve(text);
    const out: string[] = [];
    let at = 0;
    let changed = false;
    for (const { rule, start, end } of found) {
      const type = rule.detector.type;
      this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
      if (rule.action === 'allow') continue;
      const value = text.slice(start, end);
      if (rule.rank !== KIND_RANK.pii && !this.knownSecrets.has(value)) this.knownSecrets.set(value, rule);
      let replacement: string;
      if (rule.action === 'mask') {
        replacement = maskValue(type, value);
      } else {
        if (rule.action === 'block') this.blockedTypes.add(type);
        replacement = this.placeholder(rule, value);
      }
      if (replacement === value) continue;
      out.push(text.slice(at, start), replacement);
      at = end;
      changed = true;
    }
    if (!changed) return { text, changed: false };
    out.push(text.slice(at));
    return { text: out.join(''), changed: true };
  }

  restore(text: string): string {
    if (typeof text !== 'string' || this.originalOf.size === 0 || !text.includes('[')) return text;
    return text.replace(PLACEHOLDER, (whole: string) => this.originalOf.get(whole) ?? whole);
  }

  placeholders(): ReadonlyMap<string, string> {
    return new Map(this.originalOf);
  }

  /** Remembers placeholder-shaped text of an input so no placeholder collides with it. */
  private reserve(text: string): void {
    if (!text.includes('[')) return;
    PLACEHOLDER.lastIndex = 0;
    for (let m = PLACEHOLDER.exec(text); m !== null; m = PLACEHOLDER.exec(text)) {
      if (!this.originalOf.has(m[0])) this.reserved.add(m[0]);
    }
  }

  private placeholder(rule: Rule, value: string): string {
    const key = `${rule.detector.type}\u0000${value}`;
    const known = this.placeholderOf.get(key);
    if (known !== undefined) return known;
    let n = this.lastNumber.get(rule.label) ?? 0;
    let candidate: string;
    do {
      n++;
      candidate = `[${rule.label}_${n}]`;
    } while (this.reserved.has(candidate));
    this.lastNumber.set(rule.label, n);
    this.placeholderOf.set(key, candidate);
    this.originalOf.set(candidate, value);
    return candidate;
  }
}
