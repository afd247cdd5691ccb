/**
 * llm-auth configuration, declared once as Kong schema data. `Schema` is what Kong
 * validates configs against; `LlmAuthConfig` is derived from the same declaration.
 */
import { array, boolean, integer, map, record, set, string, toKongFields, type ConfigOf } from '../shared/kong-schema';

export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** What a JWKS key may be pinned to: never an HMAC (a JWKS is public). */
export const ASYMMETRIC_JWT_ALGORITHMS = JWT_ALGORITHMS.filter((a) => !a.startsWith('HS'));

export const AUTH_METHODS = ['api_key', 'jwt', 'oauth2_introspection'] as const;
/** Where clients send credentials by default: also what a rejection scrubs when the config could not be read. */
export const DEFAULT_HEADER_NAMES = ['authorization', 'api-key', 'x-api-key'] as const;

const apiKey = record(
  {
    id: string({ required: true, len_min: 1, description: 'Credential identifier, published as credential_id and logged instead of the key.' }),
    key_hash: string({
      required: true,
      starts_with: 'sha256:',
      referenceable: true,
      encrypted: true,
      description: 'SHA-256 of the API key as "sha256:<64 hex chars>" (npm run keygen prints it); the key itself is never stored.',
    }),
    consumer: string({ required: true, len_min: 1, description: 'Kong consumer (username or id, per consumer_by) this key authenticates as.' }),
    tenant: string({ description: 'Tenant this key belongs to, for allowed_tenants, tenant_headers and per-tenant limits.' }),
    scopes: set(string({ description: 'A scope granted to this key.' }), { default: [], description: 'Scopes granted to this key, checked against required_scopes.' }),
  },
  { description: 'One API key, stored as a hash with the identity it grants.' },
);

const jwtKey = record(
  {
    kid: string({ description: 'Key id matched against the token header "kid"; a key without kid matches tokens without kid.' }),
    algorithm: string({ required: true, one_of: JWT_ALGORITHMS, description: 'The only algorithm accepted for this key; the token header cannot choose another.' }),
    secret: string({ referenceable: true, encrypted: true, description: 'Shared secret for HS256/384/512 keys.' }),
    public_key: string({ referenceable: true, description: 'PEM public key (or certificate) for RS*, PS*, ES* and EdDSA keys.' }),
  },
  { description: 'One JWT verification key, pinned to one algorithm.' },
);

const jwtConfig = record(
  {
    keys: array(jwtKey, { default: [], description: 'Static verification keys, each pinned to one algorithm.' }),
    jwks_uri: string({
      description:
        'JWKS URL to fetch signing keys from (https://; http:// only to this host: 127.0.0.0/8, [::1] or localhost; redirects are refused); cached and refetched on an unknown kid.',
    }),
    jwks_algorithms: set(string({ one_of: ASYMMETRIC_JWT_ALGORITHMS, description: 'An algorithm accepted for JWKS keys.' }), {
      default: [...ASYMMETRIC_JWT_ALGORITHMS],
      description: 'Algorithms accepted for JWKS keys (never HS*); a JWK with "alg" is pinned to it.',
    }),
    jwks_cache_ttl: integer({ default: 300, between: [1, 86400], description: 'Seconds a fetched JWKS is used before it is refetched.' }),
    jwks_refetch_interval: integer({ default: 30, between: [1, 3600], description: 'Minimum seconds between JWKS refetches triggered by an unknown kid.' }),
    jwks_timeout_ms: integer({ default: 2000, between: [100, 60000], description: 'Timeout in milliseconds for fetching the JWKS.' }),
    issuers: set(string({ description: 'An accepted "iss" claim.' }), {
      default: [],
      description: 'Accepted "iss" values; required with jwks_uri. Empty accepts any issuer (static keys only).',
    }),
    audiences: set(string({ description: 'An accepted "aud" value.' }), {
      default: [],
      description: 'Accepted "aud" values (any one must match); required with jwks_uri. Empty skips the check (static keys only).',
    }),
    issuer_prefixes: map(string({ len_min: 1, description: 'The consumer-name prefix for this issuer.' }), {
      description:
        'Consumer-name prefix per issuer ("iss" → prefix): the published consumer is the prefix + consumer_claim, so the same "sub" from two issuers names two consumers. Required for every entry of issuers when it has more than one; with issuers empty, only the issuers named here are accepted. No prefix may begin another.',
    }),
    clock_skew_seconds: integer({ default: 60, between: [0, 600], description: 'Leeway in seconds for "exp" and "nbf".' }),
    require_exp: boolean({ default: true, description: 'Reject tokens without an "exp" claim.' }),
    consumer_claim: string({ default: 'sub', description: 'Claim holding the Kong consumer (username or id, per consumer_by).' }),
    tenant_claim: string({ description: 'Claim holding the tenant; unset means tokens carry no tenant.' }),
    scope_claims: array(string({ description: 'A claim name.' }), {
      default: ['scope', 'scp'],
      description: 'Claims read for scopes: a space-separated string ("scope") or an array ("scp", or e.g. "roles"); all are merged.',
    }),
  },
  { required: true, description: 'JWT verification (RFC 7519) settings.' },
);

const introspection = record(
  {
    endpoint: string({
      description: 'RFC 7662 token introspection endpoint URL (https://; http:// only to this host: 127.0.0.0/8, [::1] or localhost; redirects are refused).',
    }),
    client_id: string({ referenceable: true, description: 'Client id for HTTP Basic authentication at the introspection endpoint.' }),
    client_secret: string({ referenceable: true, encrypted: true, description: 'Client secret for HTTP Basic authentication at the introspection endpoint.' }),
    token_type_hint: string({ default: 'access_token', description: 'token_type_hint sent with each introspection request.' }),
    timeout_ms: integer({ default: 2000, between: [100, 60000], description: 'Timeout in milliseconds for one introspection request.' }),
    max_concurrent: integer({
      default: 32,
      between: [1, 10000],
      description: 'Introspection requests in flight at once; past it, unknown tokens get 503, so a flood of made-up tokens cannot flood the authorization server.',
    }),
    cache_ttl: integer({ default: 300, between: [0, 86400], description: 'Maximum seconds an active token is cached; never past its "exp".' }),
    negative_cache_ttl: integer({
      default: 10,
      between: [0, 3600],
      description: 'Seconds an inactive token (or one for another audience, issuer or token type) is remembered as refused.',
    }),
    audiences: set(string({ description: 'An accepted "aud" value.' }), {
      default: [],
      description:
        'Accepted "aud" values of the introspection response, a string or an array (any one must match); required with an endpoint: the authorization server answers "active" for tokens it issued to any client.',
    }),
    issuers: set(string({ description: 'An accepted "iss" value.' }), {
      default: [],
      description: 'Accepted "iss" values of the introspection response; empty accepts any.',
    }),
    clock_skew_seconds: integer({ default: 60, between: [0, 600], description: 'Leeway in seconds for the response\'s "exp" and "nbf".' }),
    consumer_claim: string({ default: 'sub', description: 'Introspection response member holding the Kong consumer.' }),
    tenant_claim: string({ description: 'Introspection response member holding the tenant.' }),
  },
  { required: true, description: 'OAuth2 token introspection (RFC 7662) settings.' },
);

const upstreamHeaders = record(
  {
    organization: string({ description: 'OpenAI-Organization header sent upstream for this tenant.' }),
    project: string({ description: 'OpenAI-Project header sent upstream for this tenant.' }),
  },
  { description: 'OpenAI organization and project for one tenant.' },
);

export const fields = {
  methods: set(string({ one_of: AUTH_METHODS, description: 'An accepted authentication method.' }), {
    default: ['api_key'],
    len_min: 1,
    description: 'Accepted methods: api_key, jwt, oauth2_introspection. A JWT-shaped credential goes to jwt, any other to api_key, then to introspection.',
  }),
  header_names: array(string({ description: 'A header name.' }), {
    default: [...DEFAULT_HEADER_NAMES],
    description: 'Headers read for the credential, in order; "authorization" must carry "Bearer <credential>".',
  }),
  query_param_names: array(string({ description: 'A query parameter name.' }), {
    default: [],
    description: 'Query parameters read for the credential (off by default: URLs end up in logs).',
  }),
  api_keys: array(apiKey, { default: [], description: 'API keys, stored only as SHA-256 hashes.' }),
  jwt: jwtConfig,
  introspection,
  consumer_by: string({
    default: 'username',
    one_of: ['username', 'id', 'none'],
    description: 'How the credential\'s consumer names a Kong consumer (kong.client.load_consumer by username or id); "none" skips kong.client.authenticate.',
  }),
  consumer_cache_ttl: integer({ default: 60, between: [0, 3600], description: 'Seconds a Kong consumer entity is reused before it is loaded again.' }),
  anonymous: string({ description: 'Consumer (username or id) used when authentication fails with 401, as in Kong\'s auth plugins; unset rejects.' }),
  required_scopes: set(string({ description: 'A scope the credential must hold.' }), { default: [], description: 'Scopes every credential on this route must hold (all of them), e.g. an admin scope.' }),
  allowed_tenants: set(string({ description: 'An allowed tenant.' }), { default: [], description: 'Tenants allowed on this route; empty allows any.' }),
  hide_credentials: boolean({ default: true, description: 'Remove the client\'s credential header before proxying.' }),
  openai_api_key: string({
    required: true,
    referenceable: true,
    encrypted: true,
    description: 'The upstream OpenAI key, sent as "Authorization: Bearer"; use a vault reference such as {vault://env/openai-api-key}.',
  }),
  openai_organization: string({ description: 'Default OpenAI-Organization header sent upstream.' }),
  openai_project: string({ description: 'Default OpenAI-Project header sent upstream.' }),
  tenant_headers: map(upstreamHeaders, { description: 'Per-tenant OpenAI-Organization / OpenAI-Project, overriding the defaults.' }),
  cache_size: integer({ default: 10000, between: [0, 10000000], description: 'Verified credentials kept in memory (0 disables the cache).' }),
  cache_ttl: integer({ default: 300, between: [1, 86400], description: 'Maximum seconds a verified credential is cached; never past its expiry.' }),
  negative_cache_size: integer({
    default: 1000,
    between: [0, 1000000],
    description:
      'Refused credentials (e.g. inactive introspection tokens) remembered, in a cache of their own: a flood of made-up tokens evicts only other refusals, never verified credentials (0 remembers none).',
  }),
  realm: string({ default: 'kong', description: 'Realm in the WWW-Authenticate challenge.' }),
};

export type LlmAuthConfig = ConfigOf<typeof fields>;
export type ApiKeyConfig = LlmAuthConfig['api_keys'][number];
export type JwtConfig = LlmAuthConfig['jwt'];
export type JwtKeyConfig = JwtConfig['keys'][number];
export type IntrospectionConfig = LlmAuthConfig['introspection'];

export const Schema = toKongFields(fields);
