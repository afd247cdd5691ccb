/**
 * llm-guard's decision for one request, with no Kong import: the stages of Kong's
 * own AI plugins (parse the request once, then named checks over the parsed value),
 * run in this order, the first refusal winning:
 *
 *   preflight  endpoint, Content-Type (415), Content-Length (413): before the body is read
 *   parse      bounded JSON (400: malformed, too deep, strings or arrays too long)
 *   schema     OpenAI's request schema for the endpoint, then the route's own (400)
 *   injection  built-in and custom rules on normalized prompt text (block: 400, flag: recorded)
 *   redaction  personal data and secrets (redact/mask in place, block: 400)
 *   policy     models, parameters, n, messages, token ceiling (reject or clamp), prompt tokens
 *   usage      stream_options.include_usage added to streams that lack it
 *
 * The forwarded body is serialized once, and only when a stage changed it. The same
 * function runs on the plugin server's main thread for small bodies and in a worker
 * thread for large ones (offload.ts). No message, finding or fact carries prompt text.
 */
import type { Rejection } from '../../shared/openai-error';
import { compileRedactionPolicy, type BuiltinEntityType, type RedactionPolicy } from '../../shared/redaction';
import { jsonFailureRejection, parseJsonBody, type JsonLimits } from '../../shared/request/json';
import { endpointOf, promptTexts, replaceTexts, type Endpoint } from '../../shared/request/openai';
import type { RequestFacts } from '../../shared/request/facts';
import { withStreamUsage } from '../../shared/request/measure';
import { countPromptTokens, requestedCompletionTokens } from '../../shared/request/tokens';
import { compileOpenAiValidators, compileSchemaText, validateRequest, type CustomValidator } from '../../shared/request/validate';
import type { LlmGuardConfig } from '../schema';
import { compileInjectionPolicy, stripInvisible, type InjectionFinding, type InjectionPolicy } from './injection';
import { compileRequestPolicy, type RequestPolicy } from './policy/policy';
import { isObj as isObject } from '../../shared/values';

export interface CompiledGuard {
  readonly config: LlmGuardConfig;
  readonly limits: JsonLimits;
  readonly injection: InjectionPolicy | null;
  readonly redaction: RedactionPolicy | null;
  readonly policy: RequestPolicy;
  readonly customSchema: CustomValidator | null;
}

/** What the adapter knows from the request line and headers, before the body. */
export interface RequestHead {
  /** null when the route names its endpoint (the path was not read). */
  path: string | null;
  contentType: string | null;
  /** null: not given (no body, or a chunked one). */
  contentLength: number | null;
  /** Content-Length > 0 or Transfer-Encoding present. */
  hasBody: boolean;
}

export type Preflight =
  /** Nothing for the guard to check: an endpoint it does not parse, or no body. */
  | { action: 'pass'; endpoint: Endpoint | null }
  | { action: 'reject'; rejection: Rejection }
  | { action: 'read'; endpoint: Endpoint };

export interface GuardInput {
  endpoint: Endpoint;
  body: Uint8Array;
}

export type GuardDecision =
  | { ok: false; rejection: Rejection }
  /**
   * `body`: what to forward instead of the client's, null when unchanged;
   * `placeholders`: placeholder to original, when `share_placeholders` is on and any was used.
   */
  | { ok: true; body: string | null; facts: RequestFacts; placeholders: Record<string, string> | null };

const JSON_TYPE = /^application\/json\s*(?:;|$)/i;

const invalid = (status: number, code: string, message: string, param: string | null = null, type: Rejection['type'] = 'invalid_request_error'): Rejection => ({
  status,
  code,
  message,
  param,
  type,
});

/**
 * Checks and compiles a config once per instance (patterns, schemas, globs).
 * @throws the cores' config errors (SchemaConfigError, InjectionConfigError,
 *   RedactionConfigError, PolicyConfigError): they name fields, never values
 */
export function compileGuard(config: LlmGuardConfig): CompiledGuard {
  const customSchema = config.custom_schema !== null ? compileSchemaText('custom_schema', config.custom_schema) : null;
  if (config.validate_schema) compileOpenAiValidators();
  return {
    config,
    limits: { maxDepth: config.max_json_depth, maxStringBytes: config.max_string_bytes, maxArrayLength: config.max_array_length },
    injection:
      config.injection.action === 'off'
        ? null
        : compileInjectionPolicy({ builtin_rules: config.injection.builtin_rules, custom_patterns: config.injection.custom_patterns }),
    redaction: config.redaction.enabled
      ? compileRedactionPolicy({
          actions: config.redaction.actions as Partial<Record<BuiltinEntityType, 'redact' | 'mask' | 'block' | 'allow'>>,
          custom_patterns: config.redaction.custom_patterns,
        })
      : null,
    policy: compileRequestPolicy(config),
    customSchema,
  };
}

/**
 * Decides from the head alone: nothing is read that the guard would not accept. The
 * endpoint is the route's (`config.endpoint`), else found from the path.
 */
export function preflight(guard: CompiledGuard, head: RequestHead): Preflight {
  const { config } = guard;
  const endpoint = config.endpoint !== 'auto' ? config.endpoint : head.path === null ? null : endpointOf(head.path);
  if (endpoint === null) {
    if (config.unknown_endpoints === 'deny') {
      return { action: 'reject', rejection: invalid(403, 'endpoint_not_allowed', 'This gateway route accepts only chat completions, completions, embeddings and responses requests.', null, 'permission_error') };
    }
    return { action: 'pass', endpoint: null };
  }
  // a GET or DELETE of a stored object: no body, nothing to check
  if (!head.hasBody) return { action: 'pass', endpoint };
  if (head.contentType === null || !JSON_TYPE.test(head.contentType)) {
    return { action: 'reject', rejection: invalid(415, 'unsupported_media_type', 'The request body must be JSON, sent with Content-Type: application/json.') };
  }
  if (head.contentLength !== null && head.contentLength > config.max_body_bytes) {
    return { action: 'reject', rejection: tooLarge(config.max_body_bytes) };
  }
  return { action: 'read', endpoint };
}

export function tooLarge(max: number): Rejection {
  return invalid(413, 'request_too_large', `The request body is larger than this gateway accepts (${max} bytes).`);
}

/** A map as a plain object whose keys are all own data members. */
function ownObject(map: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of map) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** Runs every stage on a body the preflight let through. Never throws on any body. */
export function runGuard(guard: CompiledGuard, input: GuardInput): GuardDecision {
  const { config } = guard;
  const { endpoint } = input;
  if (input.body.length > config.max_body_bytes) return { ok: false, rejection: tooLarge(config.max_body_bytes) };

  const parsed = parseJsonBody(input.body, guard.limits);
  if (!parsed.ok) return { ok: false, rejection: jsonFailureRejection(parsed) };
  if (!isObject(parsed.value)) return { ok: false, rejection: invalid(400, 'invalid_body', 'The request body must be a JSON object.') };
  const original = parsed.value;

  if (config.validate_schema) {
    const issue = validateRequest(endpoint, original);
    if (issue) return { ok: false, rejection: invalid(400, 'invalid_request_body', issue.message, issue.param) };
  }
  if (guard.customSchema) {
    const issue = guard.customSchema(original);
    if (issue) return { ok: false, rejection: invalid(400, 'invalid_request_body', issue.message, issue.param) };
  }

  const texts = promptTexts(endpoint, original);

  const injection: InjectionFinding[] = [];
  if (guard.injection) {
    const seen = new Set<string>();
    for (const { param, text } of texts) {
      for (const finding of guard.injection.scan(text)) {
        if (config.injection.action === 'block') {
          return {
            ok: false,
            rejection: invalid(400, 'prompt_injection_detected', `The prompt was refused by the gateway's prompt-injection check (${finding.category}).`, param),
          };
        }
        if (!seen.has(finding.rule_id)) {
          seen.add(finding.rule_id);
          injection.push({ rule_id: finding.rule_id, category: finding.category });
        }
      }
    }
  }

  // what is forwarded: invisible and bidi controls out, then personal data and secrets
  const replacements = new Map<string, string>();
  const session = guard.redaction?.newSession() ?? null;
  for (const { param, text } of texts) {
    let out = stripInvisible(text);
    if (session) {
      const before = session.blocked.size;
      out = session.redact(out).text;
      if (session.blocked.size > before) {
        const types = [...session.blocked].sort().join(', ');
        return { ok: false, rejection: invalid(400, 'sensitive_data_blocked', `The prompt contains data this gateway does not forward (${types}).`, param) };
      }
    }
    if (out !== text) replacements.set(param, out);
  }
  const redacted = replacements.size > 0 ? replaceTexts(endpoint, original, replacements) : original;

  const model = typeof redacted.model === 'string' ? redacted.model : null;
  const tokens = countPromptTokens(endpoint, model, redacted);
  const checked = guard.policy.check(endpoint, redacted, tokens.tokens);
  if (!checked.ok) return { ok: false, rejection: checked.rejection };
  let body = checked.body as Record<string, unknown>;

  const stream = body.stream === true;
  const withUsage = config.include_usage ? withStreamUsage(endpoint, body) : null;
  const usageInjected = withUsage !== null;
  if (withUsage) body = withUsage;

  const rewritten = replacements.size > 0 || checked.clamped.length > 0 || usageInjected;
  const shared = session && config.redaction.share_placeholders && session.placeholderCount > 0 ? ownObject(session.placeholders()) : null;
  return {
    ok: true,
    body: rewritten ? JSON.stringify(body) : null,
    placeholders: shared,
    facts: {
      endpoint,
      model,
      stream,
      include_usage_injected: usageInjected,
      prompt_tokens: tokens.tokens,
      prompt_tokens_method: tokens.method,
      requested_completion_tokens: requestedCompletionTokens(endpoint, body),
      findings: { pii: session?.findings() ?? {}, injection, blocked: false },
      body_rewritten: rewritten,
    },
  };
}
