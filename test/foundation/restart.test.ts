/**
 * After a plugin server restart, Kong's nginx workers still hold the instance ids the
 * old process gave them, and each learns of the restart only when the server answers
 * "no plugin instance". kong-pdk numbers instances from 0 in every process, so a
 * stale id from one worker can land on an instance another worker just started for a
 * different config — another route's rules. Two runners (two workers) on one server
 * show it: with kong-pdk's stock server the stale id runs the other config; with ours
 * (ids from a random start) it is refused and the right instance is started again.
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import type { PluginEntity, Route } from '../bridge/declarative';
import { REPO_ROOT } from '../bridge/kong-settings';
import { ExternalPlugin } from '../bridge/plugin-runner';
import { PluginServerProcess, queryPluginInfo } from '../bridge/plugin-server';
import { newRequestContext } from '../bridge/request-context';

const PROBE_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'plugin-servers', 'probe');
const QUERY = `${process.execPath} ${path.join(REPO_ROOT, 'dist', 'bin', 'llm-pluginserver.js')} --plugins-directory ${PROBE_DIR} --dump-all-plugins`;
const OURS = `${process.execPath} ${path.join(REPO_ROOT, 'dist', 'bin', 'llm-pluginserver.js')}`;
const STOCK = `${process.execPath} ${path.join(REPO_ROOT, 'node_modules', 'kong-pdk', 'bin', 'kong-js-pluginserver')}`;
const ROUTE = { id: 'r', name: 'r', paths: ['/'], methods: null, strip_path: false, preserve_host: false, service: { id: 's' } } as unknown as Route;

/** The admin-like config rejects (x-probe-exit), the other one lets everything through (noop). */
const strict: PluginEntity = { id: 'strict', name: 'probe', config: {}, enabled: true, route: null, service: null, consumer: null };
const lenient: PluginEntity = { ...strict, id: 'lenient' };
const STRICT = { noop: false, log_url: null };
const LENIENT = { noop: true, log_url: null };

async function staleIdScenario(command: string): Promise<number | null> {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'restart-'));
  const def = {
    name: 'probe',
    socket: path.join(prefix, 'probe.socket'),
    startCmd: `${command} --plugins-directory ${PROBE_DIR} --kong-prefix ${prefix} --sock-name probe.socket`,
    queryCmd: QUERY,
  };
  const server = new PluginServerProcess(def);
  await server.start();
  const host = { consumers: [], nodeId: 'n', log: () => undefined };
  const info = await queryPluginInfo(def);
  const workerA = new ExternalPlugin(info, server, host);
  const workerB = new ExternalPlugin(info, server, host);
  const request = () =>
    newRequestContext({
      id: 'x', startedAt: Date.now(), clientIp: '127.0.0.1', route: ROUTE,
      request: { method: 'GET', scheme: 'http', host: 'h', port: 1, path: '/', rawQuery: '', headers: new Map([['x-probe-exit', ['403']]]), body: Buffer.alloc(0), bodyInFile: false },
    });
  try {
    const before = request();
    await workerB.handleEvent(strict, STRICT, before, 'access');
    expect(before.delayedResponse?.status).toBe(403);

    const oldPid = server.pid;
    await server.kill('SIGKILL');
    while (server.pid === oldPid || server.pid === undefined) await new Promise((r) => setTimeout(r, 20));
    await server.waitReady();

    // worker A meets the new process first, for the lenient config
    await workerA.handleEvent(lenient, LENIENT, request(), 'access');
    // worker B still holds the strict config's old instance id
    const after = request();
    await workerB.handleEvent(strict, STRICT, after, 'access');
    return after.delayedResponse?.status ?? null;
  } finally {
    workerA.rpc.reset();
    workerB.rpc.reset();
    await server.stop();
    fs.rmSync(prefix, { recursive: true, force: true });
  }
}

describe('instance ids across a plugin server restart (two nginx workers)', () => {
  it('never runs a stale instance id under another config with our server', async () => {
    expect(await staleIdScenario(OURS)).toBe(403);
  });

  it('runs the stale id under the other config with kong-pdk\'s stock server (the hazard)', async () => {
    expect(await staleIdScenario(STOCK)).toBeNull();
  });
});
