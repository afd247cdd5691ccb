/**
 * Kong's bundled `post-function` cannot run here (it is Lua). Our kong.yml gives it
 * exactly the chunks of kong/lua/ (scripts/gen-kong-lua.ts writes them), and the
 * bridge runs each natively, recognized by its marker comment:
 *
 *   access         llm-bypass-guard      503 when a required mark is missing (the marks
 *                                        read from the chunk's `local required = {...}`)
 *                  llm-usage-encoding    Accept-Encoding: identity upstream for measured requests (usageEncodingChunk)
 *   header_filter  llm-serialize-values  ctx.shared -> serialize values (serializeValuesChunk)
 *                  llm-ratelimit-headers llm_rate_limit.headers on the response (rateLimitHeadersChunk)
 *   body_filter    llm-usage-capture     usage from the streamed body (usage-capture.ts)
 *
 * A chunk that is not one of these, or whose text differs from its kong/lua/ file
 * (the bridge would emulate code that is not there), or another phase, makes the
 * bridge refuse the config. test/foundation/lua/post-function-agreement.test.ts runs
 * the Lua under LuaJIT and these emulations on the same inputs and compares;
 * bypass-guard-lua.test.ts does the same for the guard.
 */
import { guardChunk, POST_FUNCTION_CHUNKS, readLuaSources, type LuaSources } from '../../scripts/gen-kong-lua';
import { gatewayApplyChunk, gatewayLogEntry, GATEWAY_LOG_REQUIRES, RECORDS_DISABLED, type ApplyPdk, type LuaLog, type RecordContext } from './llm-gateway-lua';
import { luaIpairs, luaPairs, luaToString, luaType } from './lua-table';
import { putHeader } from './pdk';
import type { Headers, RequestContext } from './request-context';
import { UsageCapture, type UsageCaptureHost } from './usage-capture';

export const GUARD_MARKER = 'llm-bypass-guard';
const REQUIRED = /local\s+required\s*=\s*\{([^}]*)\}/;

/** What the chunks read and write of a request (a RequestContext, or a test's stand-in). */
export interface ChunkContext {
  shared: Record<string, unknown>;
  serializeValues: RequestContext['serializeValues'];
  response: { status: number; headers: Headers; source: 'service' | 'exit' | 'error' };
}
export type ChunkLog = (message: string) => void;

export interface BypassGuard {
  required: string[];
  run(ctx: Pick<RequestContext, 'shared' | 'delayedResponse'>): void;
}

/** What llm-gateway-apply needs in access: the PDK setters and kong.log at every level. */
export interface AccessEnv {
  pdk: ApplyPdk;
  luaLog: LuaLog;
}

/** What llm-gateway-log needs in the log phase. */
export interface LogEnv {
  nodeId: string;
  /** The nginx worker running the request (the chunk's upvalues are per worker). */
  worker: number;
  /** Queue.enqueue(QUEUE_CONF, send, handler_conf, entry): [true], [null, err], or raises (queue.lua's asserts). */
  enqueue(entry: string): [true] | [null, string];
  luaLog: LuaLog;
}

export interface PostFunction {
  /** The bypass guard's marks (one guard per post-function). */
  guard: BypassGuard;
  /** Runs the access chunks in order; the guard may set ctx.delayedResponse. */
  access(ctx: ChunkContext & Pick<RequestContext, 'delayedResponse'>, log: ChunkLog, env?: AccessEnv): void;
  /** Runs the log chunks (the request's log phase, after the response was sent). */
  log(ctx: RecordContext, env: LogEnv): void;
  /** Whether the config has a log chunk. */
  hasLog: boolean;
  /** Runs the header_filter chunks on ctx.response (every response: proxied, exit, error). */
  headerFilter(ctx: ChunkContext, log: ChunkLog): void;
  /** A body_filter for one response, or null when the config has none. */
  bodyFilter(ctx: ChunkContext, log: ChunkLog): BodyFilter | null;
}

export interface BodyFilter {
  /** The bytes the client gets for this chunk of the body (eof: the last call). */
  filter(chunk: Buffer, eof: boolean): Buffer;
}

// --- llm-serialize-values -------------------------------------------------------------
const MAX_DEPTH = 6;
const IDENTITY = ['consumer', 'tenant', 'credential_id', 'auth_method', 'scopes'];
const REQUEST = [
  'endpoint', 'model', 'stream', 'include_usage_injected', 'prompt_tokens',
  'prompt_tokens_method', 'requested_completion_tokens', 'body_rewritten', 'findings',
];
const RESPONSE = ['findings', 'blocked'];

const get = (t: unknown, k: string): unknown =>
  typeof t === 'object' && t !== null && !Array.isArray(t) && Object.prototype.hasOwnProperty.call(t, k) ? (t as Record<string, unknown>)[k] : undefined;

/**
 * serialize-values.lua `plain`: a copy with only what a log can hold; undefined for nil.
 * gateway-log.lua has the same function (a chunk cannot share code with another): the
 * bridge models both with this one, and the agreement tests run each Lua copy.
 */
export function plain(v: unknown, depth: number): unknown {
  const t = luaType(v);
  if (t === 'string') return typeof v === 'string' ? v : Buffer.from(v as Uint8Array).toString('utf8');
  if (t === 'boolean') return v;
  if (t === 'number') return Number.isFinite(v) ? v : undefined;
  if (t !== 'table' || depth >= MAX_DEPTH) return undefined;
  if (Array.isArray(v)) {
    const items = v.map((x) => plain(x, depth + 1));
    // a nil inside a Lua sequence: the table is keyed by index (lua-values.ts)
    if (!items.some((x) => x === undefined)) return items;
    return Object.fromEntries(items.flatMap((x, i) => (x === undefined ? [] : [[String(i + 1), x]])));
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of luaPairs(v as object)) {
    const c = plain(x, depth + 1);
    if (c !== undefined) Object.defineProperty(out, k, { value: c, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function pick(t: unknown, names: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const c = plain(get(t, name), 1);
    if (c !== undefined) out[name] = c;
  }
  return out;
}

/** serialize-values.lua */
/** What the usage-encoding chunk reads and writes (a RequestContext, or a test's stand-in). */
export interface UpstreamRequestContext {
  shared: Record<string, unknown>;
  request: { headers: Headers };
}

/** kong/lua/usage-encoding.lua: identity answers for requests the suite counts tokens of. */
export function usageEncodingChunk(ctx: UpstreamRequestContext): void {
  const { llm_guard: guard, llm_rate_limit: limiter } = ctx.shared;
  const measured =
    (luaType(guard) === 'table' && luaType((guard as Record<string, unknown>).endpoint) === 'string') ||
    (luaType(limiter) === 'table' && luaType((limiter as Record<string, unknown>).request) === 'table');
  if (measured) putHeader(ctx.request.headers, 'Accept-Encoding', ['identity']);
}

/** serialize-values.lua `answer_check`: llm-response-guard's check, in the usage value, else in its mark. */
function answerCheck(shared: Record<string, unknown>): unknown {
  for (const holder of [shared.llm_usage, shared.llm_response_guard]) {
    if (luaType(holder) === 'table' && luaType(get(holder, 'answer_check')) === 'table') return get(holder, 'answer_check');
  }
  return undefined;
}

const USAGE = ['prompt_tokens', 'completion_tokens', 'total_tokens', 'cached_tokens', 'reasoning_tokens', 'source'];

export function serializeValuesChunk(ctx: ChunkContext): void {
  const set = (key: string, value: unknown) => ctx.serializeValues.push({ key, value, mode: 'set' });
  const { llm_auth: auth, llm_guard: guard, llm_rate_limit: rl } = ctx.shared;
  if (luaType(auth) === 'table') set('llm.identity', pick(auth, IDENTITY));
  if (luaType(guard) === 'table') set('llm.request', pick(guard, REQUEST));
  if (luaType(rl) === 'table' && luaType(get(rl, 'log')) === 'table') set('llm.rate_limit', plain(get(rl, 'log'), 0));
  const check = answerCheck(ctx.shared);
  if (check !== undefined) set('llm.response', pick(check, RESPONSE));
  const usage = ctx.shared.llm_usage;
  if (luaType(usage) === 'table' && (get(usage, 'source') === 'response' || get(usage, 'source') === 'stream')) set('llm.usage', pick(usage, USAGE));
}

// --- llm-ratelimit-headers ------------------------------------------------------------
const RATELIMIT_PREFIX = 'x-ratelimit-';
/** RFC 9110 token characters (the Lua's `^[%w!#$%%&'*+%.^_`|~-]+$`). */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const UNSAFE_VALUE = /[\0\r\n]/;

/** ratelimit-headers.lua */
export function rateLimitHeadersChunk(ctx: ChunkContext, log: ChunkLog): void {
  const rl = ctx.shared.llm_rate_limit;
  if (luaType(rl) !== 'table') return;
  const headers = ctx.response.headers;
  if (get(rl, 'hide_upstream_headers') === true) {
    for (const name of [...headers.keys()]) if (name.toLowerCase().startsWith(RATELIMIT_PREFIX)) headers.delete(name);
  }
  const ours = get(rl, 'headers');
  if (luaType(ours) !== 'table') return;
  // a Lua sequence's keys are numbers: never a header name
  const entries: Array<[string | number, unknown]> = Array.isArray(ours)
    ? luaIpairs(ours).map((v, i) => [i + 1, v])
    : luaPairs(ours as object);
  for (const [name, raw] of entries) {
    const tv = luaType(raw);
    const value = tv === 'number' ? luaToString(raw as number) : raw;
    const goodName = typeof name === 'string' && TOKEN.test(name);
    if (goodName && typeof value === 'string' && !UNSAFE_VALUE.test(value)) {
      // kong.response.set_header: replaces every value of that name
      headers.set(name.toLowerCase(), [value]);
    } else {
      log(`llm rate-limit header skipped: ${goodName ? name : '(invalid name)'} = (${tv})`);
    }
  }
}

// --- llm-bypass-guard -----------------------------------------------------------------
function bypassGuard(code: string): BypassGuard {
  const m = REQUIRED.exec(code);
  if (!m) throw new Error('post-function: bypass guard without `local required = { ... }`');
  const required = [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
  return {
    required,
    run(ctx) {
      const missing = required.find((k) => ctx.shared[k] === undefined);
      if (!missing) return;
      ctx.delayedResponse = {
        status: 503,
        body: Buffer.from(JSON.stringify({
          error: {
            message: 'A required gateway plugin is unavailable. Retry shortly.',
            type: 'server_error',
            param: null,
            code: 'gateway_plugin_unavailable',
          },
        })),
        headers: new Map([['content-type', ['application/json']], ['retry-after', ['1']]]),
        source: 'exit',
      };
    },
  };
}

// --- the config -----------------------------------------------------------------------
type Phase = 'access' | 'header_filter' | 'body_filter' | 'log';

/** The chunks of one phase as the config lists them (post-function: an array of strings). */
function phaseChunks(config: Record<string, unknown>, phase: Phase): string[] {
  const v = config[phase];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((c) => typeof c !== 'string')) throw new Error(`post-function: ${phase} must be a list of Lua chunks`);
  return v as string[];
}

/** The guard chunk of a post-function config (the access chunk with the guard's marker). */
export function guardCode(config: Record<string, unknown>): string {
  const guards = phaseChunks(config, 'access').filter((c) => c.includes(GUARD_MARKER));
  if (guards.length !== 1) throw new Error(`post-function: expected one ${GUARD_MARKER} chunk in access, found ${guards.length}`);
  return guards[0];
}

export function parseBypassGuard(config: Record<string, unknown>): BypassGuard {
  return bypassGuard(guardCode(config));
}

let cachedSources: LuaSources | null = null;

/**
 * The post-function config, each chunk matched to the kong/lua/ file whose marker it
 * starts with and checked against that file's text; anything else is refused.
 * `cjson`: whether kong.env lets the sandbox require cjson.safe (usage-capture needs it).
 */
export function parsePostFunction(config: Record<string, unknown>, opts: { cjson: boolean; requires?: readonly string[] }): PostFunction {
  const sources = (cachedSources ??= readLuaSources());
  for (const key of Object.keys(config)) {
    const v = config[key];
    if (['access', 'header_filter', 'body_filter', 'log'].includes(key) || v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    throw new Error(`post-function: the bridge does not emulate \`${key}\``);
  }
  type Step = { file: string; run: (ctx: ChunkContext & Partial<Pick<RequestContext, 'delayedResponse'>>, log: ChunkLog, env?: AccessEnv) => void };
  const steps: Record<Phase, Step[]> = { access: [], header_filter: [], body_filter: [], log: [] };
  const logSteps: Array<(ctx: RecordContext, env: LogEnv) => void> = [];
  let guard: BypassGuard | null = null;
  let usage = false;
  // the chunk's upvalues, per nginx worker: gateway-log's one "records disabled" line
  const warnedWorkers = new Set<number>();
  const allowed = new Set(opts.requires ?? (opts.cjson ? ['cjson.safe'] : []));
  for (const phase of ['access', 'header_filter', 'body_filter', 'log'] as const) {
    for (const code of phaseChunks(config, phase)) {
      const src = POST_FUNCTION_CHUNKS.find((c) => code.startsWith(c.marker));
      if (!src) throw new Error(`post-function: a ${phase} chunk the bridge does not know (${JSON.stringify(code.slice(0, 60))}); only kong/lua/'s chunks are emulated`);
      if (src.phase !== phase) throw new Error(`post-function: kong/lua/${src.file} is a ${src.phase} chunk, found in ${phase}`);
      const text = code.replace(/\n+$/, '');
      if (src.marker.includes(GUARD_MARKER)) {
        if (guard) throw new Error('post-function: two bypass guards');
        guard = bypassGuard(text);
        if (text !== guardChunk(sources[src.file], guard.required)) throw new Error(`post-function: the bypass guard differs from kong/lua/${src.file} (run npm run gen:kong-lua)`);
        const g = guard;
        steps.access.push({ file: src.file, run: (ctx) => g.run(ctx as Pick<RequestContext, 'shared' | 'delayedResponse'>) });
        continue;
      }
      if (text !== sources[src.file]) throw new Error(`post-function: a chunk differs from kong/lua/${src.file} (run npm run gen:kong-lua)`);
      if (src.file === 'gateway-apply.lua') {
        steps.access.push({
          file: src.file,
          run: (ctx, log, env) => {
            // without the bridge's PDK (a test's stand-in context): a setter call raises, pcall'ed and logged as in Lua
            const pdk: ApplyPdk = env?.pdk ?? ((method) => {
              throw new Error(`${method}: no PDK in this context`);
            });
            const exit = gatewayApplyChunk(ctx, pdk, env?.luaLog ?? ((_level, m) => log(m)));
            if (exit) {
              ctx.delayedResponse = {
                status: exit.status,
                body: Buffer.from(exit.body),
                headers: new Map(Object.entries(exit.headers).map(([k, v]) => [k.toLowerCase(), [v]])),
                source: 'exit',
              };
            }
          },
        });
      } else if (src.file === 'gateway-log.lua') {
        // pcall(require, ...) of each: a module the sandbox denies leaves the chunk "not ready"
        const ready = GATEWAY_LOG_REQUIRES.every((m) => allowed.has(m));
        logSteps.push((ctx, env) => {
          const entry = gatewayLogEntry(ctx, env.nodeId);
          if (entry === null) return;
          if (!ready) {
            if (!warnedWorkers.has(env.worker)) {
              warnedWorkers.add(env.worker);
              env.luaLog('err', RECORDS_DISABLED);
            }
            return;
          }
          // pcall(Queue.enqueue, ...): an assert in the queue is logged, not raised
          let result: [true] | [null, string];
          try {
            result = env.enqueue(entry);
          } catch (err) {
            result = [null, (err as Error).message];
          }
          if (result[0] !== true) env.luaLog('err', `llm-gateway record of request ${String(ctx.id)} not queued: ${result[1]}`);
        });
      } else if (src.file === 'usage-encoding.lua') steps.access.push({ file: src.file, run: (ctx) => usageEncodingChunk(ctx as unknown as UpstreamRequestContext) });
      else if (src.file === 'serialize-values.lua') steps.header_filter.push({ file: src.file, run: (ctx) => serializeValuesChunk(ctx) });
      else if (src.file === 'ratelimit-headers.lua') steps.header_filter.push({ file: src.file, run: rateLimitHeadersChunk });
      else if (src.file === 'usage-capture.lua') {
        if (usage) throw new Error('post-function: two usage-capture chunks');
        usage = true;
      } else throw new Error(`post-function: no emulation of kong/lua/${src.file}`);
    }
  }
  if (!guard) throw new Error(`post-function: no ${GUARD_MARKER} chunk (every post-function of ours guards its route)`);
  // per worker in the Lua: the chunk's upvalues (one "cjson missing" error per worker)
  const worker = {};
  return {
    guard,
    access(ctx, log, env) {
      for (const s of steps.access) {
        // post-function: a chunk that exits ends the phase
        if (ctx.delayedResponse) return;
        s.run(ctx, log, env);
      }
    },
    hasLog: logSteps.length > 0,
    log(ctx, env) {
      for (const s of logSteps) s(ctx, env);
    },
    headerFilter(ctx, log) {
      for (const s of steps.header_filter) s.run(ctx, log);
    },
    bodyFilter(ctx, log) {
      if (!usage) return null;
      const host: UsageCaptureHost = {
        shared: ctx.shared,
        response: ctx.response,
        setSerializeValue: (key, value) => ctx.serializeValues.push({ key, value, mode: 'set' }),
        log,
        cjson: opts.cjson,
      };
      return new UsageCapture(host, worker);
    },
  };
}
