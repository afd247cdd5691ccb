/**
 * Request bodies checked against the OpenAI request schemas (schemas/openai/) and
 * against a route's own JSON Schema. Ajv is configured as in
 * test/foundation/schemas.test.ts: strict, except that `required` may name members a
 * schema leaves open and types may be left to the union (OpenAI adds members).
 *
 * The OpenAI validators are compiled once per process (Ajv compiles to code: slow
 * to build, fast to run). A custom schema is compiled at config time, in strict mode,
 * with RE2 (re2js) as the `pattern` engine, so an operator's pattern cannot
 * backtrack catastrophically on a client's string.
 *
 * An issue names the first failing field as `param` (`messages[0].role`) and says
 * what is wrong with it in Ajv's words, which quote the schema, never the data.
 */
import Ajv, { type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import type { Endpoint } from './openai';
import { joinPath, pathFromPointer } from './path';
import chatSchema from '../../../schemas/openai/chat-completions.request.json';
import completionsSchema from '../../../schemas/openai/completions.request.json';
import embeddingsSchema from '../../../schemas/openai/embeddings.request.json';
import responsesSchema from '../../../schemas/openai/responses.request.json';

export interface ValidationIssue {
  message: string;
  /** The failing field as a path, null for the body itself. */
  param: string | null;
}

export class SchemaConfigError extends Error {
  override readonly name = 'SchemaConfigError';
}

const AJV_OPTIONS: Options = { strict: true, strictRequired: false, strictTypes: false, allErrors: false };

export type OpenAiValidators = Readonly<Record<Endpoint, ValidateFunction>>;

let cached: OpenAiValidators | null = null;

/** The four OpenAI request validators, compiled on first call and shared after. */
export function compileOpenAiValidators(): OpenAiValidators {
  if (!cached) {
    const ajv = new Ajv(AJV_OPTIONS);
    cached = Object.freeze({
      'chat.completions': ajv.compile(chatSchema),
      completions: ajv.compile(completionsSchema),
      embeddings: ajv.compile(embeddingsSchema),
      responses: ajv.compile(responsesSchema),
    });
  }
  return cached;
}

/** The first way `body` breaks the endpoint's OpenAI schema, or null. */
export function validateRequest(endpoint: Endpoint, body: unknown): ValidationIssue | null {
  const validate = compileOpenAiValidators()[endpoint];
  return validate(body) ? null : issueOf(validate.errors);
}

/** Ajv's first error as an issue. */
function issueOf(errors: ErrorObject[] | null | undefined): ValidationIssue {
  const e = errors?.[0];
  if (!e) return { message: 'The request body is invalid.', param: null };
  let path = pathFromPointer(e.instancePath);
  // `required` and `additionalProperties` are reported on the parent: name the member
  const member =
    e.keyword === 'required' ? (e.params as { missingProperty?: string }).missingProperty : e.keyword === 'additionalProperties' ? (e.params as { additionalProperty?: string }).additionalProperty : undefined;
  if (typeof member === 'string') path = joinPath(path, member);
  const param = path === '' ? null : path;
  const what = e.keyword === 'required' ? 'is required' : e.keyword === 'additionalProperties' ? 'is not allowed' : (e.message ?? 'is invalid');
  return { message: param ? `Invalid value for '${param}': ${what}.` : `Invalid request body: ${what}.`, param };
}

/** RE2 behind Ajv's RegExpEngine interface (`u` flag: RE2 is Unicode already). */
const re2Engine = Object.assign(
  (pattern: string) => {
    const re = RE2JS.compile(pattern);
    return { test: (s: string) => re.test(s) };
  },
  { code: 'require("re2js").RE2JS.compile' },
);

/** A route's custom body validator: null when the body conforms. */
export type CustomValidator = (body: unknown) => ValidationIssue | null;

/**
 * Compiles an operator-supplied JSON Schema (draft-07, Ajv strict mode, RE2
 * patterns; no remote `$ref`, no `format` Ajv does not know).
 * @throws SchemaConfigError when the schema is not a valid, strict JSON Schema
 */
export function compileCustomSchema(schema: unknown): CustomValidator {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    if (typeof schema !== 'boolean') throw new SchemaConfigError('a custom schema must be a JSON Schema object');
  }
  let validate: ValidateFunction;
  try {
    // one Ajv per schema: operators' `$id`s must not collide across routes
    const ajv = new Ajv({ ...AJV_OPTIONS, code: { regExp: re2Engine } });
    validate = ajv.compile(schema as object | boolean);
  } catch (err) {
    // Ajv's message quotes the schema (operator config), not client data
    throw new SchemaConfigError(`invalid custom schema: ${err instanceof Error ? err.message : String(err)}`);
  }
  return (body) => (validate(body) ? null : issueOf(validate.errors));
}

/**
 * A JSON Schema given in plugin config as JSON text (Kong's schema has no "any JSON"
 * field type), compiled as `compileCustomSchema` does.
 * @throws SchemaConfigError naming `field` when the text is not JSON or not a valid schema
 */
export function compileSchemaText(field: string, text: string): CustomValidator {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SchemaConfigError(`${field}: not valid JSON`);
  }
  try {
    return compileCustomSchema(parsed);
  } catch (err) {
    throw err instanceof SchemaConfigError ? new SchemaConfigError(`${field}: ${err.message}`) : err;
  }
}
