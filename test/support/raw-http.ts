/**
 * A request written byte for byte on a socket. fetch (undici) silently drops a
 * header named "__proto__" and Node's http client builds header objects; a hostile
 * client does neither, so attack tests write the request themselves.
 */
import net = require('net');

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function rawRequest(url: string, method: string, path: string, headers: Array<[string, string]>, body = ''): Promise<RawResponse> {
  const u = new URL(url);
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${u.host}`, 'Connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)];
  if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(Number(u.port), u.hostname, () => socket.write(lines.join('\r\n') + '\r\n\r\n' + body));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n');
      const out: Record<string, string> = {};
      for (const line of headerLines) {
        const i = line.indexOf(':');
        const k = line.slice(0, i).trim().toLowerCase();
        out[k] = out[k] !== undefined ? `${out[k]}, ${line.slice(i + 1).trim()}` : line.slice(i + 1).trim();
      }
      let rest = text.slice(split + 4);
      if (/chunked/i.test(out['transfer-encoding'] ?? '')) {
        let decoded = '';
        for (;;) {
          const nl = rest.indexOf('\r\n');
          const size = Number.parseInt(rest.slice(0, nl), 16);
          if (!size) break;
          decoded += rest.slice(nl + 2, nl + 2 + size);
          rest = rest.slice(nl + 2 + size + 2);
        }
        rest = decoded;
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers: out, body: Buffer.from(rest, 'latin1').toString('utf8') });
    });
  });
}
