/**
 * Writes kong/kong.test.yml from kong/kong.yml: the same routes and plugin blocks,
 * with the OpenAI service pointed at the mock upstream and the API-key hash vault
 * references replaced by the hashes of the demo keys in kong/demo-keys.json. A test
 * (test/foundation/kong-config.test.ts) fails when the committed file drifts.
 *
 *   node dist/scripts/gen-kong-test-config.js [--check]
 */
import crypto = require('crypto');
import fs = require('fs');
import path = require('path');
import { REPO_ROOT } from './repo-root';

const ROOT = REPO_ROOT;
const SOURCE = path.join(ROOT, 'kong', 'kong.yml');
const TARGET = path.join(ROOT, 'kong', 'kong.test.yml');
const DEMO_KEYS = path.join(ROOT, 'kong', 'demo-keys.json');

export const MOCK_UPSTREAM_URL = 'http://mock-openai:8080';
const OPENAI_URL = 'url: https://api.openai.com';
const KEY_HASH_REF = /"\{vault:\/\/env\/llm-key-hash-([a-z0-9-]+)\}"/g;

const sha256 = (s: string) => 'sha256:' + crypto.createHash('sha256').update(s).digest('hex');

export function demoKeys(): Record<string, string> {
  const raw = JSON.parse(fs.readFileSync(DEMO_KEYS, 'utf8')) as Record<string, string>;
  return Object.fromEntries(Object.entries(raw).filter(([k]) => !k.startsWith('_')));
}

export function testConfig(source: string, keys: Record<string, string>): string {
  if (!source.includes(OPENAI_URL)) throw new Error(`kong.yml has no "${OPENAI_URL}"`);
  const body = source
    .split(OPENAI_URL).join(`url: ${MOCK_UPSTREAM_URL}`)
    // Kong allows TLS verification settings on https services only
    .replace(/^\s*# verify OpenAI's certificate.*\n/m, '')
    .replace(/^\s*tls_verify(_depth)?: .*\n/gm, '')
    .replace(KEY_HASH_REF, (_m, name: string) => {
      if (!keys[name]) throw new Error(`kong/demo-keys.json has no key for "${name}"`);
      return `"${sha256(keys[name])}"`;
    });
  return `# GENERATED from kong/kong.yml by scripts/gen-kong-test-config.ts: do not edit.\n` +
    `# The same gateway against the mock upstream, with the demo keys of kong/demo-keys.json.\n` + body;
}

function main(): void {
  const out = testConfig(fs.readFileSync(SOURCE, 'utf8'), demoKeys());
  if (process.argv.includes('--check')) {
    if (fs.readFileSync(TARGET, 'utf8') !== out) {
      process.stderr.write('kong/kong.test.yml is out of date: run `npm run gen:kong-test`\n');
      process.exit(1);
    }
    return;
  }
  fs.writeFileSync(TARGET, out);
  process.stdout.write(`wrote ${path.relative(ROOT, TARGET)}\n`);
}

if (require.main === module) main();
