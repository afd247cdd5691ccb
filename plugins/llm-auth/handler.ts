/**
 * llm-auth's Kong adapter: reads the request in one PDK call, asks the core who the
 * caller is, then acts. Hot path for an API key or a cached token:
 *
 *   kong.request.get_headers            (1)
 *   kong.client.authenticate            (2)  unless consumer_by = "none"
 *   kong.service.request.set_headers    (3)  OpenAI key in, client credentials out
 *   kong.ctx.shared.set("llm_auth", …)  (4)  identity for our other plugins + bypass mark
 *
 * With query_param_names, `kong.request.get_raw_query` is one more read (never
 * get_query: its map carries client-chosen keys; see core/query.ts).
 *
 * Header values follow Kong's setters (kong/pdk/private/checks.lua): "" is SENT as a
 * blank header, so a header to remove is set to an empty list.
 *
 * The mark goes last: if the server dies mid-phase, Kong skips the rest of it, and
 * the bypass guard must then see no mark (503) rather than a request that still
 * carries the client's credential instead of the company key.
 *
 * Kong fails open when a handler throws, so the whole phase runs under failClosed:
 * any unexpected error answers 500 itself and nothing reaches OpenAI.
 */
import { failClosed } from '../shared/fail-closed';
import { CTX_KEYS, type PublishedIdentity } from '../shared/marks';
import { internalError, reject, type Rejection } from '../shared/openai-error';
import { headersTruncated, type HeaderMultiMap, type KongPdk } from '../shared/pdk';
import { configureInstance, InvalidConfigReport, type Broken } from '../shared/plugin-instance';
import { ConsumerCache } from './consumers';
import { Authenticator, type AuthResult } from './core/authenticator';
import { extractCredential } from './core/credential';
import { MalformedCredential, MissingCredential, toRejection, type Failure } from './core/errors';
import { parseQuery, queryWithout } from './core/query';
import { DEFAULT_HEADER_NAMES, Schema, type LlmAuthConfig } from './schema';

export const PLUGIN_NAME = 'llm-auth';
const CTX_KEY = CTX_KEYS[PLUGIN_NAME];
const ANONYMOUS_CREDENTIAL_ID = 'anonymous';

/** Upstream headers that select what the company key bills to: never the client's choice. */
const OPENAI_ORGANIZATION = 'openai-organization';
const OPENAI_PROJECT = 'openai-project';
/** Headers llm-auth sets upstream itself: never cleared as client credentials. */
const UPSTREAM_OWNED = new Set(['authorization', OPENAI_ORGANIZATION, OPENAI_PROJECT]);
/** Kong's setters remove a header given an empty list ("" would send a blank value). */
const REMOVE: string[] = [];

type HeaderTable = Readonly<Record<string, string | string[]>>;

/**
 * Every named credential header removed, but the ones llm-auth sets upstream itself.
 * Authorization needs no scrubbing on a rejection either: Kong's serializer redacts
 * it, and leaving it costs no round trip on the commonest rejection (a wrong Bearer key).
 */
function removalTable(names: readonly string[]): HeaderTable {
  return Object.freeze(Object.fromEntries(names.filter((n) => !UPSTREAM_OWNED.has(n.toLowerCase())).map((n) => [n.toLowerCase(), REMOVE])));
}

/** What a rejection scrubs when the config could not be read: the schema's default headers. */
const DEFAULT_SCRUB = removalTable(DEFAULT_HEADER_NAMES);

/** What the request carried that a rejection must scrub (unknown before it is read). */
interface Seen {
  headers: HeaderMultiMap;
  rawQuery: string | null;
}

type Ready = {
  ok: true;
  config: LlmAuthConfig;
  authenticator: Authenticator;
  /** Consumers named by credentials (null with consumer_by "none"). */
  consumers: ConsumerCache | null;
  /** The `anonymous` consumer, by id or username as Kong's auth plugins take it. */
  anonymous: ConsumerCache;
  /** Every configured credential header but the ones llm-auth sets: removed upstream, and on a rejection. */
  credentialHeaders: HeaderTable;
};

export class LlmAuthHandler {
  private readonly state: Ready | Broken;
  private readonly invalid = new InvalidConfigReport();

  /** Checks the config once (plugin-instance.ts: one no request could pass with answers 500). */
  constructor(raw: unknown) {
    this.state = configureInstance<LlmAuthConfig, Ready>(
      PLUGIN_NAME,
      Schema,
      raw,
      // one Authenticator and cache per config, whichever nginx worker's instance asks
      (config) => ({
        ok: true,
        config,
        authenticator: new Authenticator(config),
        consumers: config.consumer_by === 'none' ? null : new ConsumerCache(config.consumer_by === 'username', config.consumer_cache_ttl * 1000),
        anonymous: new ConsumerCache(true, config.consumer_cache_ttl * 1000),
        credentialHeaders: removalTable(config.header_names),
      }),
      // nginx header names are case-insensitive; one spelling, so one set_headers
      // table never holds "Authorization" and "authorization" at once
      (parsed) => ({ ...parsed, header_names: [...new Set(parsed.header_names.map((n) => n.toLowerCase()))] }),
    );
  }

  async access(kong: KongPdk): Promise<void> {
    // the catch-all 500 scrubs too: blindly, since where it failed nothing may have been read
    const scrub = this.state.ok ? this.state.credentialHeaders : DEFAULT_SCRUB;
    await failClosed(kong, PLUGIN_NAME, (k) => this.authenticate(k), scrub);
  }

  private async authenticate(kong: KongPdk): Promise<void> {
    if (!this.state.ok) {
      await this.invalid.once(kong, PLUGIN_NAME, this.state);
      return this.reject(kong, internalError('llm_auth_misconfigured'), null);
    }
    const { config, authenticator } = this.state;

    const headers = await kong.request.getHeaders();
    const rawQuery = config.query_param_names.length > 0 ? ((await kong.request.getRawQuery()) ?? '') : null;
    const seen: Seen = { headers, rawQuery };
    const query = rawQuery !== null ? parseQuery(rawQuery) : null;
    const extracted = extractCredential(headers, query, config.header_names, config.query_param_names);

    let result: AuthResult;
    if (extracted === null) result = { ok: false, failure: new MissingCredential() };
    else if ('malformed' in extracted) result = { ok: false, failure: new MalformedCredential(extracted.malformed) };
    else result = await authenticator.authenticate(extracted.credential);

    if (!result.ok) return this.rejectOrAnonymous(kong, result.failure, seen);

    const { identity } = result;
    const denied = authenticator.authorize(identity);
    if (denied) return this.reject(kong, toRejection(denied, config.realm), seen);
    if (this.state.consumers && identity.consumer !== null) {
      const consumer = await this.state.consumers.get(kong, identity.consumer);
      if (!consumer) {
        await kong.log.warn(JSON.stringify({ plugin: PLUGIN_NAME, event: 'unknown_consumer', credential_id: identity.credential_id }));
        return this.rejectOrAnonymous(kong, new MalformedCredential('The credential is not linked to a known consumer.'), seen);
      }
      await kong.client.authenticate(consumer, { id: identity.credential_id, consumer_id: consumer.id });
    }
    const published: PublishedIdentity = {
      consumer: identity.consumer,
      tenant: identity.tenant,
      credential_id: identity.credential_id,
      scopes: [...identity.scopes],
      auth_method: identity.auth_method,
    };
    await this.proxyAs(kong, published.tenant, rawQuery);
    await kong.ctx.shared.set(CTX_KEY, published);
  }

  /** Kong's auth plugins fall back to `anonymous` on 401; 403/503/500 stay as they are. */
  private async rejectOrAnonymous(kong: KongPdk, failure: Failure, seen: Seen): Promise<void> {
    const { config, anonymous } = this.state as Ready;
    await logFailure(kong, failure);
    const rejection = toRejection(failure, config.realm);
    // anonymous holds no scope and no tenant: a route that demands either still says 401
    const anonymousAllowed = config.anonymous !== null && config.required_scopes.length === 0 && config.allowed_tenants.length === 0;
    if (rejection.status !== 401 || !anonymousAllowed) return this.reject(kong, rejection, seen);

    const consumer = await anonymous.get(kong, config.anonymous!);
    if (!consumer) {
      await kong.log.err(JSON.stringify({ plugin: PLUGIN_NAME, event: 'anonymous_consumer_not_found' }));
      return this.reject(kong, internalError('llm_auth_misconfigured'), seen);
    }
    await kong.client.authenticate(consumer, null);
    await this.proxyAs(kong, null, seen.rawQuery);
    await kong.ctx.shared.set(CTX_KEY, {
      consumer: consumer.username ?? consumer.id,
      tenant: null,
      credential_id: ANONYMOUS_CREDENTIAL_ID,
      scopes: [],
      auth_method: 'anonymous',
    } satisfies PublishedIdentity);
  }

  /**
   * The one way llm-auth rejects: first the client's credentials leave the request
   * (Kong's log plugins serialize it and redact only Authorization, so a key in
   * another header or in the query would be logged in clear), then the OpenAI-format
   * answer. When the request was read, it costs a call only if a credential header or
   * parameter is there; when it was not (a config that could not be read), every
   * header that could carry one is removed without looking.
   */
  private async reject(kong: KongPdk, rejection: Rejection, seen: Seen | null): Promise<void> {
    if (seen === null) {
      await kong.service.request.setHeaders(this.state.ok ? this.state.credentialHeaders : DEFAULT_SCRUB);
      return reject(kong, rejection);
    }
    const { credentialHeaders } = this.state as Ready;
    // a map cut at Kong's 100 lines may hide a credential header: scrub without looking
    const present = headersTruncated(seen.headers) || Object.keys(credentialHeaders).some((name) => Object.hasOwn(seen.headers, name));
    if (present) await kong.service.request.setHeaders(credentialHeaders);
    await this.clearQueryCredentials(kong, seen.rawQuery);
    return reject(kong, rejection);
  }

  private async clearQueryCredentials(kong: KongPdk, rawQuery: string | null): Promise<void> {
    const { config } = this.state as Ready;
    if (rawQuery === null) return;
    const query = parseQuery(rawQuery);
    if (config.query_param_names.some((n) => Object.hasOwn(query, n))) {
      await kong.service.request.setRawQuery(queryWithout(rawQuery, config.query_param_names));
    }
  }

  /**
   * One set_headers call: the company key replaces the client's Authorization, every
   * other configured credential header is removed, and OpenAI-Organization/Project
   * are ours to choose, never the client's: set when configured, removed otherwise.
   * A credential in the query string costs one more call.
   */
  private async proxyAs(kong: KongPdk, tenant: string | null, rawQuery: string | null): Promise<void> {
    const { config } = this.state as Ready;
    const perTenant = tenant !== null ? config.tenant_headers?.[tenant] : undefined;
    const upstream: Record<string, string | string[]> = config.hide_credentials ? { ...(this.state as Ready).credentialHeaders } : {};
    upstream.authorization = `Bearer ${config.openai_api_key}`;
    upstream[OPENAI_ORGANIZATION] = perTenant?.organization ?? config.openai_organization ?? REMOVE;
    upstream[OPENAI_PROJECT] = perTenant?.project ?? config.openai_project ?? REMOVE;
    await kong.service.request.setHeaders(upstream);
    if (config.hide_credentials) await this.clearQueryCredentials(kong, rawQuery);
  }
}

/** Failures an operator must hear of; credential problems are the client's and not logged. */
async function logFailure(kong: KongPdk, failure: Failure): Promise<void> {
  if (failure.kind === 'internal') {
    await kong.log.err(JSON.stringify({ plugin: PLUGIN_NAME, event: 'internal_error', detail: failure.detail }));
  } else if (failure.kind === 'unavailable') {
    await kong.log.warn(JSON.stringify({ plugin: PLUGIN_NAME, event: 'auth_provider_unavailable', provider: failure.provider, detail: failure.detail }));
  }
}
