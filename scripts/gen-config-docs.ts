/**
 * Generates each plugin's configuration reference in README.md from its Kong
 * `Schema`, between `<!-- config:NAME:start -->` and `<!-- config:NAME:end -->`, so
 * the docs never drift from what Kong validates. `--check` fails on drift (the test
 * suite runs it).
 *
 *   node dist/scripts/gen-config-docs.js [--check]
 */
import fs = require('fs');
import path = require('path');
import type { KongField, KongFieldList } from '../plugins/shared/kong-config';
import { pluginNames } from './build-plugin-dirs';
import { REPO_ROOT } from './repo-root';

const ROOT = REPO_ROOT;
const README = path.join(ROOT, 'README.md');

function typeName(f: KongField): string {
  if (f.type === 'array' || f.type === 'set') return `${f.type} of ${typeName(f.elements as KongField)}`;
  if (f.type === 'map') return `map of ${typeName(f.values as KongField)}`;
  return f.type;
}

function constraints(f: KongField): string {
  const parts: string[] = [];
  const el = (f.elements as KongField | undefined) ?? f;
  if (Array.isArray(el.one_of)) parts.push(`one of: ${el.one_of.map((v) => `\`${String(v)}\``).join(', ')}`);
  if (Array.isArray(f.between)) parts.push(`${f.between[0]}..${f.between[1]}`);
  if (typeof f.len_min === 'number') parts.push(`at least ${f.len_min}`);
  if (typeof f.starts_with === 'string') parts.push(`starts with \`${f.starts_with}\``);
  if (f.referenceable) parts.push('vault reference allowed');
  if (f.encrypted) parts.push('encrypted at rest');
  return parts.join('; ');
}

/** A record holding exactly another plugin's config (llm-gateway's stages) is referenced, not repeated. */
type PluginSchemas = Map<string, string>;

function rows(fields: KongFieldList, prefix = '', plugins: PluginSchemas = new Map()): string[] {
  const out: string[] = [];
  for (const entry of fields) {
    const [name, f] = Object.entries(entry)[0];
    const dotted = prefix + name;
    const def = f.default === undefined ? (f.required ? '*required*' : '') : `\`${JSON.stringify(f.default)}\``;
    const desc = String(f.description ?? '').replace(/\|/g, '\\|').replace(/</g, '&lt;');
    const whole = f.type === 'record' ? plugins.get(JSON.stringify(f.fields)) : undefined;
    const see = whole ? `Its fields are [${whole}'s](#${whole}), all of them, with the same defaults.` : '';
    out.push(`| \`${dotted}\` | ${typeName(f)} | ${def} | ${[desc, see, constraints(f)].filter(Boolean).join(' ')} |`);
    if (f.type === 'record' && !whole) out.push(...rows(f.fields as KongFieldList, `${dotted}.`, plugins));
    const el = f.elements as KongField | undefined;
    if (el?.type === 'record') out.push(...rows(el.fields as KongFieldList, `${dotted}[].`));
    const values = f.values as KongField | undefined;
    if (values?.type === 'record') out.push(...rows(values.fields as KongFieldList, `${dotted}.<key>.`));
  }
  return out;
}

type PluginModule = { Schema: KongFieldList; Priority: number; Version: string };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = (name: string) => require(path.join(ROOT, 'dist', 'plugins', name, 'index.js')) as PluginModule;

export function renderReference(name: string): string {
  const mod = load(name);
  const plugins: PluginSchemas = new Map(pluginNames().filter((n) => n !== name).map((n) => [JSON.stringify(load(n).Schema), n]));
  return [
    `Priority ${mod.Priority}, version ${mod.Version}. Generated from the plugin's schema by \`npm run docs\`.`,
    '',
    '| field | type | default | description |',
    '| --- | --- | --- | --- |',
    ...rows(mod.Schema, '', plugins),
  ].join('\n');
}

export function updateReadme(text: string): string {
  let out = text;
  for (const name of pluginNames()) {
    const start = `<!-- config:${name}:start -->`;
    const end = `<!-- config:${name}:end -->`;
    const i = out.indexOf(start);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md has no ${start} ... ${end} section`);
    out = out.slice(0, i + start.length) + '\n' + renderReference(name) + '\n' + out.slice(j);
  }
  return out;
}

function main(): void {
  const current = fs.readFileSync(README, 'utf8');
  const next = updateReadme(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      process.stderr.write('README.md configuration reference is out of date: run `npm run docs`\n');
      process.exit(1);
    }
    return;
  }
  fs.writeFileSync(README, next);
  process.stdout.write('README.md configuration reference updated\n');
}

if (require.main === module) main();
