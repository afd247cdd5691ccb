/**
 * Runs a post-function chunk from kong/lua/ under LuaJIT through harness.lua (Kong's
 * default sandbox environment, a minimal kong/ngx shim, the chunk compiled once and its
 * function run per request). The cases go to the harness as a Lua file (`return {...}`,
 * every byte of the bodies escaped), so no JSON decoder is needed to read them.
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

export function runLua(
  code: string,
  cases: (BodyCase | HeaderCase | AccessCase)[],
  requires: string[] = ['cjson.safe'],
): { decoder: string; results: (BodyResult | HeaderResult | AccessResult)[] } {
  if (!LUAJIT) throw new Error('luajit is required (apt-get install luajit; .ci/run installs it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-lua-'));
  try {
    const spec = path.join(dir, 'spec.lua');
    fs.writeFileSync(
      spec,
      `return {code=${luaString(path.join(REPO, code))},requires=${luaValue(requires)},cases={${cases
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
      results: parsed.results.map((r) => ({
        ...r,
        outputs: list<string>(r.outputs).map((o) => Buffer.from(o, 'latin1')),
        usages: list(r.usages),
        serialized: typeof r.serialized === 'string' ? r.serialized : list(r.serialized),
        logs: list(r.logs),
        headers: r.headers && !Array.isArray(r.headers) ? r.headers : {},
      })) as unknown as (BodyResult | HeaderResult | AccessResult)[],
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
