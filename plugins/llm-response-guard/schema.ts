/**
 * llm-response-guard configuration, declared once as Kong schema data; the
 * TypeScript type is derived from it. Patterns and the answer schema are checked
 * when the instance starts.
 */
import { array, boolean, integer, map, record, string, toKongFields, type ConfigOf } from '../shared/kong-schema';

export const REDACTION_ACTIONS = ['redact', 'mask', 'block', 'allow'] as const;

const redactionPattern = record(
  {
    name: string({ required: true, len_min: 1, description: 'Entity type reported as custom:<name>.' }),
    pattern: string({ required: true, len_min: 1, description: 'RE2 syntax, matched in linear time; a pattern RE2 refuses is a config error.' }),
    action: string({ default: 'redact', one_of: REDACTION_ACTIONS, description: 'What to do with a match.' }),
  },
  { description: 'A custom sensitive-data pattern.' },
);

export const fields = {
  redaction: record(
    {
      enabled: boolean({ default: true, description: 'Scan answers for personal data and secrets before the client gets them.' }),
      actions: map(string({ one_of: REDACTION_ACTIONS, description: 'An action.' }), {
        default: {},
        description: 'Per entity type, as in llm-guard: redact, mask, block (the answer is withheld: 502) or allow; unlisted types use the built-in default.',
      }),
      custom_patterns: array(redactionPattern, { default: [], description: 'Extra sensitive-data patterns.' }),
    },
    { required: true, description: 'Redaction of personal data and secrets in answers.' },
  ),
  restore_placeholders: boolean({
    default: false,
    description: 'Put the values llm-guard replaced in the request (share_placeholders on) back into the answer, after redaction: the client gets its own data back, OpenAI never saw it.',
  }),
  response_schema: string({ description: 'A JSON Schema (as JSON text) every JSON answer must satisfy; an answer that does not is withheld (502).' }),
  max_answer_bytes: integer({ default: 8388608, between: [1024, 67108864], description: 'Largest answer inspected; a larger one is withheld (502) rather than passed unchecked.' }),
};

export type LlmResponseGuardConfig = ConfigOf<typeof fields>;

/** What kong-js-pluginserver exports as the plugin's `Schema` (config fields). */
export const Schema = toKongFields(fields);
