/**
 * At any verbosity, the plugin server's log carries no request data or config
 * secrets: kong-pdk's own debug lines print every RPC's arguments.
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
const SERVER = `${process.execPath} ${path.join(REPO_ROOT, 'dist', 'bin', 'llm-pluginserver.js')}`;

describe('llm-pluginserver logs', () => {
  it('never prints RPC arguments, even with -v -v', async () => {
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'logs-'));
    const def = {
      name: 'probe',
      socket: path.join(prefix, 'probe.socket'),
      startCmd: `${SERVER} -v -v --plugins-directory ${PROBE_DIR} --kong-prefix ${prefix} --sock-name probe.socket`,
      queryCmd: `${SERVER} --plugins-directory ${PROBE_DIR} --dump-all-plugins`,
    };
    const server = new PluginServerProcess(def);
    await server.start();
    const plugin = new ExternalPlugin(await queryPluginInfo(def), server, { consumers: [], nodeId: 'n', log: () => undefined });
    try {
      const entity: PluginEntity = { id: 'p', name: 'probe', config: {}, enabled: true, route: null, service: null, consumer: null };
      const ctx = newRequestContext({
        id: 'x', startedAt: Date.now(), clientIp: '127.0.0.1', route: { id: 'r', service: { id: 's' } } as unknown as Route,
        request: { method: 'GET', scheme: 'http', host: 'h', port: 1, path: '/', rawQuery: '', headers: new Map([['authorization', ['Bearer sk-client-secret-123']]]), body: Buffer.alloc(0), bodyInFile: false },
      });
      await plugin.handleEvent(entity, { noop: false, log_url: 'https://sink.example/secret-path-456' }, ctx, 'access');
    } finally {
      plugin.rpc.reset();
      await server.stop();
      fs.rmSync(prefix, { recursive: true, force: true });
    }
    // read once the process is gone: everything it wrote is in
    const log = server.logLines.join('\n');
    expect(log).toContain('loaded plugin'); // a debug line: verbose logging was on
    expect(log).not.toContain('sk-client-secret-123');
    expect(log).not.toContain('secret-path-456');
  });
});
