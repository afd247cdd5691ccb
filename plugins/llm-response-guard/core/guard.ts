/**
 * llm-response-guard's decision for one upstream answer, with no Kong import. Kong's
 * response phase hands over the whole buffered body; the stages run in this order, the
 * first refusal winning:
 *
 *   status     a non-2xx answer (OpenAI's own error) passes untouched, usage unknown
 *   parse      JSON or server-sent events, bounded by `max_answer_bytes` (answer.ts)
 *   usage      the answer's `usage` (JSON), or the stream's usage event (include_usage
 *              chunk, `response.completed`): published whatever the decision
 *   schema     the operator's JSON Schema over a JSON answer as received
 *   redaction  the model's texts (rewrite.ts), one session per answer; a `block` type
 *   restore    the request's placeholders back into the model's texts
 *
 * Refusals are 502 `server_error`s in OpenAI's format: the upstream answered, but not
 * with something the gateway releases. Codes: `response_too_large`, `response_invalid`
 * (not the JSON or stream its Content-Type says), `response_schema_mismatch`,
 * `response_blocked`. Messages name entity types at most, never answer text.
 *
 * Bodies of other content types (audio, files) and empty bodies are not read and pass.
 * The answer is re-serialized only when a text changed: a JSON answer compactly with
 * `JSON.stringify`, a stream event by event (unchanged events byte for byte).
 */
import type { AnswerCheck } from '../../shared/marks';
import type { Rejection } from '../../shared/openai-error';
import { compileRedactionPolicy, type Action, type BuiltinEntityType, type RedactionPolicy } from '../../shared/redaction';
import { compileSchemaText, type CustomValidator } from '../../shared/request/validate';
import { usageFromOpenAi, type LlmUsage } from '../../shared/usage';
import { parseAnswer, serializeSse, type Answer, type AnswerFailureCode } from './answer';
import { rewriteAnswer, TextRewriter } from './rewrite';
import { isObj } from '../../shared/values';

/** The plugin's config, as the Kong schema declares it (snake_case). */
export interface ResponseGuardConfig {
  redaction: {
    enabled: boolean;
    /** Action per built-in entity type; types not listed are redacted. */
    actions: Record<string, Action>;
    custom_patterns: Array<{ name: string; pattern: string; action: Action }>;
  };
  /** Put the request's placeholders (from llm-guard) back into the answer. */
  restore_placeholders: boolean;
  /** A JSON Schema (JSON text) every JSON answer must satisfy; null for none. */
  response_schema: string | null;
  /** Larger answers are refused (502) rather than read. */
  max_answer_bytes: number;
}

export interface CompiledResponseGuard {
  readonly config: ResponseGuardConfig;
  readonly redaction: RedactionPolicy | null;
  readonly schema: CustomValidator | null;
}

/** What the adapter hands over from the response phase. */
export interface AnswerInput {
  /** The upstream's Content-Type; null when absent. */
  contentType: string | null;
  status: number;
  /** The whole upstream body, as received (identity encoding). */
  body: Uint8Array;
  /** Placeholder to original value, from llm-guard's session for this request; null if none. */
  placeholders: ReadonlyMap<string, string> | null;
}

/** Entity type to occurrences found in the answer (all actions); never any text. */
export type ResponseFindings = Record<string, number>;

/**
 * `findings` is null when the answer's texts were not scanned (a non-2xx or empty
 * answer, another content type, one refused before redaction, redaction off), so a
 * reader can tell "checked, nothing found" (`{}`) from "not checked".
 */
export type ResponseDecision =
  /** Send the upstream's body as is. */
  | { action: 'pass'; usage: LlmUsage | null; findings: ResponseFindings | null }
  /** Send `body` instead (the same Content-Type). */
  | { action: 'replace'; body: string; usage: LlmUsage | null; findings: ResponseFindings | null }
  /** Withhold the answer: send the rejection instead. */
  | { action: 'reject'; rejection: Rejection; usage: LlmUsage | null; findings: ResponseFindings | null };

/** A config that cannot run: the message names the field, never a value. */
export class ResponseGuardConfigError extends Error {
  override readonly name = 'ResponseGuardConfigError';
}

/** Largest `max_answer_bytes` accepted: Kong buffers the body in memory. */
export const MAX_ANSWER_BYTES_LIMIT = 64 * 1024 * 1024;

const MESSAGES: Readonly<Record<AnswerFailureCode | 'response_schema_mismatch', string>> = {
  response_too_large: 'The upstream answer is larger than this gateway inspects; it has been withheld.',
  response_invalid: 'The upstream answer could not be read as the content type it declares; it has been withheld.',
  response_schema_mismatch: "The upstream answer does not match this route's response schema; it has been withheld.",
};

const withheld = (code: string, message: string): Rejection => ({ status: 502, type: 'server_error', code, message, param: null });

/**
 * Checks and compiles a config once per instance (patterns, schema).
 * @throws ResponseGuardConfigError, RedactionConfigError or SchemaConfigError, naming
 *   the field at fault
 */
export function compileResponseGuard(config: ResponseGuardConfig): CompiledResponseGuard {
  const max = config.max_answer_bytes;
  if (!Number.isSafeInteger(max) || max < 1 || max > MAX_ANSWER_BYTES_LIMIT) {
    throw new ResponseGuardConfigError(`max_answer_bytes: must be an integer from 1 to ${MAX_ANSWER_BYTES_LIMIT}`);
  }
  const schema = config.response_schema !== null ? compileSchemaText('response_schema', config.response_schema) : null;
  const redaction = config.redaction.enabled
    ? compileRedactionPolicy({
        actions: config.redaction.actions as Partial<Record<BuiltinEntityType, Action>>,
        custom_patterns: config.redaction.custom_patterns,
      })
    : null;
  return { config, redaction, schema };
}

/**
 * The decision for one answer (stages at the top of this file). Never throws on any
 * body; pure: the adapter applies the decision and publishes `usage`.
 */
export function runResponseGuard(guard: CompiledResponseGuard, input: AnswerInput): ResponseDecision {
  if (input.status < 200 || input.status > 299 || input.body.length === 0) return { action: 'pass', usage: null, findings: null };
  const parsed = parseAnswer(input.contentType, input.body, guard.config.max_answer_bytes);
  if (!parsed.ok) return { action: 'reject', rejection: withheld(parsed.code, MESSAGES[parsed.code]), usage: null, findings: null };
  const answer = parsed.answer;
  if (answer.kind === 'other') return { action: 'pass', usage: null, findings: null };
  const usage = answerUsage(answer);

  if (guard.schema !== null && answer.kind === 'json' && guard.schema(answer.value) !== null) {
    return { action: 'reject', rejection: withheld('response_schema_mismatch', MESSAGES.response_schema_mismatch), usage, findings: null };
  }

  const placeholders = guard.config.restore_placeholders && input.placeholders !== null && input.placeholders.size > 0 ? input.placeholders : null;
  if (guard.redaction === null && placeholders === null) return { action: 'pass', usage, findings: null };
  const rewriter = new TextRewriter(guard.redaction, placeholders);
  const { changed, changedEvents } = rewriteAnswer(answer, rewriter);
  // no session: redaction is off and only placeholders were restored (nothing scanned)
  const findings = rewriter.session?.findings() ?? null;

  const blocked = rewriter.session?.blocked;
  if (blocked !== undefined && blocked.size > 0) {
    const types = [...blocked].sort().join(', ');
    const message = `The model's answer contains data this gateway does not release (${types}); it has been withheld.`;
    return { action: 'reject', rejection: withheld('response_blocked', message), usage, findings };
  }
  if (!changed) return { action: 'pass', usage, findings };
  const body =
    answer.kind === 'json'
      ? JSON.stringify(answer.value)
      : serializeSse(answer.events, (i) => (changedEvents.has(i) ? JSON.stringify(answer.events[i].json) : undefined));
  return { action: 'replace', body, usage, findings };
}

/**
 * The usage an answer reports: a JSON answer's `usage`; in a stream, the last event
 * with a usage (the `include_usage` chunk of Chat Completions, `response.usage` of
 * `response.completed`/`incomplete`/`failed`). Null when none is reported.
 */
export function answerUsage(answer: Answer): LlmUsage | null {
  if (answer.kind === 'json') {
    const v = answer.value;
    const u = isObj(v) ? usageFromOpenAi(v.usage) : null;
    return u === null ? null : { ...u, source: 'response' };
  }
  if (answer.kind !== 'sse') return null;
  for (let i = answer.events.length - 1; i >= 0; i--) {
    const ev = answer.events[i].json;
    if (!isObj(ev)) continue;
    const u = usageFromOpenAi(isObj(ev.response) ? ev.response.usage : ev.usage);
    if (u !== null) return { ...u, source: 'stream' };
  }
  return null;
}

/**
 * What the adapter publishes of one checked answer (`AnswerCheck`, plugins/shared/
 * marks.ts): counts per type and whether the answer was withheld for a `block` type.
 * Null when nothing was scanned: there is nothing true to say about its contents.
 */
export function answerCheck(decision: ResponseDecision): AnswerCheck | null {
  if (decision.findings === null) return null;
  const blocked = decision.action === 'reject' && decision.rejection.code === 'response_blocked';
  return { findings: decision.findings, blocked };
}
