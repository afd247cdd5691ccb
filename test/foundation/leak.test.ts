/**
 * kong-pdk keeps an entry per event until a final Step arrives; a phase ending in
 * kong.response.exit never gets one (Kong stops after exit). On a real Kong 3.10 that
 * cost +80 MB per 100,000 rejected requests. This drives 100,000 rejections through
 * Kong's side of the RPC (the bridge's plugin runner) against our server and, as a
 * control that shows the test can fail, fewer against kong-pdk's stock server.
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import type { PluginEntity, Route } from '../bridge/declarative';
import { REPO_ROOT } from '../bridge/kong-settings';
import { ExternalPlugin } from '../bridge/plugin-runner';
import { PluginServerProcess, queryPluginInfo } from '../bridge/plugin-server';
import { newRequestContext, type RequestContext } from '../bridge/request-context';

const PROBE_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'plugin-servers', 'probe');
const OURS = `${process.execPath} ${path.join(REPO_ROOT, 'dist', 'bin', 'llm-pluginserver.js')}`;
const STOCK = `${process.execPath} ${path.join(REPO_ROOT, 'node_modules', 'kong-pdk', 'bin', 'kong-js-pluginserver')}`;
const CONCURRENCY = 32;
const MB = 1024 * 1024;

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const ROUTE = { id: 'r', name: 'leak', paths: ['/'], methods: null, strip_path: false, preserve_host: false, service: { id: 's' } } as unknown as Route;

function rejectedRequest(): RequestContext {
  return newRequestContext({
    id: 'leak',
    startedAt: Date.now(),
    clientIp: '127.0.0.1',
    route: ROUTE,
    request: {
      method: 'POST', scheme: 'http', host: 'localhost', port: 8000, path: '/v1/chat/completions', rawQuery: '',
      headers: new Map([['x-probe-exit', ['429']]]), body: Buffer.alloc(0), bodyInFile: false,
    },
  });
}

async function measure(label: string, command: string, requests: number): Promise<{ before: number; after: number }> {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'leak-'));
  const def = {
    name: 'probe',
    socket: path.join(prefix, 'probe.socket'),
    startCmd: `${command} --plugins-directory ${PROBE_DIR} --kong-prefix ${prefix} --sock-name probe.socket`,
    queryCmd: `${process.execPath} ${path.join(REPO_ROOT, 'dist', 'bin', 'llm-pluginserver.js')} --plugins-directory ${PROBE_DIR} --dump-all-plugins`,
  };
  const server = new PluginServerProcess(def);
  await server.start();
  const logs: string[] = [];
  const host = { consumers: [], nodeId: 'leak', log: (_l: string, _p: string, m: string) => void logs.push(m) };
  const plugin = new ExternalPlugin(await queryPluginInfo(def), server, host);
  const entity: PluginEntity = { id: 'probe-1', name: 'probe', config: {}, enabled: true, route: null, service: null, consumer: null };
  const config = { noop: false, log_url: null };
  const run = async (n: number) => {
    let next = 0;
    const worker = async () => {
      while (next++ < n) {
        const ctx = rejectedRequest();
        await plugin.handleEvent(entity, config, ctx, 'access');
        if (ctx.delayedResponse?.status !== 429) throw new Error(`not rejected: ${logs.slice(-3).join(' | ')}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  try {
    await run(50000); // warm up: JIT, pools, V8 heap growth to its steady size
    const before = rssBytes(server.pid!);
    const t0 = Date.now();
    for (let done = 0; done < requests; done += 25000) {
      await run(25000);
      process.stdout.write(`  ${label} checkpoint ${done + 25000}: ${(rssBytes(server.pid!) / MB).toFixed(1)} MB\n`);
    }
    const seconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 200));
    const after = rssBytes(server.pid!);
    process.stdout.write(
      `${label}: ${requests} rejected requests in ${seconds.toFixed(1)} s (${Math.round(requests / seconds)}/s); ` +
        `plugin server RSS ${(before / MB).toFixed(1)} MB -> ${(after / MB).toFixed(1)} MB (${((after - before) / MB).toFixed(1)} MB)\n`,
    );
    return { before, after };
  } finally {
    plugin.rpc.reset();
    await server.stop();
    fs.rmSync(prefix, { recursive: true, force: true });
  }
}

describe('plugin server memory under rejected requests', () => {
  it('stays flat over 100,000 kong.response.exit rejections with our server', async () => {
    const { before, after } = await measure('llm-pluginserver', OURS, 100000);
    // V8's heap breathes by ~10 MB between collections; the stock server's leak is
    // ~130 MB per 100,000 (below), so 25 MB tells the two apart without flaking.
    expect(after - before).toBeLessThan(25 * MB);
  }, 300000);

  it('grows with kong-pdk\'s stock server (the leak this guards against)', async () => {
    const { before, after } = await measure('kong-js-pluginserver (stock)', STOCK, 50000);
    // ~1 KB per rejected request leaks there
    expect(after - before).toBeGreaterThan(20 * MB);
  }, 300000);
});
