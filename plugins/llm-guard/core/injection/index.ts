/**
 * Prompt-injection detection core of llm-guard: normalization, the built-in rules,
 * operator deny patterns, and the compiled per-config policy. No Kong import.
 */
export { normalizeForScan, stripInvisible } from './normalize';
export {
  BUILTIN_RULES,
  INJECTION_CATEGORIES,
  type InjectionCategory,
  type InjectionRuleInfo,
  type PayloadEncoding,
} from './rules';
export {
  compileInjectionPolicy,
  CUSTOM_CATEGORY,
  CUSTOM_RULE_PREFIX,
  InjectionConfigError,
  MAX_CUSTOM_PATTERNS,
  MAX_PATTERN_LENGTH,
  type CustomPattern,
  type FindingCategory,
  type InjectionFinding,
  type InjectionPolicy,
  type InjectionPolicyConfig,
} from './policy';
