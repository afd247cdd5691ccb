/**
 * Gateway overhead of llm-auth, through the bridge and the real plugin server.
 *
 * Scenarios (GET /v1/models to the mock): no plugin; API key; JWT seen before
 * (verified-credential cache); a new RS256 JWT on every request (signature check each
 * time). BENCH_REQUESTS (default 3000) requests per scenario and round.
 */
import crypto = require('crypto');
import jwt = require('jsonwebtoken');
import { compare, requestIndexes, startGateway } from './harness';

export function benchApiKey(): { key: string; hash: string } {
  // random per run
  const key = process.env.BENCH_API_KEY ?? 'sk-llm-bench-' + crypto.randomBytes(24).toString('base64url');
  return { key, hash: 'sha256:' + crypto.createHash('sha256').update(key).digest('hex') };
}

/** An llm-auth plugin block for a route's `plugins:` list (indented for it). */
export function authPlugin(methods: string, keyHash: string, publicKeyPem?: string): string {
  const jwtKeys = publicKeyPem
    ? `
              jwt:
                keys:
                  - algorithm: RS256
                    public_key: ${JSON.stringify(publicKeyPem)}`
    : '';
  return `
          - name: llm-auth
            config:
              methods: [${methods}]
              consumer_by: username
              api_keys:
                - { id: bench-key, key_hash: "${keyHash}", consumer: bench }${jwtKeys}
              openai_api_key: "{vault://env/openai-api-key}"`;
}

function kongYml(keyHash: string, publicKeyPem: string): string {
  return `_format_version: "3.0"
services:
  - name: openai
    url: http://127.0.0.1:1/v1
    routes:
      - name: baseline
        paths: [/baseline/v1]
        strip_path: true
      - name: api-key
        paths: [/apikey/v1]
        strip_path: true
        plugins:${authPlugin('api_key', keyHash, publicKeyPem)}
      - name: jwt
        paths: [/jwt/v1]
        strip_path: true
        plugins:${authPlugin('jwt', keyHash, publicKeyPem)}
consumers:
  - username: bench
`;
}

/** Returns the number of failed requests. */
export async function benchAuth(): Promise<number> {
  const requests = Number(process.env.BENCH_REQUESTS ?? 3000);
  const apiKey = benchApiKey();
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const sign = (i: number) => jwt.sign({ sub: 'bench', n: i }, privateKey, { algorithm: 'RS256', expiresIn: 600 });
  const cachedToken = sign(-1);
  // a new token for every request of every round, warm-ups included
  const freshTokens = Array.from({ length: requestIndexes(requests) }, (_, i) => sign(i));

  const gateway = await startGateway(kongYml(apiKey.hash, pem));
  try {
    return await compare(
      'llm-auth through the bridge (GET /v1/models)',
      gateway.url,
      [
        { name: 'no plugin (baseline)', path: '/baseline/v1/models' },
        { name: 'llm-auth, API key', path: '/apikey/v1/models', headers: () => ({ authorization: `Bearer ${apiKey.key}` }) },
        { name: 'llm-auth, cached JWT', path: '/jwt/v1/models', headers: () => ({ authorization: `Bearer ${cachedToken}` }) },
        { name: 'llm-auth, new RS256 JWT each request', path: '/jwt/v1/models', headers: (i) => ({ authorization: `Bearer ${freshTokens[i]}` }) },
      ],
      requests,
    );
  } finally {
    await gateway.stop();
  }
}
