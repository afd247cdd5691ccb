/**
 * llm-guard's Kong adapter: reads what the guard needs, asks the core, acts.
 *
 *   kong.request.get_headers            (1)  Content-Type, Content-Length
 *   kong.request.get_path               (2)  which OpenAI endpoint: only with endpoint "auto", and a body
 *   kong.request.get_raw_body           (3)  only for a JSON body the preflight accepts
 *   kong.service.request.set_raw_body   (4)  only when a stage changed the body
 *   kong.ctx.shared.set(placeholders)        only with share_placeholders, when one was used
 *   kong.ctx.shared.set("llm_guard", …) (5)  the request facts, which are also the bypass mark
 *
 * A request without a body costs 2 calls; a checked one 3 (unchanged) or 4 (rewritten)
 * on a route that names its endpoint, one more with "auto"; a rejection ends with
 * `kong.response.exit` instead of the last two. The facts
 * go last: a server that dies mid-phase leaves no mark, and the bypass guard answers 503.
 *
 * Kong fails open when a handler throws, so the phase runs under failClosed: an
 * unexpected error answers 500 itself and no unchecked prompt reaches OpenAI.
 */
import { failClosed } from '../shared/fail-closed';
import { CTX_KEYS, SHARED_VALUES } from '../shared/marks';
import { internalError, reject, type Rejection } from '../shared/openai-error';
import { headersTruncated, headerValue, HEADERS_READ_MAX, type HeaderMultiMap, type KongPdk } from '../shared/pdk';
import { configFingerprint } from '../shared/per-config';
import { configureInstance, InvalidConfigReport, type Broken } from '../shared/plugin-instance';
import { compileGuard, preflight, runGuard, tooLarge, type CompiledGuard, type GuardDecision } from './core/guard';
import { GuardBusyError, GuardWorkers } from './core/offload';
import { Schema, type LlmGuardConfig } from './schema';

export const PLUGIN_NAME = 'llm-guard';
const CTX_KEY = CTX_KEYS[PLUGIN_NAME];
/** Published when there was nothing to check (no body, an endpoint the guard does not parse). */
const NOT_CHECKED = Object.freeze({ checked: false });

/** One pool for the whole plugin server: worker threads are a process resource. */
let workers: GuardWorkers | null = null;
const offload = () => (workers ??= new GuardWorkers());

type Ready = { ok: true; config: LlmGuardConfig; guard: CompiledGuard; key: string };

function tooManyHeaders(): Rejection {
  return {
    status: 400,
    type: 'invalid_request_error',
    code: 'too_many_headers',
    param: null,
    message: `The request has ${HEADERS_READ_MAX} or more header lines; this gateway checks requests with fewer.`,
  };
}

function contentLength(headers: HeaderMultiMap): number | null {
  const raw = headerValue(headers, 'content-length');
  if (raw === undefined) return null;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

export class LlmGuardHandler {
  private readonly state: Ready | Broken;
  private readonly invalid = new InvalidConfigReport();

  /** Checks and compiles the config once (plugin-instance.ts: a broken one answers 500). */
  constructor(raw: unknown) {
    this.state = configureInstance<LlmGuardConfig, Ready>(PLUGIN_NAME, Schema, raw, (config) => ({
      ok: true,
      config,
      guard: compileGuard(config),
      key: configFingerprint(PLUGIN_NAME, config),
    }));
  }

  async access(kong: KongPdk): Promise<void> {
    await failClosed(kong, PLUGIN_NAME, (k) => this.check(k));
  }

  private async check(kong: KongPdk): Promise<void> {
    if (!this.state.ok) {
      await this.invalid.once(kong, PLUGIN_NAME, this.state);
      return reject(kong, internalError('llm_guard_misconfigured'));
    }
    const { config, guard, key } = this.state;

    const headers = await kong.request.getHeaders();
    // past Kong's 100 lines a Content-Length or Content-Type may be hidden: never guess
    if (headersTruncated(headers)) return reject(kong, tooManyHeaders());
    const length = contentLength(headers);
    const hasBody = length !== null ? length > 0 : headerValue(headers, 'transfer-encoding') !== undefined;
    if (!hasBody && config.unknown_endpoints === 'allow') return kong.ctx.shared.set(CTX_KEY, NOT_CHECKED);

    const path = config.endpoint === 'auto' ? await kong.request.getPath() : null;
    const pre = preflight(guard, { path, contentType: headerValue(headers, 'content-type') ?? null, contentLength: length, hasBody });
    if (pre.action === 'reject') return reject(kong, pre.rejection);
    if (pre.action === 'pass') return kong.ctx.shared.set(CTX_KEY, NOT_CHECKED);

    const body = await kong.request.getRawBody();
    // a chunked body has no Content-Length to check beforehand
    if (body.length > config.max_body_bytes) return reject(kong, tooLarge(config.max_body_bytes));
    const input = { endpoint: pre.endpoint, body };
    let decision: GuardDecision;
    try {
      decision = body.length > config.offload_bytes ? await offload().run({ configKey: key, config, input }) : runGuard(guard, input);
    } catch (err) {
      if (!(err instanceof GuardBusyError)) throw err; // failClosed: 500
      return reject(kong, { status: 503, type: 'service_unavailable', code: 'guard_busy', param: null, message: 'The gateway is checking too many large requests. Retry shortly.', headers: { 'Retry-After': '1' } });
    }

    if (!decision.ok) return reject(kong, decision.rejection);
    if (decision.body !== null) await kong.service.request.setRawBody(decision.body);
    if (decision.placeholders !== null) await kong.ctx.shared.set(SHARED_VALUES.placeholders, decision.placeholders);
    await kong.ctx.shared.set(CTX_KEY, decision.facts);
  }
}
