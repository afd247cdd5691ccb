import { fetchJson, isHttpUrl } from '../../../plugins/llm-auth/core/http';
import { sendJson, startServer, type TestServer } from './support/servers';

const LIMITS = { timeoutMs: 2000, maxBytes: 1024 };

describe('fetchJson', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer((req, _body, res) => {
      switch (req.url) {
        case '/ok':
          return sendJson(res, 200, { hello: 'world' });
        case '/error':
          return sendJson(res, 500, { error: 'x' });
        case '/html':
          return res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
        case '/big-declared':
          return res.writeHead(200, { 'content-length': '4096' }).end('x'.repeat(4096));
        case '/big-chunked':
          res.writeHead(200);
          for (let i = 0; i < 8; i++) res.write('y'.repeat(512));
          return res.end();
        case '/slow-body':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"a":');
          return void setTimeout(() => res.end('1}'), 1000).unref();
      }
    });
  });
  afterAll(() => server.close());

  it('parses a 2xx JSON body', async () => {
    expect(await fetchJson(fetch, `${server.url}/ok`, {}, LIMITS)).toEqual({ ok: true, status: 200, body: { hello: 'world' } });
  });

  it('reports a non-2xx status without reading the body', async () => {
    expect(await fetchJson(fetch, `${server.url}/error`, {}, LIMITS)).toEqual({ ok: false, reason: 'HTTP 500' });
  });

  it('reports a body that is not JSON', async () => {
    expect(await fetchJson(fetch, `${server.url}/html`, {}, LIMITS)).toEqual({ ok: false, reason: 'response is not JSON' });
  });

  it('abandons a body larger than maxBytes, declared or streamed', async () => {
    expect(await fetchJson(fetch, `${server.url}/big-declared`, {}, LIMITS)).toEqual({ ok: false, reason: 'response too large' });
    expect(await fetchJson(fetch, `${server.url}/big-chunked`, {}, LIMITS)).toEqual({ ok: false, reason: 'response too large' });
  });

  it('times out while reading a slow body', async () => {
    expect(await fetchJson(fetch, `${server.url}/slow-body`, {}, { ...LIMITS, timeoutMs: 100 })).toEqual({ ok: false, reason: 'timeout' });
  });

  it('reports a fetch that throws, even synchronously', async () => {
    const throwing = () => {
      throw new TypeError('boom');
    };
    expect(await fetchJson(throwing, 'http://127.0.0.1:1/', {}, LIMITS)).toEqual({ ok: false, reason: 'network error (TypeError)' });
  });
});

describe('isHttpUrl', () => {
  it('accepts absolute http and https URLs only', () => {
    expect(isHttpUrl('https://idp.example/jwks')).toBe(true);
    expect(isHttpUrl('http://127.0.0.1:8080/x')).toBe(true);
    expect(isHttpUrl('file:///etc/passwd')).toBe(false);
    expect(isHttpUrl('/relative')).toBe(false);
  });

  it.each([
    'http://127.0.0.1:8080/',
    'http://127.0.0.1/introspect',
    'http://127.10.20.30/jwks',
    'http://127.1/', // WHATWG URL canonicalises it to 127.0.0.1
    'http://[::1]/',
    'http://[::1]:8443/jwks',
    'http://localhost/',
    'http://LocalHost:9000/jwks',
    'https://anything.example/jwks',
    'https://127.evil.example/jwks',
  ])('accepts %s', (url) => {
    expect(isHttpUrl(url)).toBe(true);
  });

  it.each([
    'http://127.evil.example/',
    'http://127.0.0.1.attacker.example/',
    'http://127.0.0.1.nip.io/jwks',
    'http://localhost.attacker.example/',
    'http://localhost./',
    'http://evil-localhost/',
    'http://[::ffff:127.0.0.1]/', // IPv4-mapped: not the loopback literal the rule names
    'http://[::2]/',
    'http://128.0.0.1/',
    'http://10.0.0.1/',
    'http://idp.example/jwks',
  ])('refuses plain http to %s, which is not this host', (url) => {
    expect(isHttpUrl(url)).toBe(false);
  });
});
