/**
 * A compact record (contract.ts, shipped by kong/lua/gateway-log.lua) as the inputs of
 * the separate plugins' log-phase work:
 *
 * - `serializedOf`: the part of kong.log.serialize() llm-audit's record reads, with the
 *   `llm.*` values kong/lua/serialize-values.lua would have copied in, so
 *   llm-audit's own `auditInputsOf` and record builder run unchanged;
 * - the llm-rate-limit decision and the usage, as its `settle` reads them from
 *   kong.ctx.shared.
 *
 * Pure; the record is hostile input (the readers downstream bound and check every
 * value); nothing here throws.
 */
import { isObj } from '../shared/values';
import type { CompactRecord } from './contract';

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj => (isObj(v) ? v : {});

/** llm-response-guard's answer check: in the usage value, else in its mark (serialize-values.lua answer_check). */
function answerCheck(shared: Obj): Obj | undefined {
  for (const holder of [shared.llm_usage, shared.llm_response_guard]) {
    if (isObj(holder) && isObj(holder.answer_check)) return holder.answer_check;
  }
  return undefined;
}

/**
 * What kong.log.serialize() would hold for this request, as far as the audit record
 * reads it (kong/pdk/log.lua serialize; the llm.* members as serialize-values.lua and
 * usage-capture.lua set them).
 */
export function serializedOf(r: CompactRecord, shared: Obj): Obj {
  const latencies = obj(r.latencies);
  const rateLimit = shared.llm_rate_limit;
  const llm: Obj = {
    identity: shared.llm_auth,
    request: shared.llm_guard,
    rate_limit: isObj(rateLimit) ? rateLimit.log : undefined,
    usage: shared.llm_usage,
    response: answerCheck(shared),
  };
  return {
    request: {
      id: r.request_id,
      uri: r.uri,
      method: r.method,
      querystring: r.querystring,
      headers: r.request_headers,
      size: r.request_size,
    },
    response: { status: r.status, headers: r.response_headers, size: r.response_size },
    latencies: { kong: latencies.kong, proxy: latencies.proxy, request: latencies.request },
    route: r.route,
    service: r.service,
    client_ip: r.client_ip,
    started_at: r.started_at,
    source: r.source,
    llm,
  };
}

/**
 * The kong.ctx.shared values of a request: what Lua shipped, completed by what the
 * stages of a refused request published (a refusal leaves no decision for Lua to copy
 * in: its values exist only in the plugin server that refused).
 */
export function sharedOf(r: CompactRecord, published: Obj | undefined): Obj {
  const shipped = obj(r.shared);
  if (published === undefined) return shipped;
  const out: Obj = {};
  for (const [k, v] of Object.entries(published)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const [k, v] of Object.entries(shipped)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}
