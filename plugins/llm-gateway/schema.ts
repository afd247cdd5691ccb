/**
 * llm-gateway configuration: one record per stage, each holding exactly the fields of
 * the separate plugin (the same declarations, imported, never copied), each optional:
 * a stage whose record is absent does not run. So a route moves between the two
 * faces by moving a plugin's `config:` block under its stage name, unchanged.
 *
 *   auth        llm-auth's config         (access, first)
 *   guard       llm-guard's config        (access, second)
 *   rate_limit  llm-rate-limit's config   (access, third; settles in the ingest)
 *   audit       llm-audit's config        (records written by the ingest)
 */
import { record, toKongFields, type ConfigOf } from '../shared/kong-schema';
import { fields as auditFields } from '../llm-audit/schema';
import { fields as authFields } from '../llm-auth/schema';
import { fields as guardFields } from '../llm-guard/schema';
import { fields as rateLimitFields } from '../llm-rate-limit/schema';

export const fields = {
  auth: record(authFields, { required: false, description: "llm-auth's config: who is calling. Absent: no authentication stage." }),
  guard: record(guardFields, { required: false, description: "llm-guard's config: payload validation, prompt-injection checks, redaction. Absent: no guard stage." }),
  rate_limit: record(rateLimitFields, { required: false, description: "llm-rate-limit's config: request, token and USD limits. Absent: no limits." }),
  audit: record(auditFields, { required: false, description: "llm-audit's config: the audit records, written by the plugin server from what the Lua log phase ships. Absent: no records." }),
} as const;

export type LlmGatewayConfig = ConfigOf<typeof fields>;

/** The stages, in the order they run (the separate plugins' priority order). */
export const STAGES = ['auth', 'guard', 'rate_limit'] as const;

/** What kong-js-pluginserver exports as the plugin's `Schema` (config fields). */
export const Schema = toKongFields(fields);
