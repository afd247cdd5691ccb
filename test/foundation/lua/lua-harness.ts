/**
 * Runs a pre-/post-function chunk from kong/lua/ under LuaJIT through harness.lua
 * (Kong's default sandbox environment, a minimal kong/ngx shim, doubles for
 * kong.tools.queue and resty.http, the chunk compiled once and its function run per
 * request). The cases go to the harness as a Lua file (`return {...}`, every byte of
 * the bodies escaped), so no JSON decoder is needed to read them. harness.lua's header
 * documents every case kind and what it returns; the types below mirror it.
 */
import { execFileSync } from 'child_process';
import fs = require('fs');
import os = require('os');
import path = require('path');

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const LUAJIT = ['/usr/bin/luajit', '/usr/local/bin/luajit'].find((p) => fs.existsSync(p));
const HARNESS = path.join(__dirname, 'harness.lua');

export type LuaInput = string | Buffer | number | boolean | null | LuaInput[] | { [k: string]: LuaInput | undefined };

/** A Lua string literal holding exactly these bytes. */
export function luaString(s: string | Buffer): string {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  let out = '"';
  for (const b of bytes) {
    if (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c) out += String.fromCharCode(b);
    else out += `\\${String(b).padStart(3, '0')}`;
  }
  return out + '"';
}

export function luaValue(v: LuaInput | undefined): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string' || Buffer.isBuffer(v)) return luaString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{${v.map(luaValue).join(',')}}`;
  return `{${Object.entries(v)
    .filter(([, x]) => x !== undefined)
    .map(([k, x]) => `[${luaString(k)}]=${luaValue(x)}`)
    .join(',')}}`;
}

export interface BodyCase {
  name: string;
  status?: number;
  /** kong.response.get_source(): "service" unless given. */
  source?: 'service' | 'exit' | 'error';
  headers?: Record<string, string>;
  shared?: Record<string, LuaInput>;
  body: string | Buffer;
  /** whole: one chunk; all2: two chunks split at every offset; sizes: fixed-size chunks; random: random cuts. */
  splits?: 'whole' | 'all2' | 'sizes' | 'random';
  sizes?: number[];
  seed?: number;
  runs?: number;
  max_cuts?: number;
}

export interface HeaderCase {
  kind: 'header';
  name: string;
  headers?: Record<string, string | string[]>;
  shared?: Record<string, LuaInput>;
}

/** An access chunk run once with this kong.ctx.shared. */
export interface AccessCase {
  kind: 'access';
  name: string;
  shared?: Record<string, LuaInput>;
}

export interface AccessResult {
  name: string;
  ok: boolean;
  error?: string;
  /** kong.ctx.shared after the chunk ran. */
  shared: Record<string, unknown>;
  /** The kong.log.set_serialize_value table (JSON; "{}" when none). */
  serialized: string;
  /** Headers set with kong.service.request.set_header (lower-case names). */
  upstream_headers: Record<string, string>;
  /** kong.response.exit's arguments, when it was called. */
  exited?: { status: number; body: string; headers: Record<string, string> };
  logs: string[];
}

/**
 * One whole request (pre-function access, post-function access or log): the PDK
 * getters answer from these fields; defaults in harness.lua's header.
 */
export interface RequestCase {
  kind: 'request';
  name: string;
  shared?: Record<string, LuaInput>;
  method?: string;
  path?: string;
  raw_query?: string;
  /** kong.request.get_query() */
  query?: Record<string, LuaInput>;
  /** Header lines in arrival order ([name, value]), or a map (sorted by name). */
  request_headers?: Array<[string, string]> | Record<string, string | string[]>;
  /** The request body as nginx holds it in memory; absent: none. */
  body?: string | Buffer;
  /** nginx spooled the body to a file: get_raw_body() returns nil and an error. */
  body_in_file?: boolean;
  forwarded_ip?: string;
  status?: number;
  source?: 'service' | 'exit' | 'error';
  response_headers?: Record<string, string | string[]>;
  /** ngx.var values over the defaults (all strings, as nginx gives them). */
  var?: Record<string, string>;
  /** ngx.req.start_time(), seconds. */
  start_time?: number;
  /** ngx.ctx fields (KONG_PROXY_LATENCY, KONG_WAITING_TIME, KONG_PROCESSING_START, ...). */
  ngx_ctx?: Record<string, LuaInput>;
  route?: Record<string, LuaInput>;
  service?: Record<string, LuaInput>;
  node_id?: string;
  /** Run the queue's handler over this case's enqueued entries, once per script. */
  flush?: Array<{ status?: number; answer?: string; connect_error?: string; request_error?: string }>;
}

export interface PdkCall {
  fn: 'service.request.set_headers' | 'service.request.set_raw_query' | 'service.request.set_raw_body' | 'response.set_headers';
  arg: unknown;
}

export interface Enqueued {
  queue_conf: Record<string, unknown>;
  handler_conf: Record<string, unknown>;
  /** What was enqueued (a JSON string for gateway-log.lua). */
  entry: unknown;
  /** `entry` JSON-decoded, when it is a string. */
  decoded?: Record<string, unknown>;
}

export interface Flush {
  /** The handler's first return value (false when it raised). */
  ok: boolean;
  err?: string;
  /** The error, when the handler raised. */
  raised?: string;
  /** resty.http calls in order: set_timeouts, connect, request, set_keepalive / close. */
  http: Array<{ fn: string; arg?: unknown }>;
  /** The POSTed body, JSON-decoded. */
  batch?: unknown[];
  logs: string[];
}

export interface RequestResult {
  name: string;
  ok: boolean;
  error?: string;
  shared: Record<string, unknown>;
  calls: PdkCall[];
  upstream_headers: Record<string, string | string[]>;
  response_headers: Record<string, string | string[]>;
  logs: string[];
  /** kong.request.get_raw_body() calls. */
  body_reads: number;
  exited?: { status: number; body: string; headers: Record<string, string> };
  enqueued: Enqueued[];
  flushes: Flush[];
}

export interface BodyResult {
  name: string;
  runs: number;
  /** The distinct bodies the client received over all runs (exact bytes). */
  outputs: Buffer[];
  /** The distinct kong.ctx.shared.llm_usage values (JSON; "null" when absent). */
  usages: string[];
  /** The distinct kong.log.set_serialize_value tables (JSON). */
  serialized: string[];
  logs: string[];
  /** Most bytes of strings held in ngx.ctx after any call. */
  max_retained: number;
  seconds: number;
}

export interface HeaderResult {
  name: string;
  ok: boolean;
  error?: string;
  headers: Record<string, string | string[]>;
  logs: string[];
}

/** The harness encodes an empty Lua table as `{}`; lists come back as arrays otherwise. */
const list = <T>(v: unknown): T[] => (Array.isArray(v) ? v : []);
/** An empty Lua table meant as a map comes back as `{}`; never `[]` from this encoder, but be safe. */
const map = <T>(v: unknown): Record<string, T> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, T>) : {});

function requestResult(r: Record<string, unknown>): RequestResult {
  return {
    ...(r as unknown as RequestResult),
    shared: map(r.shared),
    calls: list(r.calls),
    upstream_headers: map(r.upstream_headers),
    response_headers: map(r.response_headers),
    logs: list(r.logs),
    enqueued: list(r.enqueued),
    flushes: list<Record<string, unknown>>(r.flushes).map((f) => ({ ...(f as unknown as Flush), http: list(f.http), logs: list(f.logs) })),
  };
}

export function runLua(
  code: string,
  cases: (BodyCase | HeaderCase | AccessCase | RequestCase)[],
  requires: string[] = ['cjson.safe'],
  options: { prefix?: string } = {},
): { decoder: string; results: (BodyResult | HeaderResult | AccessResult | RequestResult)[] } {
  if (!LUAJIT) throw new Error('luajit is required (apt-get install luajit; .ci/run installs it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-lua-'));
  try {
    const spec = path.join(dir, 'spec.lua');
    fs.writeFileSync(
      spec,
      `return {code=${luaString(path.join(REPO, code))},requires=${luaValue(requires)},prefix=${luaValue(options.prefix)},cases={${cases
        .map((c) => luaValue(c as unknown as LuaInput))
        .join(',\n')}}}`,
    );
    const exec = () => execFileSync(LUAJIT, [HARNESS, spec], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    let stdout: string;
    try {
      stdout = exec();
    } catch (err) {
      const e = err as { status?: number | null; signal?: string | null; stderr?: string };
      const why = `status ${e.status ?? '-'}, signal ${e.signal ?? '-'}, stderr: ${String(e.stderr ?? '').slice(0, 2000)}`;
      // Seen twice in full-suite runs, never alone: the interpreter process died with
      // nothing on stderr. A Lua error always writes stderr and is never retried; a
      // silent death is run once more, and said, so it cannot hide a wrong result.
      if (String(e.stderr ?? '').trim() !== '') throw new Error(`luajit harness failed: ${why}`);
      console.warn(`luajit harness died silently (${why}); running it once more`);
      stdout = exec();
    }
    const parsed = JSON.parse(stdout) as { decoder: string; results: Record<string, unknown>[] };
    return {
      decoder: parsed.decoder,
      results: parsed.results.map((r, i) => cases[i] && (cases[i] as { kind?: string }).kind === 'request' ? requestResult(r) : ({
        ...r,
        outputs: list<string>(r.outputs).map((o) => Buffer.from(o, 'latin1')),
        usages: list(r.usages),
        serialized: typeof r.serialized === 'string' ? r.serialized : list(r.serialized),
        logs: list(r.logs),
        headers: r.headers && !Array.isArray(r.headers) ? r.headers : {},
      })) as unknown as (BodyResult | HeaderResult | AccessResult | RequestResult)[],
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
