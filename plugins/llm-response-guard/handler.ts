/**
 * llm-response-guard's Kong adapter. It has a response phase, so Kong buffers the
 * whole answer on every route where it is enabled: a stream reaches the client in
 * one piece at the end. Enable it only where answers must be checked.
 *
 *   access:   kong.service.request.set_header("accept-encoding", "identity")  (1)
 *             kong.ctx.shared.set("llm_response_guard")      (2)  the bypass mark
 *   response: kong.service.response.get_status                (1)
 *             kong.service.response.get_header("content-type") (2)  get_headers is {} when buffered
 *             kong.service.response.get_raw_body              (3)
 *             kong.ctx.shared.get(placeholders)                  only with restore_placeholders
 *             kong.ctx.shared.set(…)                          (4)  at most one, when there is something to publish:
 *                 "llm_usage": the usage, with the answer's findings (`answer_check`) when it was scanned
 *                 "llm_response_guard": the mark with `answer_check`, for a scanned answer without usage
 *             kong.response.exit(status, body)                   only when the answer changed or is withheld
 *
 * So a checked answer costs 4 calls (5 with restore_placeholders), plus the exit when
 * it is rewritten or withheld; one that is not scanned (non-2xx, another content type)
 * and reports no usage costs 3. The findings (types and counts, never text) ride in the
 * usage value because that set is made anyway: a separate key would add a round trip to
 * every checked answer (plugins/shared/marks.ts `AnswerCheck`).
 *
 * A plugin cannot replace the body any other way from a JS response phase
 * (kong.response.set_raw_body is body_filter only): `exit` sends the new body with
 * the upstream's headers and a new Content-Length.
 */
import { failClosed } from '../shared/fail-closed';
import { ANSWER_CHECK_MEMBER, CTX_KEYS, SHARED_VALUES } from '../shared/marks';
import { internalError, reject } from '../shared/openai-error';
import type { KongPdk } from '../shared/pdk';
import { configureInstance, InvalidConfigReport, type Broken } from '../shared/plugin-instance';
import { USAGE_CTX_KEY } from '../shared/usage';
import { answerCheck, compileResponseGuard, runResponseGuard, type CompiledResponseGuard } from './core/guard';
import { Schema, type LlmResponseGuardConfig } from './schema';

export const PLUGIN_NAME = 'llm-response-guard';
const CTX_KEY = CTX_KEYS[PLUGIN_NAME];
const MARK = Object.freeze({ checked: true });

type Ready = { ok: true; config: LlmResponseGuardConfig; guard: CompiledResponseGuard };

/** The placeholder map as it comes back from Kong: own string members only. */
function placeholderMap(value: unknown): Map<string, string> | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out.set(k, v);
  return out.size > 0 ? out : null;
}

export class LlmResponseGuardHandler {
  private readonly state: Ready | Broken;
  private readonly invalid = new InvalidConfigReport();

  /** Checks and compiles the config once (plugin-instance.ts: a broken one answers 500). */
  constructor(raw: unknown) {
    this.state = configureInstance<LlmResponseGuardConfig, Ready>(PLUGIN_NAME, Schema, raw, (config) => ({
      ok: true,
      config,
      guard: compileResponseGuard(config),
    }));
  }

  /**
   * Asks OpenAI for an uncompressed answer (the guard reads the body as sent, and an
   * answer it rewrites must not keep the upstream's Content-Encoding), then marks the
   * request: the bypass guard then knows this plugin's server is up for the answer.
   */
  async access(kong: KongPdk): Promise<void> {
    await failClosed(kong, PLUGIN_NAME, async (k) => {
      if (!this.state.ok) return this.broken(k, this.state);
      await k.service.request.setHeaders({ 'accept-encoding': 'identity' });
      await k.ctx.shared.set(CTX_KEY, MARK);
    });
  }

  async response(kong: KongPdk): Promise<void> {
    await failClosed(kong, PLUGIN_NAME, (k) => this.check(k));
  }

  private async broken(kong: KongPdk, broken: Broken): Promise<void> {
    await this.invalid.once(kong, PLUGIN_NAME, broken);
    return reject(kong, internalError('llm_response_guard_misconfigured'));
  }

  private async check(kong: KongPdk): Promise<void> {
    if (!this.state.ok) return this.broken(kong, this.state);
    const { config, guard } = this.state;
    const status = await kong.service.response.getStatus();
    const contentType = (await kong.service.response.getHeader('content-type')) ?? null;
    const body = await kong.service.response.getRawBody();
    const placeholders = config.restore_placeholders ? placeholderMap(await kong.ctx.shared.get(SHARED_VALUES.placeholders)) : null;

    const decision = runResponseGuard(guard, { contentType, status, body, placeholders });
    const check = answerCheck(decision);
    // before any exit (Kong answers nothing after one), and one set at most: the check
    // rides with the usage; only without usage does it need the mark's key
    if (decision.usage) await kong.ctx.shared.set(USAGE_CTX_KEY, check ? { ...decision.usage, [ANSWER_CHECK_MEMBER]: check } : decision.usage);
    else if (check) await kong.ctx.shared.set(CTX_KEY, { ...MARK, [ANSWER_CHECK_MEMBER]: check });
    if (decision.action === 'pass') return;
    if (decision.action === 'reject') return reject(kong, decision.rejection);
    const headers: Record<string, string> = contentType !== null ? { 'Content-Type': contentType } : {};
    return kong.response.exit(status, decision.body, headers);
  }
}
