/**
 * Contract for plugins that run after llm-auth: `kong.service.request.set_headers`
 * mutates the request headers themselves, so from then on `kong.request.get_headers`
 * returns `authorization: Bearer <company OpenAI key>`. Never log or forward request
 * headers without redacting `authorization` (Kong's own serialize() does; anything
 * we write must too).
 *
 * Keys our plugins publish in `kong.ctx.shared`. Each plugin's key doubles as its
 * bypass mark: Kong skips a plugin whose server is down, so the bundled
 * `post-function` (kong/kong.yml) answers 503 when a required mark is missing.
 * The Lua guard in kong/ reads these same names; keep them in one place.
 */
export const CTX_KEYS = {
  'llm-auth': 'llm_auth',
  'llm-rate-limit': 'llm_rate_limit',
  'llm-guard': 'llm_guard',
  'llm-response-guard': 'llm_response_guard',
  'llm-audit': 'llm_audit',
} as const;

export type SuitePlugin = keyof typeof CTX_KEYS;

/**
 * Other per-request values in `kong.ctx.shared` (not marks; the usage shape has its
 * own key in plugins/shared/usage.ts). The placeholder map
 * holds the very data llm-guard redacted: it is for llm-response-guard only and must
 * never be logged.
 */
export const SHARED_VALUES = {
  placeholders: 'llm_guard_placeholders',
} as const;

/**
 * What llm-response-guard found in one answer it scanned: entity type to occurrences
 * (every action: redacted, masked, allowed, blocked) and whether the answer was
 * withheld for a `block` type. Types and counts only, never answer text.
 *
 * It rides in a value the plugin sets anyway, under `ANSWER_CHECK_MEMBER`, so that
 * publishing it costs no PDK call of its own when the answer reports its usage:
 * - answer with usage: `kong.ctx.shared[USAGE_CTX_KEY]` = the usage plus this member
 *   (readUsage ignores it; the Lua body_filter never writes it);
 * - answer without usage: `kong.ctx.shared[CTX_KEYS['llm-response-guard']]` = the
 *   bypass mark plus this member (one call that was not made before).
 * Not published when nothing was scanned. kong/lua/serialize-values.lua copies it
 * (first from the usage value, else from the mark) to the serialized log as
 * `llm.response`, which llm-audit reads.
 */
export interface AnswerCheck {
  findings: Record<string, number>;
  blocked: boolean;
}

export const ANSWER_CHECK_MEMBER = 'answer_check';

/**
 * What llm-auth publishes under `CTX_KEYS['llm-auth']` for the other plugins
 * (schemas/shared/llm-identity.json). Read it back as `ReceivedIdentity`: the value
 * crosses Kong's Lua side, where a null member disappears.
 */
export interface PublishedIdentity {
  consumer: string | null;
  tenant: string | null;
  credential_id: string;
  scopes: string[];
  auth_method: 'api_key' | 'jwt' | 'oauth2_introspection' | 'anonymous';
}

/** `PublishedIdentity` as `kong.ctx.shared.get` returns it: null members are absent. */
export type ReceivedIdentity = Omit<PublishedIdentity, 'consumer' | 'tenant'> & {
  consumer?: string;
  tenant?: string;
};
