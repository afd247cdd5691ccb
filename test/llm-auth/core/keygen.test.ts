/** Tests for plugins/llm-auth/keygen.ts (kept beside the core tests it relies on). */
import yaml from 'js-yaml';
import { ApiKeyStore, hashApiKey } from '../../../plugins/llm-auth/core/api-keys';
import { API_KEY_PREFIX, formatKongYamlEntry, generateApiKey, main, UsageError } from '../../../plugins/llm-auth/keygen';

const fixedBytes = (size: number) => Buffer.alloc(size, 7);

function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = main(argv, { out: (t) => (out += t), err: (t) => (err += t) }, fixedBytes);
  return { code, out, err };
}

describe('generateApiKey', () => {
  it('makes a prefixed key from 32 random bytes, base64url-encoded', () => {
    const { key } = generateApiKey({ consumer: 'alice' }, fixedBytes);
    expect(key).toBe(API_KEY_PREFIX + Buffer.alloc(32, 7).toString('base64url'));
    expect(key).toMatch(/^sk-llm-[A-Za-z0-9_-]{43}$/);
  });

  it('uses 32 bytes of real randomness by default', () => {
    const a = generateApiKey({ consumer: 'alice' }).key;
    const b = generateApiKey({ consumer: 'alice' }).key;
    expect(a).not.toBe(b);
    expect(Buffer.from(a.slice(API_KEY_PREFIX.length), 'base64url')).toHaveLength(32);
  });

  it('returns an entry holding the hash, never the key', () => {
    const { key, entry } = generateApiKey({ consumer: 'alice', tenant: 'acme', scopes: ['chat', 'chat', 'admin'] }, fixedBytes);
    expect(entry).toEqual({
      id: `key-${hashApiKey(key).slice(7, 19)}`,
      key_hash: hashApiKey(key),
      consumer: 'alice',
      tenant: 'acme',
      scopes: ['chat', 'admin'],
    });
    expect(JSON.stringify(entry)).not.toContain(key.slice(API_KEY_PREFIX.length));
  });

  it('produces an entry the key store accepts and finds the key with', () => {
    const { key, entry } = generateApiKey({ consumer: 'alice', id: 'alice-1' }, fixedBytes);
    expect(new ApiKeyStore([entry]).lookup(key)).toMatchObject({ id: 'alice-1', consumer: 'alice', tenant: null });
  });

  it('rejects empty values', () => {
    expect(() => generateApiKey({ consumer: ' ' })).toThrow(UsageError);
    expect(() => generateApiKey({ consumer: 'a', tenant: '' })).toThrow(UsageError);
    expect(() => generateApiKey({ consumer: 'a', scopes: ['ok', 'has space'] })).toThrow(UsageError);
  });
});

describe('formatKongYamlEntry', () => {
  it('prints a YAML list item that parses back to the entry', () => {
    const { entry } = generateApiKey({ consumer: 'o\'brien: "x"', tenant: 'acme', scopes: ['chat', 'a:b'] }, fixedBytes);
    expect(yaml.load(formatKongYamlEntry(entry))).toEqual([entry]);
  });

  it('prints a null tenant and empty scopes', () => {
    const { entry } = generateApiKey({ consumer: 'alice' }, fixedBytes);
    const text = formatKongYamlEntry(entry);
    expect(text).toContain('  tenant: null\n');
    expect(text).toContain('  scopes: []\n');
    expect(yaml.load(text)).toEqual([entry]);
  });
});

describe('keygen main', () => {
  it('prints the key once with a warning, then the kong.yml entry', () => {
    const { code, out, err } = run(['--consumer', 'alice', '--tenant=acme', '--scopes', 'chat, embeddings', '--id', 'alice-1']);
    expect(code).toBe(0);
    expect(err).toBe('');
    const key = API_KEY_PREFIX + Buffer.alloc(32, 7).toString('base64url');
    expect(out.split(key)).toHaveLength(2);
    expect(out).toMatch(/will NOT be shown again/);
    const yamlPart = out.slice(out.indexOf('- id:'));
    expect(yaml.load(yamlPart)).toEqual([{ id: 'alice-1', key_hash: hashApiKey(key), consumer: 'alice', tenant: 'acme', scopes: ['chat', 'embeddings'] }]);
  });

  it.each([
    [[], '--consumer is required'],
    [['--consumer'], '--consumer needs a value'],
    [['--consumer', '--tenant', 'x'], '--consumer needs a value'],
    [['--consumer', 'a', '--colour', 'red'], 'unknown argument "--colour"'],
    [['alice'], 'unknown argument "alice"'],
    [['--consumer', 'a', '--consumer', 'b'], '--consumer given twice'],
    [['--consumer', ''], '--consumer must not be empty'],
  ])('exits 2 with usage for %j', (argv, message) => {
    const { code, out, err } = run(argv);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(message);
    expect(err).toContain('Usage: npm run keygen');
  });

  it('prints usage and exits 0 for --help', () => {
    const { code, out } = run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('Usage: npm run keygen');
  });
});
