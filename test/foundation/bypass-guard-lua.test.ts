/**
 * The bypass guard is Lua run by Kong's bundled post-function, which the bridge
 * cannot run; the bridge applies the same rule natively (post-function.ts). This
 * test runs the guard's Lua from kong/kong.yml itself under LuaJIT (Kong's Lua
 * runtime) with a minimal `kong` shim, and checks that Lua and bridge agree: nothing
 * happens when every mark is set, and a 503 with the same body when one is missing.
 */
import { execFileSync } from 'child_process';
import fs = require('fs');
import os = require('os');
import path = require('path');
import { loadDeclarative } from '../bridge/declarative';
import { REPO_ROOT } from '../bridge/kong-settings';
import { guardCode, parseBypassGuard } from '../bridge/post-function';
import type { RequestContext } from '../bridge/request-context';

const LUAJIT = ['/usr/bin/luajit', '/usr/local/bin/luajit'].find((p) => fs.existsSync(p));

/** post-function semantics: a chunk returning a function has that function run per request. */
const HARNESS = `
local code_file, marks = arg[1], arg[2]
local shared = {}
for mark in string.gmatch(marks, "[^,]+") do shared[mark] = { seen = true } end
local exited = false
kong = {
  ctx = { shared = shared },
  log = { err = function() end },
  response = {
    exit = function(status, body, headers)
      exited = true
      io.write(tostring(status), "\\n", body, "\\n", headers["Content-Type"], "\\n", headers["Retry-After"], "\\n")
    end,
  },
}
ngx = { null = nil }
local f = assert(io.open(code_file)):read("*a")
local chunk = assert(loadstring(f))
local handler = chunk()
if type(handler) == "function" then handler() end
if not exited then io.write("pass\\n") end
`;

function runLua(code: string, marks: string[]): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guard-'));
  try {
    fs.writeFileSync(path.join(dir, 'guard.lua'), code);
    fs.writeFileSync(path.join(dir, 'harness.lua'), HARNESS);
    return execFileSync(LUAJIT!, [path.join(dir, 'harness.lua'), path.join(dir, 'guard.lua'), marks.join(',')], { encoding: 'utf8' })
      .trimEnd()
      .split('\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function bridgeVerdict(config: Record<string, unknown>, marks: string[]) {
  const ctx = { shared: Object.fromEntries(marks.map((m) => [m, { seen: true }])), delayedResponse: null } as unknown as RequestContext;
  parseBypassGuard(config).run(ctx);
  return ctx.delayedResponse;
}

describe('bypass guard (post-function Lua in kong/kong.yml)', () => {
  const decl = loadDeclarative(fs.readFileSync(path.join(REPO_ROOT, 'kong', 'kong.yml'), 'utf8'));
  const guards = decl.plugins.filter((p) => p.name === 'post-function');

  it('is present for every route of the OpenAI service', () => {
    for (const route of decl.routes) {
      const covering = guards.find((g) => g.route?.id === route.id || (!g.route && g.service?.id === route.service.id) || (!g.route && !g.service));
      expect({ route: route.name, guarded: Boolean(covering) }).toEqual({ route: route.name, guarded: true });
    }
  });

  it('requires, on every route, exactly the marks of our plugins that run there', () => {
    // the most specific entity of a plugin name applies (route, then service, then global)
    const effective = (name: string, route: (typeof decl.routes)[number]) =>
      decl.plugins.find((p) => p.name === name && p.route?.id === route.id) ??
      decl.plugins.find((p) => p.name === name && !p.route && p.service?.id === route.service.id) ??
      decl.plugins.find((p) => p.name === name && !p.route && !p.service);
    // llm-audit runs in the log phase only: it has no mark to leave before the guard runs
    const LOG_ONLY = new Set(['llm-audit']);
    const ours = [...new Set(decl.plugins.filter((p) => p.name.startsWith('llm-') && !LOG_ONLY.has(p.name)).map((p) => p.name))];
    for (const route of decl.routes) {
      const guard = effective('post-function', route)!;
      const required = [...parseBypassGuard(guard.config).required].sort();
      const running = ours.filter((name) => effective(name, route)).map((name) => name.replace(/-/g, '_'));
      // llm-gateway's decision carries its stages' marks (gateway-apply.lua copies them in)
      const gateway = effective('llm-gateway', route);
      if (gateway) {
        const stages: Record<string, string> = { auth: 'llm_auth', guard: 'llm_guard', rate_limit: 'llm_rate_limit' };
        for (const [stage, mark] of Object.entries(stages)) if (gateway.config[stage]) running.push(mark);
      }
      running.sort();
      // a missing mark lets a skipped plugin through; an extra one answers 503 to every request
      expect({ route: route.name, required }).toEqual({ route: route.name, required: running });
    }
  });

  it('runs under LuaJIT and agrees with the bridge', () => {
    if (!LUAJIT) throw new Error('luajit is required (apt-get install luajit; .ci/run installs it)');
    for (const guard of guards) {
      const code = guardCode(guard.config);
      const { required } = parseBypassGuard(guard.config);
      expect(runLua(code, required)).toEqual(['pass']);
      expect(bridgeVerdict(guard.config, required)).toBeNull();

      const missing = required.slice(1);
      const [status, body, contentType, retryAfter] = runLua(code, missing);
      const bridge = bridgeVerdict(guard.config, missing)!;
      expect(Number(status)).toBe(503);
      expect(bridge.status).toBe(503);
      expect(JSON.parse(body)).toEqual(JSON.parse(String(bridge.body)));
      expect(JSON.parse(body).error).toMatchObject({ type: 'server_error', code: 'gateway_plugin_unavailable', param: null });
      expect(contentType).toBe(bridge.headers.get('content-type')![0]);
      expect(retryAfter).toBe(bridge.headers.get('retry-after')![0]);
    }
  });
});
