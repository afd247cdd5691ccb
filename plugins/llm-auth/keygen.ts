/**
 * `npm run keygen -- --consumer NAME [--tenant T] [--scopes a,b] [--id ID]`
 *
 * Generates an llm-auth API key, prints it once, and prints the `api_keys` entry for
 * kong.yml, which holds only the key's SHA-256. The gateway never sees the key at rest.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { ApiKeyConfig } from './schema';
import { API_KEY_PREFIX, hashApiKey, KEY_HASH_PREFIX } from './core/api-keys';

export { API_KEY_PREFIX };
/** 256 bits of randomness: out of reach of brute force, so a SHA-256 hash may store it. */
const KEY_BYTES = 32;
/** Hex characters of the key hash used in a default id (48 bits: collisions are rare, and duplicates fail at load). */
const DEFAULT_ID_HEX_CHARS = 12;
const EXIT_USAGE = 2;
const FLAG_PREFIX = '--';
const WHITESPACE = /\s/;

const USAGE = `Usage: npm run keygen -- --consumer NAME [--tenant TENANT] [--scopes a,b] [--id ID]

  --consumer NAME   Kong consumer the key authenticates as (required)
  --tenant TENANT   tenant the key belongs to
  --scopes a,b      comma-separated scopes granted to the key
  --id ID           credential id logged instead of the key (default: key-<hash prefix>)
`;

export interface KeygenOptions {
  consumer: string;
  tenant?: string | null;
  scopes?: readonly string[];
  id?: string | null;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A new API key and its config entry. `randomBytes` is injectable for tests.
 * @throws UsageError for an empty consumer, tenant, id or scope
 */
export function generateApiKey(
  opts: KeygenOptions,
  randomBytes: (size: number) => Buffer = cryptoRandomBytes,
): { key: string; entry: ApiKeyConfig } {
  if (opts.consumer.trim() === '') throw new UsageError('--consumer must not be empty');
  if (opts.tenant !== undefined && opts.tenant !== null && opts.tenant.trim() === '') throw new UsageError('--tenant must not be empty');
  if (opts.id !== undefined && opts.id !== null && opts.id.trim() === '') throw new UsageError('--id must not be empty');
  const scopes = [...new Set(opts.scopes ?? [])];
  if (scopes.some((scope) => scope === '' || WHITESPACE.test(scope))) throw new UsageError('--scopes must be non-empty names without spaces');

  const random = randomBytes(KEY_BYTES);
  if (random.length !== KEY_BYTES) throw new Error(`randomBytes returned ${random.length} bytes, expected ${KEY_BYTES}`);
  const key = API_KEY_PREFIX + random.toString('base64url');
  const keyHash = hashApiKey(key);
  const id = opts.id ?? `key-${keyHash.slice(KEY_HASH_PREFIX.length, KEY_HASH_PREFIX.length + DEFAULT_ID_HEX_CHARS)}`;
  return { key, entry: { id, key_hash: keyHash, consumer: opts.consumer, tenant: opts.tenant ?? null, scopes } };
}

/** JSON strings are valid YAML double-quoted scalars, so any value is quoted safely. */
const yamlString = (value: string) => JSON.stringify(value);

/** The entry as a YAML list item, to paste under the llm-auth plugin's `config.api_keys:`. */
export function formatKongYamlEntry(entry: ApiKeyConfig): string {
  return [
    `- id: ${yamlString(entry.id)}`,
    `  key_hash: ${yamlString(entry.key_hash)}`,
    `  consumer: ${yamlString(entry.consumer)}`,
    `  tenant: ${entry.tenant === null ? 'null' : yamlString(entry.tenant)}`,
    `  scopes: [${entry.scopes.map(yamlString).join(', ')}]`,
    '',
  ].join('\n');
}

const FLAGS = ['consumer', 'tenant', 'scopes', 'id'] as const;
type Flag = (typeof FLAGS)[number];

function parseArgs(argv: readonly string[]): Partial<Record<Flag, string>> | 'help' {
  const values: Partial<Record<Flag, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    const eq = arg.indexOf('=');
    const name = (eq === -1 ? arg : arg.slice(0, eq)).slice(FLAG_PREFIX.length);
    if (!arg.startsWith(FLAG_PREFIX) || !(FLAGS as readonly string[]).includes(name)) throw new UsageError(`unknown argument "${arg}"`);
    const flag = name as Flag;
    if (values[flag] !== undefined) throw new UsageError(`--${flag} given twice`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value.startsWith(FLAG_PREFIX))) throw new UsageError(`--${flag} needs a value`);
    values[flag] = value;
  }
  return values;
}

export interface KeygenIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: KeygenIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** The CLI: returns the exit code (0, or 2 for a usage error). */
export function main(argv: readonly string[], io: KeygenIo = processIo, randomBytes?: (size: number) => Buffer): number {
  let generated: { key: string; entry: ApiKeyConfig };
  try {
    const args = parseArgs(argv);
    if (args === 'help') {
      io.out(USAGE);
      return 0;
    }
    if (args.consumer === undefined) throw new UsageError('--consumer is required');
    const scopes = args.scopes === undefined ? [] : args.scopes.split(',').map((s) => s.trim()).filter((s) => s !== '');
    generated = generateApiKey({ consumer: args.consumer, tenant: args.tenant ?? null, scopes, id: args.id ?? null }, randomBytes);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`keygen: ${err.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  const { key, entry } = generated;
  io.out(
    `API key for consumer ${JSON.stringify(entry.consumer)} (id ${JSON.stringify(entry.id)}):\n\n` +
      `    ${key}\n\n` +
      'Store it now: it will NOT be shown again. The gateway keeps only its SHA-256 hash.\n\n' +
      "Add this entry to the llm-auth plugin's config.api_keys list in kong.yml:\n\n" +
      formatKongYamlEntry(entry),
  );
  return 0;
}

// Run only as a script: the module is also imported by tests (and may be required by a loader).
if (require.main === module) process.exitCode = main(process.argv.slice(2));
