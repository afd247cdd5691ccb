/**
 * The plugin server's socket survives any input from Kong's side, and its accept
 * queue holds a burst of connections. Each scenario also runs against kong-pdk's
 * stock server, which fails it: that is what makes these tests able to fail.
 */
import fs = require('fs');
import net = require('net');
import os = require('os');
import path = require('path');
import { encode } from '@msgpack/msgpack';
import { REPO_ROOT } from '../bridge/kong-settings';
import { PluginServerProcess } from '../bridge/plugin-server';
import { RpcClient } from '../bridge/rpc';
import { listenBacklog, ThrottledLog } from '../../bin/rpc-listener';

const PROBE_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'plugin-servers', 'probe');
const OURS = `${process.execPath} ${path.join(REPO_ROOT, 'dist', 'bin', 'llm-pluginserver.js')}`;
const STOCK = `${process.execPath} ${path.join(REPO_ROOT, 'node_modules', 'kong-pdk', 'bin', 'kong-js-pluginserver')}`;

async function startServer(command: string): Promise<{ server: PluginServerProcess; socket: string; prefix: string }> {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'rpc-listener-'));
  const socket = path.join(prefix, 'probe.socket');
  const server = new PluginServerProcess({
    name: 'probe',
    socket,
    startCmd: `${command} --plugins-directory ${PROBE_DIR} --kong-prefix ${prefix} --sock-name probe.socket`,
    queryCmd: '',
  });
  await server.start();
  return { server, socket, prefix };
}

/** Writes raw bytes on a fresh connection and waits until the server closes it or answers. */
function send(socket: string, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const c = net.createConnection(socket, () => c.write(bytes));
    const done = () => {
      c.destroy();
      resolve();
    };
    c.on('data', done);
    c.on('close', done);
    c.on('error', done);
    setTimeout(done, 1000);
  });
}

const hostileProto = JSON.parse('{"__proto__":["x"]}');
const HOSTILE: Array<[string, Uint8Array]> = [
  ['a map key "__proto__" (a query ?__proto__=x as Kong sends it)', encode([0, 1, 'plugin.StepMultiMap', [{ EventId: 1, Data: hostileProto }]])],
  ['a "__proto__" key in HandleEvent args', encode([0, 1, 'plugin.HandleEvent', [hostileProto]])],
  ['bytes that are not MessagePack', Buffer.from([0xc1, 0xc1, 0xc1])],
  ['a message that is not an array', encode({ a: 1 })],
  ['a method that is not a string', encode([0, 1, 42, []])],
  ['an inherited property as method', encode([0, 1, 'plugin.constructor', []])],
  ['a method Kong never calls', encode([0, 1, 'plugin.SetPluginDir', ['/tmp']])],
  ['arguments that are not a list', encode([0, 1, 'plugin.Step', 5])],
  ['two messages in one write', Buffer.concat([encode([0, 1, 'plugin.GetStatus', []]), encode([0, 2, 'plugin.GetStatus', []])])],
  ['half a message, then the connection closes', encode([0, 1, 'plugin.GetPluginInfo', ['probe']]).subarray(0, 5)],
];

describe('plugin server socket: hostile input', () => {
  let ours: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    ours = await startServer(OURS);
  });
  afterAll(async () => {
    await ours.server.stop();
    fs.rmSync(ours.prefix, { recursive: true, force: true });
  });

  it.each(HOSTILE)('survives %s: same pid, and the next call is served', async (_name, bytes) => {
    const pid = ours.server.pid;
    await send(ours.socket, bytes);
    await new Promise((r) => setTimeout(r, 100));
    expect(ours.server.pid).toBe(pid);
    const client = new RpcClient(ours.socket);
    const info = (await client.call('plugin.GetPluginInfo', 'probe')) as { Name: string };
    client.reset();
    expect(info.Name).toBe('probe');
  });

  it('logs decode errors as one JSON line per interval, never the bytes', async () => {
    for (let i = 0; i < 20; i++) await send(ours.socket, Buffer.from([0xc1, 0x53, 0x45, 0x43, 0x52, 0x45, 0x54]));
    await new Promise((r) => setTimeout(r, 100));
    // every decode error since start (the cases above too) fell within one interval
    const lines = ours.server.logLines.filter((l) => l.includes('rpc_decode_error'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0].replace(/^\[[^\]]*\] /, ''))).toMatchObject({ level: 'error', event: 'rpc_decode_error' });
    expect(ours.server.logLines.join('\n')).not.toContain('SECRET');
  });

  it("kong-pdk's stock server dies on the __proto__ key (the defect this listener removes)", async () => {
    const stock = await startServer(STOCK);
    try {
      const pid = stock.server.pid;
      await send(stock.socket, HOSTILE[0][1]);
      await new Promise((r) => setTimeout(r, 300));
      expect(stock.server.pid).not.toBe(pid);
    } finally {
      await stock.server.stop();
      fs.rmSync(stock.prefix, { recursive: true, force: true });
    }
  });
});

describe('plugin server socket: accept backlog', () => {
  /** Opens n connections at once while the server is stopped (it accepts none); counts failures. */
  async function burst(command: string, n: number): Promise<number> {
    const s = await startServer(command);
    const pid = s.server.pid!;
    process.kill(pid, 'SIGSTOP');
    const sockets: net.Socket[] = [];
    try {
      const results = await Promise.all(
        Array.from({ length: n }, () =>
          new Promise<boolean>((resolve) => {
            const c = net.createConnection(s.socket);
            sockets.push(c);
            c.once('connect', () => resolve(true));
            c.once('error', () => resolve(false));
          }),
        ),
      );
      return results.filter((ok) => !ok).length;
    } finally {
      for (const c of sockets) c.destroy();
      process.kill(pid, 'SIGCONT');
      await s.server.stop();
      fs.rmSync(s.prefix, { recursive: true, force: true });
    }
  }

  // the kernel caps every backlog at somaxconn: the burst fits the largest queue it grants
  const n = Math.min(2000, listenBacklog());

  it(`refuses none of ${n} connections opened at once`, async () => {
    expect(await burst(OURS, n)).toBe(0);
  });

  it("kong-pdk's stock server (Node's default backlog, 511) refuses some of them", async () => {
    if (n <= 600) return; // a kernel this small caps both servers alike
    expect(await burst(STOCK, n)).toBeGreaterThan(0);
  });

  it('takes the backlog from somaxconn, or 4096 where it cannot be read', () => {
    expect(listenBacklog(() => '8192\n')).toBe(8192);
    expect(listenBacklog(() => 'garbage')).toBe(4096);
    expect(listenBacklog(() => {
      throw new Error('ENOENT');
    })).toBe(4096);
  });
});

describe('ThrottledLog', () => {
  it('writes an event once per interval and counts what it folded', () => {
    let t = 0;
    const lines: string[] = [];
    const log = new ThrottledLog((l) => lines.push(l), 10_000, () => t);
    log.event('rpc_decode_error', { error: 'a' });
    log.event('rpc_decode_error', { error: 'b' });
    log.event('rpc_decode_error', { error: 'c' });
    log.event('rpc_bad_message', { error: 'd' });
    t = 10_001;
    log.event('rpc_decode_error', { error: 'e' });
    expect(lines.map((l) => JSON.parse(l)).map(({ event, error, suppressed_since_last }) => ({ event, error, suppressed_since_last }))).toEqual([
      { event: 'rpc_decode_error', error: 'a', suppressed_since_last: undefined },
      { event: 'rpc_bad_message', error: 'd', suppressed_since_last: undefined },
      { event: 'rpc_decode_error', error: 'e', suppressed_since_last: 2 },
    ]);
  });
});
