/**
 * llm-gateway's Kong adapter: the whole suite in one plugin event per request.
 *
 *   kong.ctx.shared.get("llm_gateway_request")  (1)  the request, packed by
 *                                                    kong/lua/gateway-pack.lua
 *   ... the stages run on a StagedPdk: llm-auth's, llm-guard's and llm-rate-limit's
 *       own access handlers, in that order (their priority order), reading the pack
 *       and each other's kong.ctx.shared values, their writes collected ...
 *   refused:  kong.response.exit                 (2)  the stage's OpenAI-format answer,
 *             after kong.service.request.set_headers when the refused request carries a
 *             credential outside Authorization (llm-auth's scrub, see `scrub`), and a
 *             kong.log call per error or warning line a stage wrote (none normally)
 *   passed:   kong.client.authenticate           (2)  only when llm-auth maps a consumer
 *             kong.ctx.shared.set("llm_gateway") (3)  the decision, which
 *                                                    kong/lua/gateway-apply.lua applies
 *
 * No log phase: kong/lua/gateway-log.lua ships a compact record of each request to the
 * plugin server's ingest endpoint (ingest.ts), where llm-rate-limit's settlement and
 * llm-audit's record run, batched by Kong's own queue. A cold consumer cache adds one
 * kong.client.load_consumer, as it does for llm-auth.
 *
 * The decision is the bypass mark of llm-gateway: the post-function guard on its routes
 * requires `llm_gateway`, so a request the plugin server did not decide (it was down)
 * is answered 503. Kong fails open when a handler throws, so the phase runs under
 * failClosed, and so does every stage.
 */
import { LlmAuditHandler } from '../llm-audit/handler';
import { LlmAuthHandler } from '../llm-auth/handler';
import { LlmGuardHandler } from '../llm-guard/handler';
import { LlmRateLimitHandler } from '../llm-rate-limit/handler';
import { flushDeferredLogs } from '../shared/deferred-log';
import { failClosed } from '../shared/fail-closed';
import { internalError, reject } from '../shared/openai-error';
import { headersTruncated, type KongPdk } from '../shared/pdk';
import { StagedPdk, type StagedRequest } from '../shared/pipeline/staged-pdk';
import { configureInstance, InvalidConfigReport, type Broken } from '../shared/plugin-instance';
import { DECISION_KEY, PACK_KEY, SHIPPED_KEYS, type GatewayDecision } from './contract';
import { startIngest } from './ingest';
import { registerGateway, rememberRefusal } from './instances';
import { readPack } from './pack';
import { Schema, type LlmGatewayConfig } from './schema';
import { textOrNull } from '../shared/values';

export const PLUGIN_NAME = 'llm-gateway';

interface Stage {
  access(kong: KongPdk): Promise<void>;
}

type Ready = {
  ok: true;
  /** The access stages in order (absent records: no stage). */
  stages: Stage[];
  rateLimit: LlmRateLimitHandler | null;
  audit: LlmAuditHandler | null;
  /** Whether the ingest has work for a request here (audit records, or token/USD settlement). */
  ingest: boolean;
};


/** The values a record may carry: never the redaction placeholders. */
function shippable(shared: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of SHIPPED_KEYS) if (shared[k] !== undefined) out[k] = shared[k];
  return out;
}

function notPacked() {
  return {
    ...internalError('llm_gateway_not_packed'),
    message: 'The gateway is misconfigured: llm-gateway needs its pre-function (kong/lua/gateway-pack.lua) on the same route.',
  };
}

export class LlmGatewayHandler {
  private readonly state: Ready | Broken;
  private readonly invalid = new InvalidConfigReport();
  private readonly pluginId: string;

  constructor(raw: unknown) {
    const cfg = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
    // Kong adds these to every plugin config; a config built by hand may lack them
    this.pluginId = textOrNull(cfg.__plugin_id) ?? 'llm-gateway';
    this.state = configureInstance<LlmGatewayConfig, Ready>(PLUGIN_NAME, Schema, raw, (config) => {
      const rateLimit = config.rate_limit ? new LlmRateLimitHandler(config.rate_limit) : null;
      const audit = config.audit ? new LlmAuditHandler(config.audit) : null;
      const stages: Stage[] = [];
      if (config.auth) stages.push(new LlmAuthHandler(config.auth));
      if (config.guard) stages.push(new LlmGuardHandler(config.guard));
      if (rateLimit) stages.push(rateLimit);
      return { ok: true, stages, rateLimit, audit, ingest: audit !== null || (rateLimit?.settles ?? false) };
    });
    // registered even when broken: the ingest then takes this entity's records (there
    // is nothing to settle or write) instead of holding Kong's queue on them
    const { rateLimit, audit } = this.state.ok ? this.state : { rateLimit: null, audit: null };
    registerGateway({ pluginId: this.pluginId, routeId: textOrNull(cfg.route_id), serviceId: textOrNull(cfg.service_id), rateLimit, audit });
    startIngest();
  }

  async access(kong: KongPdk): Promise<void> {
    await failClosed(kong, PLUGIN_NAME, (k) => this.run(k));
  }

  private async run(kong: KongPdk): Promise<void> {
    if (!this.state.ok) {
      await this.invalid.once(kong, PLUGIN_NAME, this.state);
      return reject(kong, internalError('llm_gateway_misconfigured'));
    }
    const { stages, ingest } = this.state;
    const request = readPack(await kong.ctx.shared.get(PACK_KEY));
    if (request === null) {
      await kong.log.err(JSON.stringify({ plugin: PLUGIN_NAME, event: 'not_packed' }));
      return reject(kong, notPacked());
    }

    const staged = new StagedPdk(kong, request);
    // lines kept since the last request (a store fault, a sink's drops) go out with this decision
    await flushDeferredLogs(staged);
    for (const stage of stages) {
      await stage.access(staged);
      if (staged.exit !== null) break;
    }

    if (staged.exit !== null) {
      // the refusal's record is written by the ingest from what Lua ships plus this
      if (ingest && request.requestId !== null) rememberRefusal(request.requestId, { pluginId: this.pluginId, shared: shippable(staged.sharedValues()) });
      // what the stages logged goes out now, as the separate plugins' lines would (a
      // refused request may be followed by nothing but refusals: an outage, a broken
      // stage); a call per line, only when there are lines
      // (info lines are below Kong's default log level: not worth a round trip)
      for (const [level, l] of staged.logs) if (level !== 'info') await kong.log[level](l);
      await this.scrub(kong, staged, request);
      const { status, body, headers } = staged.exit;
      return kong.response.exit(status, body, headers);
    }
    if (staged.authenticated !== null) await kong.client.authenticate(staged.authenticated.consumer, staged.authenticated.credential);
    await kong.ctx.shared.set(DECISION_KEY, this.decision(staged, ingest));
  }

  /**
   * What a refusal must still do upstream of Kong's log plugins: llm-auth removes the
   * client's credentials from a refused request (Kong's serializer redacts only
   * Authorization, so a key in api-key, x-api-key or the query would be logged in
   * clear by http-log or file-log). Only what the request carries is removed: a
   * Bearer client's refusal costs no call for it; a refused api-key client's costs one.
   */
  private async scrub(kong: KongPdk, staged: StagedPdk, request: StagedRequest): Promise<void> {
    const present: Record<string, string[]> = {};
    // a map cut at Kong's 100 lines may hide one: then every removal, as llm-auth does
    const blind = headersTruncated(request.headers);
    for (const [name, value] of Object.entries(staged.upstreamHeaders)) {
      if (Array.isArray(value) && value.length === 0 && (blind || Object.hasOwn(request.headers, name))) present[name] = [];
    }
    if (Object.keys(present).length > 0) await kong.service.request.setHeaders(present);
    if (staged.rawQuery !== null && staged.rawQuery !== request.rawQuery) await kong.service.request.setRawQuery(staged.rawQuery);
  }

  private decision(staged: StagedPdk, ingest: boolean): GatewayDecision {
    const d: GatewayDecision = { plugin_id: this.pluginId, ingest, shared: staged.sharedValues() };
    if (Object.keys(staged.upstreamHeaders).length > 0) d.upstream_headers = { ...staged.upstreamHeaders };
    if (staged.rawQuery !== null) d.raw_query = staged.rawQuery;
    if (staged.body !== null) d.body = staged.body;
    if (Object.keys(staged.responseHeaders).length > 0) d.response_headers = { ...staged.responseHeaders };
    if (staged.logs.length > 0) d.logs = staged.logs;
    return d;
  }
}
