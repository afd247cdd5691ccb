/**
 * Vocabulary of the redaction engine: entity types, actions, spans, the operator's
 * config and the one error it throws. No Kong or PDK import anywhere in this folder:
 * llm-guard, llm-response-guard and llm-audit all adapt this one core.
 */

/** Built-in detectors that find credentials; a leak of one is an incident. */
export const SECRET_TYPES = [
  'pem_private_key',
  'jwt',
  'openai_key',
  'anthropic_key',
  'aws_access_key',
  'aws_secret_key',
  'github_token',
  'slack_token',
  'stripe_key',
  'google_api_key',
  'url_password',
] as const;

/** Built-in detectors that find personal data. */
export const PII_TYPES = ['email', 'payment_card', 'iban', 'us_ssn', 'phone', 'ipv4', 'ipv6'] as const;

export type SecretType = (typeof SECRET_TYPES)[number];
export type PiiType = (typeof PII_TYPES)[number];
/** A built-in entity type id. Stable: it appears in configs, findings and placeholders. */
export type BuiltinEntityType = SecretType | PiiType;
/** Any entity type id: built-in, or `custom:<name>` for an operator pattern. */
export type EntityType = BuiltinEntityType | `custom:${string}`;

/** Every built-in type id, secrets first. */
export const BUILTIN_TYPES: readonly BuiltinEntityType[] = [...SECRET_TYPES, ...PII_TYPES];

/**
 * What happens to a match:
 * - `redact`: replaced by a session-stable placeholder (`[EMAIL_1]`), restorable;
 * - `mask`: replaced by a partial view (`************4242`), not restorable;
 * - `block`: the type is reported in `session.blocked` (the caller rejects the request);
 *   the match is also redacted, so the text stays safe if it is logged anyway;
 * - `allow`: left as is, still counted in the findings.
 */
export type Action = 'redact' | 'mask' | 'block' | 'allow';
export const ACTIONS: readonly Action[] = ['redact', 'mask', 'block', 'allow'];

/** An operator-defined detector. `pattern` is RE2 syntax (linear-time matching). */
export interface CustomPattern {
  /** 1–64 of `[A-Za-z0-9_-]`; the entity type id is `custom:<name>`. */
  name: string;
  /** RE2 syntax, e.g. `EMP-[0-9]{6}` or `(?i)internal-[a-z]+`. Never echoed in errors. */
  pattern: string;
  action: Action;
}

/** The operator's redaction config, as the plugins' schemas declare it. */
export interface RedactionConfig {
  /** Overrides of `DEFAULT_ACTIONS`, by built-in type id. */
  actions?: Partial<Record<BuiltinEntityType, Action>>;
  custom_patterns?: readonly CustomPattern[];
}

/** One detected entity: UTF-16 offsets into the scanned text, `end` exclusive. No text. */
export interface Span {
  type: EntityType;
  start: number;
  end: number;
}

/**
 * A config the engine refuses. The message names the offending field or pattern name,
 * never a pattern's value (an operator may paste a secret into a pattern).
 */
export class RedactionConfigError extends Error {
  override readonly name = 'RedactionConfigError';
}
