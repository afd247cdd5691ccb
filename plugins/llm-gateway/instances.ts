/**
 * What the ingest endpoint needs to find the settings a record belongs to: every
 * llm-gateway entity this plugin server has started, by its plugin id (Kong adds
 * `__plugin_id`, `route_id` and `service_id` to every plugin config), and what the
 * stages of a refused request published (a refusal is a kong.response.exit: no
 * decision reaches kong.ctx.shared, so the Lua log phase cannot ship it).
 *
 * Both are memory of this process. After a restart, an entity is known again once
 * Kong starts its instance (at its next request); until then, records for it are
 * answered 503 and Kong's queue retries them (ingest.ts).
 */
import type { LlmAuditHandler } from '../llm-audit/handler';
import type { LlmRateLimitHandler } from '../llm-rate-limit/handler';

export interface GatewayStages {
  rateLimit: LlmRateLimitHandler | null;
  audit: LlmAuditHandler | null;
}

export interface GatewayEntity extends GatewayStages {
  pluginId: string;
  routeId: string | null;
  serviceId: string | null;
}

/** Entities remembered; the oldest is forgotten past this (a config churning at run time). */
const MAX_ENTITIES = 1024;
const entities = new Map<string, GatewayEntity>();

export function registerGateway(entity: GatewayEntity): void {
  entities.delete(entity.pluginId);
  entities.set(entity.pluginId, entity);
  if (entities.size > MAX_ENTITIES) entities.delete(entities.keys().next().value!);
}

export function gatewayById(pluginId: string): GatewayEntity | undefined {
  return entities.get(pluginId);
}

/**
 * The entity of a record that names none: the one on its route, else the one on its
 * service, else the only one there is. Undefined when that is ambiguous or unknown.
 */
export function gatewayByPlace(routeId: string | null, serviceId: string | null): GatewayEntity | undefined {
  const all = [...entities.values()];
  const onRoute = routeId === null ? [] : all.filter((e) => e.routeId === routeId);
  if (onRoute.length === 1) return onRoute[0];
  const onService = serviceId === null ? [] : all.filter((e) => e.serviceId === serviceId && e.routeId === null);
  if (onService.length === 1) return onService[0];
  const global = all.filter((e) => e.routeId === null && e.serviceId === null);
  if (global.length === 1 && onRoute.length === 0 && onService.length === 0) return global[0];
  return undefined;
}

export function gatewaysKnown(): number {
  return entities.size;
}

/** What a refused request's stages published, by request id. */
export interface Refusal {
  pluginId: string;
  shared: Record<string, unknown>;
}

/** Refusals kept; each waits at most for its record's batch (a second or so), so this is ample. */
const MAX_REFUSALS = 20000;
const REFUSAL_TTL_MS = 10 * 60_000;
const refusals = new Map<string, Refusal & { at: number }>();

export function rememberRefusal(requestId: string, refusal: Refusal, now = Date.now()): void {
  refusals.set(requestId, { ...refusal, at: now });
  if (refusals.size > MAX_REFUSALS) refusals.delete(refusals.keys().next().value!);
}

/** The refusal of this request, once: its record is written only once. */
export function takeRefusal(requestId: string, now = Date.now()): Refusal | undefined {
  const r = refusals.get(requestId);
  if (r === undefined) return undefined;
  refusals.delete(requestId);
  return now - r.at <= REFUSAL_TTL_MS ? { pluginId: r.pluginId, shared: r.shared } : undefined;
}
