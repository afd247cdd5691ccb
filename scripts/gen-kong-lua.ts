/**
 * Writes the config of every `post-function` and `pre-function` plugin in
 * kong/kong.yml from its one source, the Lua files in kong/lua/:
 *
 *   post-function
 *     access:        gateway-apply.lua (llm-gateway's decision applied first, so the
 *                    chunks after it see what it publishes), bypass-guard.lua (with
 *                    that block's own list of required marks, which stays in kong.yml
 *                    next to the plugins it names), usage-encoding.lua
 *     header_filter: serialize-values.lua, ratelimit-headers.lua
 *     body_filter:   usage-capture.lua
 *     log:           gateway-log.lua
 *   pre-function
 *     access:        gateway-pack.lua (the request packed for llm-gateway)
 *
 * Each chunk starts with its file's marker comment (`-- llm-<name>:`), by which the
 * test bridge (test/bridge/post-function.ts) recognizes it. The serialize chunk runs
 * in header_filter, which Kong runs on exits too, so a request the guard answers 503
 * is still logged with what the plugins that did run published. A block with another
 * phase or a chunk that is not one of these is refused, never silently dropped.
 * `--check` fails on drift of any chunk and on a missing phase (the test suite runs
 * it); run `npm run gen:kong-lua` after editing the Lua, then `npm run gen:kong-test`.
 * Where the pre-function (and the llm-gateway plugin) go is kong.yml's to say: this
 * script rewrites the config of the blocks it finds and adds none.
 *
 *   node dist/scripts/gen-kong-lua.js [--check]
 */
import fs = require('fs');
import path = require('path');
import { REPO_ROOT } from './repo-root';

const KONG_YML = path.join(REPO_ROOT, 'kong', 'kong.yml');
const LUA_DIR = path.join(REPO_ROOT, 'kong', 'lua');
const REQUIRED_LINE = /^local required = \{([^}]*)\}$/;
const TEMPLATE_MARKS = '"REQUIRED_MARKS"';

export type PostFunctionPhase = 'access' | 'header_filter' | 'body_filter' | 'log';
export type PreFunctionPhase = 'access';

export interface ChunkSource<P extends string = PostFunctionPhase> {
  /** The marker comment the chunk's first line starts with. */
  marker: string;
  file: string;
  phase: P;
}

/** Every chunk of our post-function blocks, in the order each phase runs them. */
export const POST_FUNCTION_CHUNKS: readonly ChunkSource[] = [
  { marker: '-- llm-gateway-apply:', file: 'gateway-apply.lua', phase: 'access' },
  { marker: '-- llm-bypass-guard:', file: 'bypass-guard.lua', phase: 'access' },
  { marker: '-- llm-usage-encoding:', file: 'usage-encoding.lua', phase: 'access' },
  { marker: '-- llm-serialize-values:', file: 'serialize-values.lua', phase: 'header_filter' },
  { marker: '-- llm-ratelimit-headers:', file: 'ratelimit-headers.lua', phase: 'header_filter' },
  { marker: '-- llm-usage-capture:', file: 'usage-capture.lua', phase: 'body_filter' },
  { marker: '-- llm-gateway-log:', file: 'gateway-log.lua', phase: 'log' },
];
/** Every chunk of our pre-function blocks, in the order each phase runs them. */
export const PRE_FUNCTION_CHUNKS: readonly ChunkSource<PreFunctionPhase>[] = [
  { marker: '-- llm-gateway-pack:', file: 'gateway-pack.lua', phase: 'access' },
];
/** Phases of a post-function block, in the order the config lists them. */
export const POST_FUNCTION_PHASES: readonly PostFunctionPhase[] = ['access', 'header_filter', 'body_filter', 'log'];
/** Phases of a pre-function block. */
export const PRE_FUNCTION_PHASES: readonly PreFunctionPhase[] = ['access'];
const PHASES = POST_FUNCTION_PHASES;
const ALL_CHUNKS: readonly ChunkSource<string>[] = [...POST_FUNCTION_CHUNKS, ...PRE_FUNCTION_CHUNKS];
const GUARD = POST_FUNCTION_CHUNKS.find((c) => c.file === 'bypass-guard.lua')!;

/** The Lua of each chunk, by file name, trailing newlines removed. */
export type LuaSources = Record<string, string>;

export function readLuaSources(dir = LUA_DIR): LuaSources {
  const out: LuaSources = {};
  for (const c of ALL_CHUNKS) {
    const code = fs.readFileSync(path.join(dir, c.file), 'utf8').replace(/\n+$/, '');
    if (!code.startsWith(c.marker)) throw new Error(`kong/lua/${c.file}: the first line must start with \`${c.marker}\``);
    if (code.includes('\t')) throw new Error(`kong/lua/${c.file}: tabs cannot go into a YAML literal block`);
    out[c.file] = code;
  }
  return out;
}

/** The guard for these marks, as the Lua file spells it. */
export function guardChunk(template: string, marks: readonly string[]): string {
  const lines = template.replace(/\n+$/, '').split('\n');
  const at = lines.findIndex((l) => REQUIRED_LINE.test(l));
  if (at === -1 || !lines[at].includes(TEMPLATE_MARKS)) throw new Error(`${GUARD.file}: no \`local required = { ${TEMPLATE_MARKS} }\` line`);
  lines[at] = `local required = { ${marks.map((m) => JSON.stringify(m)).join(', ')} }`;
  return lines.join('\n');
}

/** The `config:` block of one post-function, at `indent` (the indent of `config:`). */
export function postFunctionConfig(sources: LuaSources, marks: readonly string[], indent: string): string[] {
  const out = [`${indent}config:`];
  for (const phase of PHASES) {
    out.push(`${indent}  ${phase}:`);
    for (const c of POST_FUNCTION_CHUNKS.filter((x) => x.phase === phase)) {
      const code = c === GUARD ? guardChunk(sources[c.file], marks) : sources[c.file];
      out.push(`${indent}    - |`, ...code.split('\n').map((l) => (l ? `${indent}      ${l}` : '')));
    }
  }
  return out;
}

/** The `config:` block of one pre-function, at `indent` (the indent of `config:`). */
export function preFunctionConfig(sources: LuaSources, indent: string): string[] {
  const out = [`${indent}config:`];
  for (const phase of PRE_FUNCTION_PHASES) {
    out.push(`${indent}  ${phase}:`);
    for (const c of PRE_FUNCTION_CHUNKS.filter((x) => x.phase === phase)) {
      out.push(`${indent}    - |`, ...sources[c.file].split('\n').map((l) => (l ? `${indent}      ${l}` : '')));
    }
  }
  return out;
}

const indentOf = (l: string) => l.match(/^ */)![0].length;

/**
 * kong.yml with the config of every post-function and pre-function rewritten from the
 * Lua files, each guard's marks kept.
 */
export function withPostFunctions(yml: string, sources: LuaSources): string {
  const lines = yml.split('\n');
  const out: string[] = [];
  let found = 0;
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]);
    const entry = /^( *)- name: (post|pre)-function\s*$/.exec(lines[i]);
    if (!entry) continue;
    const kind = `${entry[2]}-function` as 'post-function' | 'pre-function';
    const pre = kind === 'pre-function';
    const phases: readonly string[] = pre ? PRE_FUNCTION_PHASES : PHASES;
    const chunks: readonly ChunkSource<string>[] = pre ? PRE_FUNCTION_CHUNKS : POST_FUNCTION_CHUNKS;
    if (!pre) found++;
    const at = `kong.yml line ${i + 1}`;
    const configIndent = entry[1].length + 2;
    if (lines[i + 1] !== `${' '.repeat(configIndent)}config:`) throw new Error(`${at}: a ${kind} whose next line is not \`config:\``);
    // the block: every line after `config:` more indented than it (blank lines inside)
    let end = i + 2;
    while (end < lines.length && (lines[end].trim() === '' || indentOf(lines[end]) > configIndent)) end++;
    // trailing blank lines belong to what follows
    while (end > i + 2 && lines[end - 1].trim() === '') end--;
    const block = lines.slice(i + 2, end);
    for (const [k, l] of block.entries()) {
      const key = indentOf(l) === configIndent + 2 ? /^\s*([A-Za-z_]+):/.exec(l)?.[1] : undefined;
      if (key !== undefined && !phases.includes(key)) {
        throw new Error(`kong.yml line ${i + 3 + k}: ${kind} \`${key}\` is not generated from kong/lua/ (add it there and here, or remove it)`);
      }
      // a chunk's first line: one of ours, or refused (it would be dropped)
      if (/^\s*- \|\s*$/.test(l) && !chunks.some((c) => block[k + 1]?.trim().startsWith(c.marker))) {
        throw new Error(`kong.yml line ${i + 3 + k}: a ${kind} chunk that does not start with a marker of kong/lua/`);
      }
    }
    if (pre) {
      out.push(...preFunctionConfig(sources, ' '.repeat(configIndent)));
      i = end - 1;
      continue;
    }
    const requiredLines = block.map((l) => REQUIRED_LINE.exec(l.trim())).filter((m): m is RegExpExecArray => m !== null);
    if (requiredLines.length !== 1) throw new Error(`${at}: a post-function needs exactly one bypass guard with \`local required = { ... }\``);
    const required = requiredLines[0][1];
    const marks = [...required.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    // marks spelled another way (single quotes) would read as none: a guard that checks nothing
    if (marks.length === 0 || required.replace(/"[^"]+"/g, '').replace(/[\s,]/g, '') !== '') {
      throw new Error(`${at}: write the required marks as double-quoted strings`);
    }
    out.push(...postFunctionConfig(sources, marks, ' '.repeat(configIndent)));
    i = end - 1;
  }
  if (found === 0) throw new Error('kong.yml has no post-function plugin');
  return out.join('\n');
}

function main(): void {
  const current = fs.readFileSync(KONG_YML, 'utf8');
  const next = withPostFunctions(current, readLuaSources());
  if (process.argv.includes('--check')) {
    if (next !== current) {
      process.stderr.write('kong/kong.yml post-function / pre-function blocks differ from kong/lua/*.lua: run `npm run gen:kong-lua`\n');
      process.exit(1);
    }
    return;
  }
  fs.writeFileSync(KONG_YML, next);
  process.stdout.write(`wrote ${path.relative(REPO_ROOT, KONG_YML)}\n`);
}

if (require.main === module) main();
