/**
 * The PDK the stages of llm-gateway run on: the very `KongPdk` the separate plugins'
 * handlers are written against, so llm-auth, llm-guard and llm-rate-limit run the
 * same code whether Kong calls them as three plugins or llm-gateway calls them as
 * stages of one access phase (one pipeline, two faces). What differs is only where a
 * call goes:
 *
 * - reads of the request are served from what kong/lua/gateway-pack.lua packed
 *   (headers, path, query, body, client address): no round trip;
 * - writes are collected (upstream headers, query, body, response headers,
 *   kong.ctx.shared values, log lines) and applied by kong/lua/gateway-apply.lua from
 *   the one decision llm-gateway publishes;
 * - a read sees the writes before it, as on Kong (a header llm-auth set is what the
 *   next stage's get_headers returns; a kong.ctx.shared value comes back as Kong's
 *   Lua side returns it: lua-round-trip.ts);
 * - kong.client.authenticate is kept until the pipeline has passed (`authenticated`):
 *   llm-gateway makes it then, so a refused request costs no call for it; a later
 *   stage's kong.client.get_consumer / get_credential sees it already, as on Kong;
 * - what only Kong can do goes to Kong and is counted in `realCalls`:
 *   kong.client.load_consumer / get_consumer / get_credential (when no stage
 *   authenticated) / get_ip, kong.router, kong.node, and a kong.ctx.shared read of a
 *   key no stage set (a separate plugin ahead of llm-gateway may have set it);
 * - kong.response.exit ends the pipeline: it is recorded, and llm-gateway sends it.
 *
 * Response-phase and log-phase calls have no place in an access pipeline: they throw,
 * and the stage's failClosed answers 500 (a stage never passes unchecked).
 */
import type { HeaderMultiMap, KongConsumer, KongPdk } from '../pdk';
import { luaRoundTrip } from './lua-round-trip';

export type LogLevel = 'err' | 'warn' | 'notice' | 'info';
type HeaderTable = Record<string, string | string[]>;

/** The request as the stages read it. */
export interface StagedRequest {
  method: string;
  path: string;
  rawQuery: string;
  /** Names lower-cased; as kong.request.get_headers() returns them (at most 100 lines). */
  headers: HeaderMultiMap;
  forwardedIp: string | null;
  body: Uint8Array | null;
  /** The request has a body Kong could not keep in memory: reading it fails, as on Kong. */
  bodyUnread: boolean;
}

export interface StagedExit {
  status: number;
  body?: unknown;
  headers?: HeaderTable;
}

/** Kong's kong.request.get_raw_body() error for a spooled body (kong/pdk/request.lua). */
export class BodyNotInMemoryError extends Error {
  constructor() {
    super('request body did not fit into client body buffer, consider raising client_body_buffer_size');
    this.name = 'BodyNotInMemoryError';
  }
}

class NotInAccessError extends Error {
  constructor(method: string) {
    super(`${method} is not available to an access-phase stage`);
    this.name = 'NotInAccessError';
  }
}

const notInAccess = (method: string) => async (): Promise<never> => {
  throw new NotInAccessError(method);
};

/** kong.log.*(...): Kong writes the parts one after the other, tostring'd (kong/pdk/log.lua). */
const line = (parts: unknown[]): string => parts.map((p) => (typeof p === 'string' ? p : String(p))).join('');

const nullObject = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;

export class StagedPdk implements KongPdk {
  /** The first kong.response.exit of a stage; the pipeline stops there. */
  exit: StagedExit | null = null;
  /** kong.ctx.shared values the stages set, as Kong would hold them. */
  readonly shared = new Map<string, unknown>();
  /** kong.service.request.set_headers, merged in call order ([] removes). */
  readonly upstreamHeaders: HeaderTable = nullObject();
  rawQuery: string | null = null;
  body: string | null = null;
  readonly responseHeaders: HeaderTable = nullObject();
  readonly logs: Array<[LogLevel, string]> = [];
  /** The kong.client.authenticate a stage made, for llm-gateway to make once the request passed. */
  authenticated: { consumer: KongConsumer | null; credential: Record<string, unknown> | null } | null = null;
  /** Calls that went to Kong (round trips). */
  realCalls = 0;

  private readonly headerView: Map<string, string[]>;
  private currentQuery: string;
  private currentBody: Uint8Array | null;

  readonly request: KongPdk['request'];
  readonly response: KongPdk['response'];
  readonly service: KongPdk['service'];
  readonly client: KongPdk['client'];
  readonly ctx: KongPdk['ctx'];
  readonly log: KongPdk['log'];
  readonly router: KongPdk['router'];
  readonly node: KongPdk['node'];

  constructor(
    kong: KongPdk,
    private readonly req: StagedRequest,
  ) {
    this.headerView = new Map(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? [...v] : [v]]));
    this.currentQuery = req.rawQuery;
    this.currentBody = req.body;

    const real = <T>(call: () => Promise<T>): Promise<T> => {
      this.realCalls++;
      return call();
    };

    this.request = {
      getHeaders: async () => {
        const out: HeaderMultiMap = nullObject();
        for (const [k, v] of this.headerView) out[k] = [...v];
        return out;
      },
      // kong/pdk/request.lua get_header: the first value, the name case-insensitive
      getHeader: async (name: string) => this.headerView.get(name.toLowerCase())?.[0],
      // kong/pdk/request.lua get_raw_body: a body nginx spooled to a file is an error
      // (to a JS plugin, Kong's 500: mp_rpc fix_raw); after set_raw_body, the new body
      getRawBody: async () => {
        if (this.req.bodyUnread) throw new BodyNotInMemoryError();
        return this.currentBody ?? new Uint8Array(0);
      },
      getPath: async () => this.req.path,
      getMethod: async () => this.req.method,
      getRawQuery: async () => this.currentQuery,
    };

    this.response = {
      exit: async (status: number, body?: unknown, headers?: HeaderTable) => {
        // Kong ends the request at the first exit; later calls of the phase go nowhere
        if (this.exit === null) this.exit = { status, body, headers };
      },
      setHeaders: async (headers: HeaderTable) => {
        for (const [k, v] of Object.entries(headers)) this.responseHeaders[k] = v;
      },
      getStatus: notInAccess('kong.response.get_status'),
      getHeaders: notInAccess('kong.response.get_headers'),
    };

    this.service = {
      request: {
        setHeaders: async (headers: HeaderTable) => {
          for (const [name, value] of Object.entries(headers)) this.setUpstreamHeader(name, value);
        },
        clearHeader: async (name: string) => this.setUpstreamHeader(name, []),
        setRawQuery: async (query: string) => {
          this.rawQuery = query;
          this.currentQuery = query;
        },
        setRawBody: async (body: string) => {
          this.body = body;
          this.currentBody = Buffer.from(body, 'utf8');
        },
      },
      response: {
        getRawBody: notInAccess('kong.service.response.get_raw_body'),
        getHeaders: notInAccess('kong.service.response.get_headers'),
        getHeader: notInAccess('kong.service.response.get_header'),
        getStatus: notInAccess('kong.service.response.get_status'),
      },
    };

    this.client = {
      loadConsumer: (id: string, byUsername?: boolean) => real(() => kong.client.loadConsumer(id, byUsername)),
      authenticate: async (consumer: KongConsumer | null, credential: Record<string, unknown> | null) => {
        this.authenticated = { consumer, credential };
      },
      getConsumer: async () => (this.authenticated ? (this.authenticated.consumer ?? undefined) : real(() => kong.client.getConsumer())),
      getCredential: async () =>
        this.authenticated ? ((this.authenticated.credential as { id: string } | null) ?? undefined) : real(() => kong.client.getCredential()),
      getIp: () => real(() => kong.client.getIp()),
      getForwardedIp: async () => this.req.forwardedIp ?? real(() => kong.client.getForwardedIp()),
    };

    this.ctx = {
      shared: {
        get: async <T>(key: string): Promise<T | undefined> => {
          if (this.shared.has(key)) return this.shared.get(key) as T | undefined;
          return real(() => kong.ctx.shared.get<T>(key));
        },
        set: async (key: string, value: unknown) => {
          // a nil value removes the key on Kong's side: reading it back gives nothing
          this.shared.set(key, value === null || value === undefined ? undefined : luaRoundTrip(value));
        },
      },
    };

    const logAt = (level: LogLevel) => async (...parts: unknown[]) => {
      this.logs.push([level, line(parts)]);
    };
    this.log = {
      err: logAt('err'),
      warn: logAt('warn'),
      notice: logAt('notice'),
      info: logAt('info'),
      serialize: notInAccess('kong.log.serialize'),
      setSerializeValue: notInAccess('kong.log.set_serialize_value'),
    };

    this.router = {
      getRoute: () => real(() => kong.router.getRoute()),
      getService: () => real(() => kong.router.getService()),
    };
    this.node = { getId: () => real(() => kong.node.getId()) };
  }

  /**
   * kong.service.request.set_header(s) (kong/pdk/service/request.lua): ngx.req.set_header,
   * so the upstream gets it and get_headers shows it; [] removes it, "" is set as " "
   * and a number or boolean as its string (kong/pdk/private/checks.lua normalize_*).
   */
  private setUpstreamHeader(name: string, value: string | string[]): void {
    const lower = name.toLowerCase();
    this.upstreamHeaders[lower] = value;
    const values = Array.isArray(value) ? value : [value];
    // Kong sends "" as a single space (kong/pdk/private/checks.lua normalize_multi_header)
    if (values.length === 0) this.headerView.delete(lower);
    else this.headerView.set(lower, values.map((v) => (v === '' ? ' ' : String(v))));
  }

  /** The kong.ctx.shared values the stages set (removed keys left out). */
  sharedValues(): Record<string, unknown> {
    const out: Record<string, unknown> = nullObject();
    for (const [k, v] of this.shared) if (v !== undefined) out[k] = v;
    return out;
  }
}
