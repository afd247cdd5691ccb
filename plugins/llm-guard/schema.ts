/**
 * llm-guard configuration, declared once as Kong schema data; `LlmGuardConfig` is
 * derived from the same declaration. Cross-field rules (patterns that must compile,
 * a custom JSON Schema that must be valid) are checked when the instance starts.
 */
import { array, boolean, integer, map, record, set, string, toKongFields, type ConfigOf } from '../shared/kong-schema';

import { BODY_BUFFER_BYTES } from '../shared/pdk';

export { BODY_BUFFER_BYTES };

export const REDACTION_ACTIONS = ['redact', 'mask', 'block', 'allow'] as const;
export const INJECTION_ACTIONS = ['block', 'flag', 'off'] as const;

const namedPattern = record(
  {
    name: string({ required: true, len_min: 1, description: 'Name reported in findings (never the matched text).' }),
    pattern: string({ required: true, len_min: 1, description: 'RE2 syntax, matched in linear time; a pattern RE2 refuses is a config error.' }),
  },
  { description: 'A named pattern.' },
);

const redactionPattern = record(
  {
    name: string({ required: true, len_min: 1, description: 'Entity type reported as custom:<name>.' }),
    pattern: string({ required: true, len_min: 1, description: 'RE2 syntax, matched in linear time; a pattern RE2 refuses is a config error.' }),
    action: string({ default: 'redact', one_of: REDACTION_ACTIONS, description: 'What to do with a match.' }),
  },
  { description: 'A custom sensitive-data pattern.' },
);

const injection = record(
  {
    action: string({
      default: 'block',
      one_of: INJECTION_ACTIONS,
      description: 'block answers 400 (prompt_injection_detected); flag forwards and records the rule ids in the request facts; off skips the check.',
    }),
    builtin_rules: boolean({ default: true, description: 'Run the built-in rule set (instruction override, system-prompt extraction, role-play jailbreaks, delimiter and markup injection, encoded payloads).' }),
    custom_patterns: array(namedPattern, { default: [], description: 'Extra deny patterns, matched on the normalized text.' }),
  },
  { required: true, description: 'Prompt-injection checks on the normalized prompt text.' },
);

const redaction = record(
  {
    enabled: boolean({ default: true, description: 'Scan prompts for personal data and secrets before they are forwarded.' }),
    actions: map(string({ one_of: REDACTION_ACTIONS, description: 'An action.' }), {
      default: {},
      description: 'Per entity type (email, phone, payment_card, iban, us_ssn, ipv4, ipv6, openai_key, ...): redact (stable placeholders such as [EMAIL_1]), mask, block (400) or allow; unlisted types use the built-in default.',
    }),
    custom_patterns: array(redactionPattern, { default: [], description: 'Extra sensitive-data patterns.' }),
    share_placeholders: boolean({
      default: false,
      description:
        'Publish the request\'s placeholder-to-value map in kong.ctx.shared (llm_guard_placeholders) so llm-response-guard can put the values back into the answer; one more PDK call when a placeholder was used. The map holds the redacted data: never log kong.ctx.shared wholesale.',
    }),
  },
  { required: true, description: 'Redaction of personal data and secrets in prompts.' },
);

export const fields = {
  endpoint: string({
    default: 'auto',
    one_of: ['auto', 'chat.completions', 'completions', 'embeddings', 'responses'],
    description:
      'The OpenAI endpoint this route serves: auto reads the request path (one more PDK call); naming it saves that call, for a route whose paths match that one endpoint exactly (e.g. "~/v1/chat/completions$"), never one that also serves other paths.',
  }),
  max_body_bytes: integer({
    default: 1048576,
    between: [1, BODY_BUFFER_BYTES],
    description: 'Largest request body accepted (413 above it), checked from Content-Length before the body is read; at most the gateway body buffer (2 MiB).',
  }),
  max_json_depth: integer({ default: 32, between: [2, 256], description: 'Deepest JSON nesting accepted (400 above it).' }),
  max_string_bytes: integer({ default: 1048576, between: [1, BODY_BUFFER_BYTES], description: 'Longest JSON string accepted (400 above it).' }),
  max_array_length: integer({ default: 4096, between: [1, 1000000], description: 'Longest JSON array accepted (400 above it).' }),
  unknown_endpoints: string({
    default: 'allow',
    one_of: ['allow', 'deny'],
    description: 'Requests to paths other than chat/completions, completions, embeddings and responses: passed unchecked, or refused with 403.',
  }),
  validate_schema: boolean({ default: true, description: 'Validate bodies against the OpenAI request schemas (schemas/openai/).' }),
  custom_schema: string({ description: 'A JSON Schema (as JSON text) every request body on this route must also satisfy; checked when the config loads.' }),
  allowed_models: set(string({ description: 'A model name, "*" matching any run of characters.' }), { default: [], description: 'Models allowed (exact or glob such as gpt-4o*); empty allows any.' }),
  denied_models: set(string({ description: 'A model name, "*" matching any run of characters.' }), { default: [], description: 'Models refused even when allowed_models matches.' }),
  max_tokens_ceiling: integer({ between: [1, 10000000], description: 'Ceiling on max_tokens, max_completion_tokens and max_output_tokens.' }),
  ceiling_action: string({ default: 'clamp', one_of: ['clamp', 'reject'], description: 'Over the ceiling: lower the value to it, or answer 400.' }),
  max_n: integer({ between: [1, 128], description: 'Ceiling on n (choices per request).' }),
  max_messages: integer({ between: [1, 100000], description: 'Ceiling on the number of chat messages.' }),
  max_prompt_tokens: integer({ between: [1, 100000000], description: 'Ceiling on the prompt\'s tokens, counted with the model\'s tokenizer.' }),
  denied_parameters: set(string({ description: 'A top-level body member.' }), { default: [], description: 'Body members refused on this route, e.g. logit_bias, tools, functions.' }),
  injection,
  redaction,
  include_usage: boolean({
    default: true,
    description:
      'For "stream": true without stream_options.include_usage, ask OpenAI for the usage chunk (so limits and audit get exact tokens) and say so in the request facts; the post-function\'s usage-capture Lua (kong/lua/usage-capture.lua) removes that chunk before the client sees it.',
  }),
  offload_bytes: integer({
    default: 65536,
    between: [0, BODY_BUFFER_BYTES],
    description: 'Bodies larger than this are checked in a worker thread, so one huge prompt cannot stall the plugin server; 0 checks every body in a worker.',
  }),
} as const;

export type LlmGuardConfig = ConfigOf<typeof fields>;
export type InjectionConfig = LlmGuardConfig['injection'];
export type RedactionConfig = LlmGuardConfig['redaction'];

/** What kong-js-pluginserver exports as the plugin's `Schema` (config fields). */
export const Schema = toKongFields(fields);
