/**
 * Kong's bundled `pre-function` (kong/plugins/pre-function/handler.lua: the shared
 * _handler.lua at priority 1000000, so its access runs before every other plugin's).
 * As with post-function (post-function.ts), the bridge runs only the chunks of
 * kong/lua/ natively, each recognized by its marker comment and checked against its
 * file's text:
 *
 *   access  llm-gateway-pack  the request into kong.ctx.shared.llm_gateway_request
 *                             (llm-gateway-lua.ts gatewayPackChunk)
 *
 * Any other chunk, a chunk that differs from its file, or another phase makes the
 * bridge refuse the config.
 */
import { PRE_FUNCTION_CHUNKS, readLuaSources } from '../../scripts/gen-kong-lua';
import { gatewayPackChunk, type PackContext } from './llm-gateway-lua';

export const PRE_FUNCTION_PRIORITY = 1000000;

export interface PreFunction {
  /** Runs the access chunks in order (none of ours exits). */
  access(ctx: PackContext): void;
}

let sources: Record<string, string> | null = null;

export function parsePreFunction(config: Record<string, unknown>): PreFunction {
  for (const key of Object.keys(config)) {
    const v = config[key];
    if (key === 'access' || v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    throw new Error(`pre-function: the bridge does not emulate \`${key}\``);
  }
  const chunks = config.access;
  if (!Array.isArray(chunks) || chunks.some((c) => typeof c !== 'string')) throw new Error('pre-function: access must be a list of Lua chunks');
  const steps: Array<(ctx: PackContext) => void> = [];
  for (const code of chunks as string[]) {
    const src = PRE_FUNCTION_CHUNKS.find((c) => code.startsWith(c.marker));
    if (!src) throw new Error(`pre-function: an access chunk the bridge does not know (${JSON.stringify(code.slice(0, 60))}); only kong/lua/'s chunks are emulated`);
    const text = code.replace(/\n+$/, '');
    if (text !== (sources ??= readLuaSources())[src.file]) throw new Error(`pre-function: a chunk differs from kong/lua/${src.file} (run npm run gen:kong-lua)`);
    if (src.file !== 'gateway-pack.lua') throw new Error(`pre-function: no emulation of kong/lua/${src.file}`);
    steps.push(gatewayPackChunk);
  }
  return {
    access(ctx) {
      for (const s of steps) s(ctx);
    },
  };
}
