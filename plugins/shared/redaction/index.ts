/**
 * The shared PII and secret redaction engine: one set of detectors for llm-guard
 * (prompts), llm-response-guard (answers, with restore) and llm-audit (findings only).
 * Pure TypeScript, no Kong import.
 *
 * ```ts
 * const policy = compileRedactionPolicy({ actions: { ipv4: 'allow' }, custom_patterns: [] }); // once per config
 * const session = policy.newSession();                                                    // once per request
 * const { text } = session.redact(prompt);
 * if (session.blocked.size > 0) ...reject, naming [...session.blocked]
 * const answer = session.restore(modelAnswer);
 * ```
 */
export {
  compileRedactionPolicy,
  scanText,
  DEFAULT_ACTIONS,
  MAX_CUSTOM_PATTERNS,
  MAX_PATTERN_LENGTH,
  type RedactionPolicy,
  type RedactionSession,
  type RedactionResult,
} from './engine';
export { maskValue } from './mask';
export {
  ACTIONS,
  BUILTIN_TYPES,
  PII_TYPES,
  SECRET_TYPES,
  RedactionConfigError,
  type Action,
  type BuiltinEntityType,
  type CustomPattern,
  type EntityType,
  type PiiType,
  type RedactionConfig,
  type SecretType,
  type Span,
} from './types';
