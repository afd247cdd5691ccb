/**
 * llm-guard's request policy: which models, how many tokens, choices and messages,
 * which top-level parameters a route allows. Pure: the adapter passes the parsed
 * body and the prompt token count (plugins/shared/request/tokens.ts) and turns a
 * rejection into the response (plugins/shared/openai-error.ts).
 *
 * Order of checks, first failure wins: denied parameters, model, `n`/`best_of`,
 * completion token ceiling, message count, prompt tokens. Messages name the field,
 * never quote prompt text (a model name is quoted only when it looks like one).
 */
import type { Rejection } from '../../../shared/openai-error';
import type { Endpoint } from '../../../shared/request/openai';
import { compileGlob } from './glob';
import { isObj, type Obj } from '../../../shared/values';

/** The policy fields of llm-guard's config, as Kong sends them (snake_case). */
export interface RequestPolicyConfig {
  /** Exact names or `*` globs; empty allows every model. */
  allowed_models: string[];
  /** `*` globs; a denied model is refused even when also allowed. */
  denied_models: string[];
  /** Largest completion token limit a request may ask for; null: no ceiling. */
  max_tokens_ceiling: number | null;
  /** Over the ceiling: refuse, or lower the limit to the ceiling. */
  ceiling_action: 'reject' | 'clamp';
  max_n: number | null;
  /** Most chat messages (or Responses input items). */
  max_messages: number | null;
  max_prompt_tokens: number | null;
  /** Top-level body members refused when present and not null (`logit_bias`, `tools`). */
  denied_parameters: string[];
}

export class PolicyConfigError extends Error {
  override readonly name = 'PolicyConfigError';
}

export type PolicyDecision = { ok: false; rejection: Rejection } | { ok: true; body: object; clamped: string[] };

export interface RequestPolicy {
  /**
   * Decides on one request. Never throws, whatever the body. A clamped body is a
   * shallow copy; `body` itself is never modified. `promptTokens` null skips the
   * prompt length check (nothing to compare).
   */
  check(endpoint: Endpoint, body: unknown, promptTokens: number | null): PolicyDecision;
}

/** The completion limit members, per endpoint (OpenAI API reference). */
const LIMIT_FIELDS: Readonly<Record<Endpoint, readonly string[]>> = {
  'chat.completions': ['max_completion_tokens', 'max_tokens'],
  completions: ['max_tokens'],
  responses: ['max_output_tokens'],
  embeddings: [],
};

/**
 * The member clamp mode sets when a request gives no limit: without one the model's
 * own maximum applies. Not for legacy completions, whose default is 16 tokens.
 */
const DEFAULT_LIMIT_FIELD: Readonly<Partial<Record<Endpoint, string>>> = {
  'chat.completions': 'max_completion_tokens',
  responses: 'max_output_tokens',
};

/** The member holding the conversation, per endpoint. */
const PROMPT_FIELD: Readonly<Record<Endpoint, string>> = {
  'chat.completions': 'messages',
  completions: 'prompt',
  embeddings: 'input',
  responses: 'input',
};

const SHOWABLE_MODEL = /^[A-Za-z0-9._:\-/]{1,100}$/;

const reject = (message: string, param: string | null, code: string): PolicyDecision => ({
  ok: false,
  rejection: { status: 400, type: 'invalid_request_error', message, param, code },
});

const present = (b: Obj, k: string) => Object.prototype.hasOwnProperty.call(b, k) && b[k] !== null && b[k] !== undefined;

function positiveIntOrNull(v: unknown, name: string, errors: string[]): void {
  if (v !== null && v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 1)) errors.push(`${name} must be a positive integer or null`);
}

function stringList(v: unknown, name: string, errors: string[]): string[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s !== '')) {
    errors.push(`${name} must be a list of non-empty strings`);
    return [];
  }
  return v as string[];
}

/**
 * Checks the config and precompiles it (globs once, per instance).
 * @throws PolicyConfigError listing every problem
 */
export function compileRequestPolicy(config: RequestPolicyConfig): RequestPolicy {
  if (!isObj(config)) throw new PolicyConfigError('policy config must be an object');
  const errors: string[] = [];
  const allowed = stringList(config.allowed_models, 'allowed_models', errors).map(compileGlob);
  const denied = stringList(config.denied_models, 'denied_models', errors).map(compileGlob);
  const deniedParams = stringList(config.denied_parameters, 'denied_parameters', errors);
  positiveIntOrNull(config.max_tokens_ceiling, 'max_tokens_ceiling', errors);
  positiveIntOrNull(config.max_n, 'max_n', errors);
  positiveIntOrNull(config.max_messages, 'max_messages', errors);
  positiveIntOrNull(config.max_prompt_tokens, 'max_prompt_tokens', errors);
  const action = config.ceiling_action ?? 'reject';
  if (action !== 'reject' && action !== 'clamp') errors.push('ceiling_action must be one of: reject, clamp');
  if (errors.length) throw new PolicyConfigError(errors.join('; '));

  const ceiling = config.max_tokens_ceiling ?? null;
  const maxN = config.max_n ?? null;
  const maxMessages = config.max_messages ?? null;
  const maxPromptTokens = config.max_prompt_tokens ?? null;

  return {
    check(endpoint, body, promptTokens) {
      if (!isObj(body)) return reject('The request body must be a JSON object.', null, 'invalid_body');

      for (const p of deniedParams) {
        if (present(body, p)) return reject(`The parameter '${p}' is not allowed on this route.`, p, 'parameter_not_allowed');
      }

      if (allowed.length || denied.length) {
        const model = typeof body.model === 'string' ? body.model : '';
        const refused = denied.some((g) => g.matches(model)) || (allowed.length > 0 && !allowed.some((g) => g.matches(model)));
        if (refused) {
          const shown = SHOWABLE_MODEL.test(model) ? `The model '${model}'` : 'The requested model';
          return reject(`${shown} is not allowed on this route.`, 'model', 'model_not_allowed');
        }
      }

      if (maxN !== null && (endpoint === 'chat.completions' || endpoint === 'completions')) {
        for (const p of endpoint === 'completions' ? ['n', 'best_of'] : ['n']) {
          const v = body[p];
          if (present(body, p) && !(typeof v === 'number' && v <= maxN)) {
            return reject(`'${p}' must be a number at most ${maxN} on this route.`, p, 'n_too_large');
          }
        }
      }

      let out: Obj = body;
      const clamped: string[] = [];
      if (ceiling !== null) {
        let limited = false;
        for (const p of LIMIT_FIELDS[endpoint]) {
          if (!present(body, p)) continue;
          limited = true;
          const v = body[p];
          if (typeof v === 'number' && v <= ceiling) continue;
          if (config.ceiling_action !== 'clamp' || typeof v !== 'number') {
            return reject(`'${p}' must be a number at most ${ceiling} on this route.`, p, 'max_tokens_too_large');
          }
          if (out === body) out = { ...body }; // spread defines members: an own __proto__ stays data
          out[p] = ceiling;
          clamped.push(p);
        }
        const fill = DEFAULT_LIMIT_FIELD[endpoint];
        if (!limited && config.ceiling_action === 'clamp' && fill) {
          if (out === body) out = { ...body };
          out[fill] = ceiling;
          clamped.push(fill);
        }
      }

      if (maxMessages !== null && (endpoint === 'chat.completions' || endpoint === 'responses')) {
        const field = PROMPT_FIELD[endpoint];
        const list = body[field];
        if (Array.isArray(list) && list.length > maxMessages) {
          return reject(`'${field}' has more than ${maxMessages} ${endpoint === 'responses' ? 'items' : 'messages'}, the most this route allows.`, field, 'too_many_messages');
        }
      }

      if (maxPromptTokens !== null && typeof promptTokens === 'number' && promptTokens > maxPromptTokens) {
        return reject(`The prompt is ${promptTokens} tokens long; this route allows at most ${maxPromptTokens}.`, PROMPT_FIELD[endpoint], 'prompt_too_long');
      }

      return { ok: true, body: out, clamped };
    },
  };
}
