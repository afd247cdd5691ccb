/**
 * What llm-guard learns about a request, published once in `kong.ctx.shared` for
 * the plugins that run after it (llm-rate-limit reserves tokens from it, llm-audit
 * logs it), so the body is parsed and counted once per request (the pattern of Kong's
 * `parse-request` shared filter). The ctx key is the suite's to decide
 * (plugins/shared/marks.ts); this file owns the shape and how to read it back.
 *
 * The value crosses Kong's Lua side: a null member disappears and an empty object or
 * array comes back as `[]` (test/bridge/lua-values.ts). `readRequestFacts` undoes
 * that, and refuses anything else that does not have the shape (null: the reader
 * must treat the facts as missing, never guess).
 *
 * No prompt text is ever part of the facts: counts, rule ids and categories only.
 */
import { ENDPOINTS, type Endpoint } from './openai';
import type { CountMethod } from './tokens';
import { isObj, isNonNegInt as nonNegInt } from '../values';

export interface InjectionFinding {
  rule_id: string;
  category: string;
}

export interface RequestFindings {
  /** Detections per PII kind (`email: 2`), whether redacted or not. */
  pii: Record<string, number>;
  injection: InjectionFinding[];
  /** The guard rejected the request. */
  blocked: boolean;
}

export interface RequestFacts {
  endpoint: Endpoint;
  model: string | null;
  stream: boolean;
  /** The guard added `stream_options.include_usage` so the stream reports usage. */
  include_usage_injected: boolean;
  prompt_tokens: number | null;
  prompt_tokens_method: CountMethod | null;
  requested_completion_tokens: number | null;
  findings: RequestFindings;
  /** The body sent upstream differs from the client's (redaction, clamping, usage). */
  body_rewritten: boolean;
}

/** An empty Lua table comes back as `[]`, whatever it was. */
const isEmptyTable = (v: unknown): boolean => (Array.isArray(v) && v.length === 0) || (isObj(v) && Object.keys(v).length === 0);

/** Absent (Lua nil) reads as null; anything else must be `ok`, else the facts are invalid. */
function nullable<T>(v: unknown, ok: (x: unknown) => x is T): T | null | undefined {
  if (v === undefined || v === null) return null;
  return ok(v) ? v : undefined;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isMethod = (v: unknown): v is CountMethod => v === 'exact' || v === 'estimated';

function readPii(v: unknown): Record<string, number> | undefined {
  if (v === undefined || v === null || isEmptyTable(v)) return {};
  if (!isObj(v)) return undefined;
  // a fresh object without prototype-bearing assignment: keys are detector names
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v)) {
    if (!nonNegInt(n)) return undefined;
    Object.defineProperty(out, k, { value: n, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function readInjection(v: unknown): InjectionFinding[] | undefined {
  if (v === undefined || v === null || isEmptyTable(v)) return [];
  if (!Array.isArray(v)) return undefined;
  const out: InjectionFinding[] = [];
  for (const f of v) {
    if (!isObj(f) || !isString(f.rule_id) || !isString(f.category)) return undefined;
    out.push({ rule_id: f.rule_id, category: f.category });
  }
  return out;
}

/**
 * The facts as `kong.ctx.shared.get` returns them, normalized (absent → null,
 * `[]` → `{}` for `findings.pii`), or null when `value` is not request facts.
 */
export function readRequestFacts(value: unknown): RequestFacts | null {
  if (!isObj(value)) return null;
  const v = value;
  if (typeof v.endpoint !== 'string' || !(ENDPOINTS as readonly string[]).includes(v.endpoint)) return null;
  if (typeof v.stream !== 'boolean' || typeof v.body_rewritten !== 'boolean') return null;
  const includeUsage = v.include_usage_injected ?? false;
  if (typeof includeUsage !== 'boolean') return null;
  const model = nullable(v.model, isString);
  const promptTokens = nullable(v.prompt_tokens, nonNegInt);
  const method = nullable(v.prompt_tokens_method, isMethod);
  const requested = nullable(v.requested_completion_tokens, nonNegInt);
  if (model === undefined || promptTokens === undefined || method === undefined || requested === undefined) return null;
  const f = v.findings === undefined || isEmptyTable(v.findings) ? {} : v.findings;
  if (!isObj(f)) return null;
  const pii = readPii(f.pii);
  const injection = readInjection(f.injection);
  const blocked = f.blocked ?? false;
  if (pii === undefined || injection === undefined || typeof blocked !== 'boolean') return null;
  return {
    endpoint: v.endpoint as Endpoint,
    model,
    stream: v.stream,
    include_usage_injected: includeUsage,
    prompt_tokens: promptTokens,
    prompt_tokens_method: method,
    requested_completion_tokens: requested,
    findings: { pii, injection, blocked },
    body_rewritten: v.body_rewritten,
  };
}
