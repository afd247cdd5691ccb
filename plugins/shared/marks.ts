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
