/**
 * Kong's side of the plugin-server RPC (kong/runloop/plugin_servers/rpc/mp_rpc.lua):
 * MessagePack over a unix socket, request `[0, msgid, method, [args]]`, response
 * `[1, msgid, error, result]`, notification `[2, label, args]`. Kong keeps one call in
 * flight per connection and pools idle connections (`setkeepalive`); so do we.
 */
import net = require('net');
import { Encoder } from '@msgpack/msgpack';
import { MsgpackStream } from '../../bin/msgpack-decode';

export class RpcError extends Error {
  override name = 'RpcError';
}

/** Kong's MessagePack packer has no undefined: nil is nil. */
const encoder = new Encoder();

export class RpcClient {
  private msgId = 0;
  private idle: net.Socket[] = [];

  constructor(private readonly socketPath: string, private readonly onNotification?: (label: string, args: unknown) => void) {}

  async call(method: string, ...args: unknown[]): Promise<unknown> {
    const msgId = ++this.msgId;
    let socket = this.idle.pop();
    while (socket && socket.destroyed) socket = this.idle.pop();
    socket ??= await this.connect();
    return new Promise((resolve, reject) => {
      // Lua has no prototype keys: decode every map key as a plain key, as Kong reads it
      const stream = new MsgpackStream(Infinity);
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
      };
      const onError = (err: Error) => {
        cleanup();
        socket.destroy();
        reject(new RpcError(`${method}: ${err.message}`));
      };
      const onClose = () => {
        cleanup();
        reject(new RpcError(`${method}: no data`));
      };
      const onData = (chunk: Buffer) => {
        let messages: unknown[];
        try {
          messages = stream.push(chunk);
        } catch (err) {
          return onError(err as Error);
        }
        for (const msg of messages as unknown[][]) {
          if (msg[0] === 2) {
            this.onNotification?.(String(msg[1]), msg[2]);
            continue;
          }
          cleanup();
          if (msg[0] !== 1 || msg[1] !== msgId) {
            socket.destroy();
            return reject(new RpcError('unexpected RPC response ID from plugin server'));
          }
          this.idle.push(socket);
          if (msg[2] !== null && msg[2] !== undefined) return reject(new RpcError(String(msg[2])));
          return resolve(msg[3]);
        }
      };
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
      socket.write(encoder.encode([0, msgId, method, args]));
    });
  }

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.socketPath);
      s.once('connect', () => {
        s.removeAllListeners('error');
        // a pooled connection that the server closed must not be reused
        s.once('close', () => {
          this.idle = this.idle.filter((x) => x !== s);
        });
        s.on('error', () => undefined);
        resolve(s);
      });
      s.once('error', (err) => reject(new RpcError(`trying to connect: ${err.message}`)));
    });
  }

  /** Drops pooled connections (after the server died, they are dead too). */
  reset(): void {
    for (const s of this.idle) s.destroy();
    this.idle = [];
  }
}
