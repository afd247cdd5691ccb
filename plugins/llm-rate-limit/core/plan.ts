/**
 * A plugin config compiled into what a request needs: the limiter of each limit set
 * (the default `limits`, each consumer and tenant override), each also holding the
 * gateway-wide `global_limits` so one check decides both in one atomic step, and the
 * keys a check runs on. Built once per config; per request, a map lookup.
 */
import crypto = require('crypto');
import type { RequestFacts } from '../../shared/request/facts';
import { estimateCostMicros, type PriceTable } from '../../shared/pricing';
import { LimitConfigError } from './errors';
import { RateLimiter, type Amounts } from './limiter';
import type { LimitSpec, Unit } from './limits';
import type { LimiterStore } from './store';

/** A limit as the plugin schema has it (usd in USD; unset fields null). */
export interface LimitSetting {
  id: string;
  algorithm: 'sliding_window' | 'token_bucket';
  unit: Unit;
  limit: number;
  window_seconds: number | null;
  sub_windows: number | null;
  refill_per_second: number | null;
}

export interface PlanSettings {
  namespace: string;
  limits: readonly LimitSetting[];
  consumer_overrides: Readonly<Record<string, readonly LimitSetting[]>>;
  tenant_overrides: Readonly<Record<string, readonly LimitSetting[]>>;
  global_limits: readonly LimitSetting[];
  default_completion_tokens: number;
}

/** Global limits' ids carry this prefix (no clash with a set's own ids). */
export const GLOBAL_ID_PREFIX = 'global.';
/** The one key of every gateway-wide limit (namespaces do not split the organization's quota). */
export const GLOBAL_KEY = '~global';
/** Key values longer than this are hashed (a header value can be long; keys stay bounded). */
const MAX_KEY_VALUE = 128;

const USD_MICROS = 1_000_000;
/** Largest amount a check carries: above any limit (they are safe integers), exact in Lua's doubles. */
const MAX_AMOUNT = 2 ** 52;

/** The core's spec for a schema limit: usd budgets become integer micro-dollars. */
export function toSpec(l: LimitSetting, idPrefix = ''): LimitSpec {
  const limit = l.unit === 'usd' ? Math.round(l.limit * USD_MICROS) : l.limit;
  if (l.unit !== 'usd' && !Number.isSafeInteger(limit)) throw new LimitConfigError(`limit ${l.id}: a ${l.unit} limit must be a whole number`);
  if (l.unit === 'usd' && limit < 1) throw new LimitConfigError(`limit ${l.id}: a usd limit must be at least 0.000001`);
  return {
    id: idPrefix + l.id,
    algorithm: l.algorithm,
    unit: l.unit,
    limit,
    window_seconds: l.window_seconds ?? undefined,
    sub_windows: l.sub_windows ?? undefined,
    refill_per_second: l.refill_per_second ?? undefined,
  };
}

export interface LimitSet {
  /** `default`, `consumer:<name>` or `tenant:<name>` (names the set in the decision). */
  name: string;
  limiter: RateLimiter;
  /** Limits of the key (the rest of `limiter.limits` are global). */
  own: number;
  /** Some limit counts tokens or usd: the request's facts are needed. */
  needsTokens: boolean;
  /** Some limit counts usd: the request's cost is needed. */
  needsCost: boolean;
}

export class RateLimitPlan {
  readonly defaultSet: LimitSet;
  private readonly consumers: ReadonlyMap<string, LimitSet>;
  private readonly tenants: ReadonlyMap<string, LimitSet>;
  /** Every set by name (the log phase finds the reservation's set again). */
  private readonly byName = new Map<string, LimitSet>();
  readonly hasOverrides: boolean;
  readonly hasConsumerOverrides: boolean;
  /** Some set counts tokens or usd: the log phase has reservations to settle. */
  readonly settles: boolean;

  /** @throws LimitConfigError (a limit that cannot work, a duplicate id). */
  constructor(private readonly settings: PlanSettings, store: LimiterStore) {
    const global = settings.global_limits.map((l) => toSpec(l, GLOBAL_ID_PREFIX));
    const make = (name: string, own: readonly LimitSetting[]): LimitSet => {
      const specs = [...own.map((l) => toSpec(l)), ...global];
      const set: LimitSet = {
        name,
        limiter: new RateLimiter(specs, store),
        own: own.length,
        needsTokens: specs.some((s) => s.unit !== 'requests'),
        needsCost: specs.some((s) => s.unit === 'usd'),
      };
      this.byName.set(name, set);
      return set;
    };
    this.defaultSet = make('default', settings.limits);
    this.consumers = new Map(Object.entries(settings.consumer_overrides).map(([k, v]) => [k, make(`consumer:${k}`, v)]));
    this.tenants = new Map(Object.entries(settings.tenant_overrides).map(([k, v]) => [k, make(`tenant:${k}`, v)]));
    this.hasOverrides = this.consumers.size > 0 || this.tenants.size > 0;
    this.hasConsumerOverrides = this.consumers.size > 0;
    this.settles = [...this.byName.values()].some((set) => set.needsTokens);
  }

  /** Consumer override, else tenant override, else the default limits. */
  setFor(consumer: string | null, tenant: string | null): LimitSet {
    return (consumer !== null ? this.consumers.get(consumer) : undefined) ?? (tenant !== null ? this.tenants.get(tenant) : undefined) ?? this.defaultSet;
  }

  setNamed(name: string): LimitSet | undefined {
    return this.byName.get(name);
  }

  /** The store key of `keyBy`'s `value` (namespaced; long values hashed). */
  key(keyBy: string, value: string): string {
    const v = value.length > MAX_KEY_VALUE ? `#${crypto.createHash('sha256').update(value).digest('base64url')}` : value;
    return `${this.settings.namespace}|${keyBy}|${v}`;
  }

  /** One key per limit of `set`: the caller's for its own limits, GLOBAL_KEY for the rest. */
  keys(set: LimitSet, key: string): string[] {
    return set.limiter.limits.map((_, i) => (i < set.own ? key : GLOBAL_KEY));
  }

  /**
   * What a request reserves: prompt tokens + the completion tokens it may produce (its
   * own max, else `default_completion_tokens`), and their most cost. No facts (not an
   * LLM request, a body that does not parse): 0 (the request counts against request
   * limits only).
   */
  amounts(set: LimitSet, facts: RequestFacts | null, prices: PriceTable): Amounts & { completion: number } {
    if (!facts || !set.needsTokens) return { tokens: 0, usd: 0, completion: 0 };
    // a prompt that could not be counted (a body that did not parse) reserves its completion only
    const prompt = facts.prompt_tokens ?? 0;
    const completion = facts.endpoint === 'embeddings' ? 0 : (facts.requested_completion_tokens ?? this.settings.default_completion_tokens);
    // a client's max_tokens of 2^53 must be refused as too large, not overflow the store's integers
    const tokens = Math.min(prompt + completion, MAX_AMOUNT);
    const usd = set.needsCost ? Math.min(estimateCostMicros(prices, facts.model, prompt, Math.min(completion, MAX_AMOUNT)).usd_micros, MAX_AMOUNT) : 0;
    return { tokens, usd, completion };
  }
}
