/**
 * llm-rate-limit's Kong adapter: reads who is asking and what the request will cost,
 * asks the limiter, acts.
 *
 * access, admitted (3 PDK calls on a route behind llm-auth and llm-guard):
 *   kong.ctx.shared.get("llm_auth")     (1)  the identity (key_by consumer/credential/tenant,
 *                                            or any key_by with overrides configured)
 *     or kong.client.get_forwarded_ip / kong.request.get_header  (key_by ip / header)
 *   kong.ctx.shared.get("llm_guard")    (2)  the request facts llm-guard published; only
 *                                            when a limit counts tokens or USD
 *   kong.ctx.shared.set("llm_rate_limit", decision)  (3)  the decision, the headers the
 *                                            header_filter Lua sets, the serialized-log
 *                                            fields; also this plugin's bypass mark
 * Without llm-guard's facts it reads the body itself (get_path, get_raw_body, and
 * set_raw_body when it adds stream_options.include_usage). Refused: the decision is
 * published, then `kong.response.exit(429)` with the headers and Retry-After.
 * Rate-limit headers on admitted answers are set by kong/lua/ratelimit-headers.lua in
 * header_filter: set here they would be joined with OpenAI's own (Kong 3.10: "7, 0").
 *
 * log (2 calls; none when every limit counts requests): our decision back, then the
 * usage the body_filter Lua published;
 * settles the reservation to the actual tokens and cost (exact, or estimated from the
 * answer's size), refunding or charging the difference on every token and USD limit.
 * Kong runs this in a timer after serializing the request for its log plugins, so
 * nothing here can reach them: what they carry was published in access.
 *
 * Kong fails open when a handler throws, so access runs under failClosed: an error
 * answers 500 and no request passes unlimited by accident.
 */
import { flushDeferredLogs } from '../shared/deferred-log';
import { failClosed } from '../shared/fail-closed';
import { CTX_KEYS, type ReceivedIdentity } from '../shared/marks';
import { internalError, reject, type Rejection } from '../shared/openai-error';
import { BODY_BUFFER_BYTES, type KongPdk } from '../shared/pdk';
import { configureInstance, InvalidConfigReport, type Broken } from '../shared/plugin-instance';
import { compilePriceTable, costOf, type PriceTable } from '../shared/pricing';
import { readRequestFacts, type RequestFacts } from '../shared/request/facts';
import { measureRequest } from '../shared/request/measure';
import { endpointOf } from '../shared/request/openai';
import { safeError } from '../shared/safe-error';
import { USAGE_CTX_KEY } from '../shared/usage';
import { actualUsage } from '../shared/usage-actual';
import { LimitConfigError, StoreUnavailableError } from './core';
import { logLimits, readPublishedDecision, refusal, refusingLimit, type PublishedDecision } from './core/decision';
import { rateLimitHeaders, retryAfterHeader } from './core/headers';
import { RateLimitPlan, type LimitSet } from './core/plan';
import { Schema, type KeyBy, type LlmRateLimitConfig } from './schema';
import { storeFor } from './stores';
import { textOrNull } from '../shared/values';

export const PLUGIN_NAME = 'llm-rate-limit';
const CTX_KEY = CTX_KEYS[PLUGIN_NAME];
const AUTH_KEY = CTX_KEYS['llm-auth'];
const GUARD_KEY = CTX_KEYS['llm-guard'];
/** Log-phase failures are logged at most this often (a Redis outage fails every one). */
const LOG_ERROR_INTERVAL_MS = 30_000;

type Ready = { ok: true; config: LlmRateLimitConfig; plan: RateLimitPlan; prices: PriceTable };

interface Caller {
  /** The key kind used (`ip` when key_missing fell back to it). */
  keyBy: KeyBy;
  value: string | null;
  consumer: string | null;
  tenant: string | null;
}


function keyMissing(keyBy: KeyBy, header: string | null): Rejection {
  const what = keyBy === 'header' ? `the ${header} header` : `a ${keyBy}`;
  return {
    status: 403,
    type: 'permission_error',
    code: 'rate_limit_key_missing',
    param: null,
    message: `This route limits requests by ${what}, and the request has none.`,
  };
}

const storeUnavailable = (): Rejection => ({
  status: 503,
  type: 'service_unavailable',
  code: 'rate_limit_store_unavailable',
  param: null,
  message: 'The gateway cannot check rate limits right now. Retry shortly.',
  headers: { 'Retry-After': '1' },
});

export class LlmRateLimitHandler {
  private readonly state: Ready | Broken;
  private readonly invalid = new InvalidConfigReport();
  private lastLogError = -Infinity;

  /** Checks the config and builds its limiters once (a broken config answers 500). */
  constructor(raw: unknown) {
    this.state = configureInstance<LlmRateLimitConfig, Ready>(PLUGIN_NAME, Schema, raw, (config) => {
      if (config.key_by === 'header' && !config.header_name) throw new LimitConfigError('key_by "header" needs header_name');
      return {
        ok: true,
        config,
        plan: new RateLimitPlan(config, storeFor(config)),
        prices: compilePriceTable(config.prices, { default_price: config.default_price }),
      };
    });
  }

  async access(kong: KongPdk): Promise<void> {
    await failClosed(kong, PLUGIN_NAME, async (k) => {
      // a store fault or recovery since the last request (no call when there is none);
      // first: nothing may follow a kong.response.exit in the same phase
      await flushDeferredLogs(k);
      await this.limit(k);
    });
  }

  private async limit(kong: KongPdk): Promise<void> {
    if (!this.state.ok) {
      await this.invalid.once(kong, PLUGIN_NAME, this.state);
      return reject(kong, internalError('llm_rate_limit_misconfigured'));
    }
    const { config, plan, prices } = this.state;

    const caller = await this.identify(kong, config, plan);
    if (caller.value === null) {
      if (config.key_missing === 'reject') return reject(kong, keyMissing(config.key_by, config.header_name));
      caller.keyBy = 'ip';
      caller.value = await kong.client.getForwardedIp();
    }
    const set = plan.setFor(caller.consumer, caller.tenant);

    const { facts, body } = set.needsTokens ? await this.requestFacts(kong, config) : { facts: null, body: null };
    const amounts = plan.amounts(set, facts, prices);
    let result;
    try {
      result = await set.limiter.check(plan.keys(set, plan.key(caller.keyBy, caller.value)), amounts);
    } catch (err) {
      if (err instanceof StoreUnavailableError) return reject(kong, storeUnavailable());
      throw err;
    }

    const headers = config.hide_client_headers ? {} : rateLimitHeaders(result.limits);
    const decision: PublishedDecision = {
      allowed: result.allowed,
      limit_set: set.name,
      include_usage_injected: body !== null,
      hide_upstream_headers: config.hide_upstream_headers,
      log: {
        allowed: result.allowed,
        key_by: caller.keyBy,
        limit_set: set.name,
        store: result.source,
        limits: logLimits(result.limits),
        reserved: result.allowed ? { tokens: amounts.tokens ?? 0, usd_micros: amounts.usd ?? 0 } : { tokens: 0, usd_micros: 0 },
      },
    };
    if (!config.hide_client_headers) decision.headers = headers;
    if (facts) {
      decision.request = {
        endpoint: facts.endpoint,
        model: facts.model,
        stream: facts.stream,
        include_usage: facts.include_usage_injected,
        prompt_tokens: facts.prompt_tokens,
      };
    }

    if (!result.allowed) {
      const refused = refusingLimit(result);
      decision.log.refused_by = refused.id;
      await kong.ctx.shared.set(CTX_KEY, decision);
      const requested = { requests: 1, tokens: amounts.tokens ?? 0, usd: amounts.usd ?? 0 };
      return reject(kong, refusal(result, requested, { ...headers, ...retryAfterHeader(result.retryAfterMs) }));
    }
    decision.reservation = result.reservation!;
    if (body !== null) await kong.service.request.setRawBody(body);
    await kong.ctx.shared.set(CTX_KEY, decision);
  }

  /** Whose limits: one call (llm-auth's identity, the client address or a header). */
  private async identify(kong: KongPdk, config: LlmRateLimitConfig, plan: RateLimitPlan): Promise<Caller> {
    const keyBy = config.key_by;
    const caller: Caller = { keyBy, value: null, consumer: null, tenant: null };
    const fromIdentity = keyBy === 'consumer' || keyBy === 'credential' || keyBy === 'tenant';
    if (fromIdentity || plan.hasOverrides) {
      const id = (await kong.ctx.shared.get<ReceivedIdentity>(AUTH_KEY)) as Partial<ReceivedIdentity> | undefined;
      if (id !== undefined && id !== null && typeof id === 'object') {
        caller.consumer = textOrNull(id.consumer);
        caller.tenant = textOrNull(id.tenant);
        if (keyBy === 'consumer') caller.value = caller.consumer;
        else if (keyBy === 'credential') caller.value = textOrNull(id.credential_id);
        else if (keyBy === 'tenant') caller.value = caller.tenant;
      } else {
        // no llm-auth on this route: Kong's own auth plugins (key-auth, jwt, ...) may have run
        if (keyBy === 'consumer' || plan.hasConsumerOverrides) {
          const c = await kong.client.getConsumer();
          caller.consumer = c ? textOrNull(c.username) ?? textOrNull(c.id) : null;
          if (keyBy === 'consumer') caller.value = caller.consumer;
        }
        if (keyBy === 'credential') {
          const c = await kong.client.getCredential();
          caller.value = c ? textOrNull(c.id) : null;
        }
      }
    }
    if (keyBy === 'ip') caller.value = await kong.client.getForwardedIp();
    else if (keyBy === 'header') caller.value = textOrNull(await kong.request.getHeader(config.header_name ?? ''));
    else if (keyBy === 'global') caller.value = 'all';
    return caller;
  }

  /**
   * The request facts: llm-guard's when it published them (it ran before us), else
   * from the body (and the body to forward when include_usage was added).
   */
  private async requestFacts(kong: KongPdk, config: LlmRateLimitConfig): Promise<{ facts: RequestFacts | null; body: string | null }> {
    const published = await kong.ctx.shared.get(GUARD_KEY);
    // llm-guard ran: its facts, or its word that this is not a request it parses
    if (published !== undefined) return { facts: readRequestFacts(published), body: null };
    const endpoint = endpointOf(await kong.request.getPath());
    if (endpoint === null) return { facts: null, body: null };
    const raw = await kong.request.getRawBody();
    if (raw.length === 0 || raw.length > BODY_BUFFER_BYTES) return { facts: null, body: null };
    return measureRequest(endpoint, raw, { includeUsage: config.include_usage });
  }

  /** Whether requests here have anything to settle (a token or USD limit). */
  get settles(): boolean {
    return this.state.ok && this.state.plan.settles;
  }

  /**
   * Settles one request's reservation to what it actually cost: the log phase's work,
   * which llm-gateway's ingest runs too (with the values its Lua log phase shipped).
   * `published` is this plugin's decision as kong.ctx.shared holds it; `usage` reads
   * the usage the body_filter published, only when there is something to settle.
   * Throws when the store fails.
   */
  async settle(published: unknown, usage: () => Promise<unknown>): Promise<void> {
    if (!this.state.ok || !this.state.plan.settles) return;
    const { plan, prices } = this.state;
    const decision = readPublishedDecision(published);
    if (!decision || decision.request === null) return;
    const set: LimitSet | undefined = plan.setNamed(decision.limit_set);
    if (!set || !decision.reservation.charges.some((c) => c.unit !== 'requests')) return;
    const actual = actualUsage(decision.request, await usage());
    // unknown usage: the reservation stands
    if (!actual) return;
    let tokens = actual.total_tokens;
    let completion = actual.completion_tokens;
    if (actual.method === 'estimated') {
      // an estimate settles to the top of its bound: a limit may refuse early, never admit past
      tokens += actual.error_bound;
      completion += actual.error_bound;
      // hidden reasoning tokens are not in it (a lower bound): never refund below what was reserved
      if (actual.reasoning_unseen) return;
    }
    const usd = costOf(prices, decision.request.model, { prompt_tokens: actual.prompt_tokens, completion_tokens: completion, cached_tokens: actual.cached_tokens }).usd_micros;
    await set.limiter.adjust(decision.reservation, { tokens, usd });
  }

  async log(kong: KongPdk): Promise<void> {
    // request limits only: nothing to settle, not even a read (Kong still pays the event)
    if (!this.settles) return;
    try {
      await this.settle(await kong.ctx.shared.get(CTX_KEY), () => kong.ctx.shared.get(USAGE_CTX_KEY));
    } catch (err) {
      const now = Date.now();
      if (now - this.lastLogError < LOG_ERROR_INTERVAL_MS) return;
      this.lastLogError = now;
      await kong.log.err(JSON.stringify({ plugin: PLUGIN_NAME, event: 'settle_failed', ...safeError(err) })).catch(() => undefined);
    }
  }
}
