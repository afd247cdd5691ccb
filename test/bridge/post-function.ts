/**
 * Kong's bundled `post-function` cannot run here (it is Lua). Our kong.yml uses it
 * for one thing only: the bypass guard, which answers 503 when a plugin of ours did
 * not mark the request (Kong skips a plugin whose server is down). The bridge reads
 * the list of required marks from that Lua (`local required = { "llm_auth", ... }`)
 * and applies the same rule natively; test/foundation/bypass-guard-lua.test.ts runs
 * the Lua itself under a Lua interpreter with a minimal `kong` shim.
 */
import type { RequestContext } from './request-context';

export const GUARD_MARKER = 'llm-bypass-guard';
const REQUIRED = /local\s+required\s*=\s*\{([^}]*)\}/;

export interface BypassGuard {
  required: string[];
  run(ctx: RequestContext): void;
}

export function guardCode(config: Record<string, unknown>): string {
  const access = config.access;
  if (!Array.isArray(access) || access.length !== 1 || typeof access[0] !== 'string') {
    throw new Error('post-function: the bridge only emulates a single access chunk (the bypass guard)');
  }
  return access[0];
}

export function parseBypassGuard(config: Record<string, unknown>): BypassGuard {
  const code = guardCode(config);
  if (!code.includes(GUARD_MARKER)) throw new Error(`post-function: only the ${GUARD_MARKER} chunk is emulated`);
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
