/**
 * Kong's side of plugin schemas, for the bridge and the schema check:
 * - `checkSchemaDsl`: a dumped `Schema` uses only Kong's field types and attributes
 *   (kong/db/schema/metaschema.lua) and marks secrets referenceable + encrypted;
 * - `processConfig`: validates a plugin config and fills defaults the way Kong does
 *   before StartInstance (kong/db/schema/init.lua `handle_missing_field`): a missing
 *   field takes its default, else `null` unless required; a missing required record
 *   is expanded to its nested defaults; records inside arrays and maps are filled too;
 * - `resolveReferences`: `{vault://env/NAME}` in referenceable fields, as Kong's env vault.
 */

import { entries, isReference, validateValue, type KongField, type KongFieldList } from '../../plugins/shared/kong-config';

export { processConfig, type KongField, type KongFieldList } from '../../plugins/shared/kong-config';

/** Kong 3.x `Schema.valid_types` usable in a plugin config. */
const FIELD_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'array', 'set', 'map', 'record', 'json']);

/** Attributes of metaschema.lua's field_schema and validators (plus the recursive ones). */
const COMMON_ATTRS = new Set([
  'type', 'required', 'reference', 'description', 'examples', 'auto', 'unique', 'default', 'abstract',
  'immutable', 'err', 'encrypted', 'referenceable', 'json_schema', 'transient', 'deprecation',
  'between', 'eq', 'ne', 'gt', 'len_eq', 'len_min', 'len_max', 'match', 'not_match', 'match_all',
  'match_none', 'match_any', 'starts_with', 'one_of', 'not_one_of', 'contains', 'is_regex', 'timestamp',
  'uuid', 'mutually_exclusive_subsets', 'elements', 'keys', 'values', 'fields',
]);

/** Which structural attribute belongs to which type. */
const STRUCTURAL: Record<string, string[]> = {
  elements: ['array', 'set'],
  keys: ['map'],
  values: ['map'],
  fields: ['record'],
};

/** Field names that hold secrets: they must be referenceable (vaults) and encrypted. */
const SECRET_NAME = /(^|_)(secret|password|api_key|key_hash|private_key|client_secret)$/;

const REFERENCE = /^\{vault:\/\/([a-z0-9-]+)\/([^}]+)\}$/;

/** Problems in a schema Kong would reject or that break our security rules; [] when fine. */
export function checkSchemaDsl(fields: KongFieldList, where = 'config'): string[] {
  const errors: string[] = [];
  if (!Array.isArray(fields)) return [`${where}: fields must be an array`];
  let list: Array<[string, KongField]>;
  try {
    list = entries(fields);
  } catch (e) {
    return [`${where}: ${(e as Error).message}`];
  }
  for (const [name, field] of list) errors.push(...checkField(field, `${where}.${name}`, name));
  return errors;
}

function checkField(field: KongField, where: string, name: string): string[] {
  const errors: string[] = [];
  if (!field || typeof field !== 'object') return [`${where}: not a field table`];
  if (!FIELD_TYPES.has(field.type)) errors.push(`${where}: unknown type "${String(field.type)}"`);
  for (const attr of Object.keys(field)) {
    if (!COMMON_ATTRS.has(attr)) errors.push(`${where}: unknown attribute "${attr}"`);
    const owners = STRUCTURAL[attr];
    if (owners && !owners.includes(field.type)) errors.push(`${where}: "${attr}" is not valid on a ${field.type}`);
  }
  if (typeof field.description === 'string' && (field.description.length < 10 || field.description.length > 500)) {
    errors.push(`${where}: description must be 10..500 characters`);
  }
  if (field.type === 'array' || field.type === 'set') {
    if (!field.elements) errors.push(`${where}: ${field.type} needs "elements"`);
    else errors.push(...checkField(field.elements as KongField, `${where}[]`, name));
  }
  if (field.type === 'map') {
    if (!field.keys || !field.values) errors.push(`${where}: map needs "keys" and "values"`);
    else {
      errors.push(...checkField(field.keys as KongField, `${where}.<key>`, name));
      errors.push(...checkField(field.values as KongField, `${where}.<value>`, name));
    }
  }
  if (field.type === 'record') {
    if (!Array.isArray(field.fields)) errors.push(`${where}: record needs "fields"`);
    else errors.push(...checkSchemaDsl(field.fields as KongFieldList, where));
  }
  const stringish = field.type === 'string' ||
    ((field.type === 'array' || field.type === 'set') && (field.elements as KongField | undefined)?.type === 'string');
  for (const attr of ['referenceable', 'encrypted']) {
    if (field[attr] !== undefined && !stringish) errors.push(`${where}: "${attr}" is only valid on strings`);
  }
  if (SECRET_NAME.test(name) && field.type === 'string' && !(field.referenceable && field.encrypted)) {
    errors.push(`${where}: a secret must be referenceable and encrypted`);
  }
  if (field.one_of !== undefined && !Array.isArray(field.one_of)) errors.push(`${where}: one_of must be an array`);
  if (field.between !== undefined && !(Array.isArray(field.between) && field.between.length === 2)) {
    errors.push(`${where}: between must be [min, max]`);
  }
  if (field.default !== undefined && field.default !== null) {
    const probe = validateValue(field, field.default, `${where}(default)`, { allowReferences: false });
    errors.push(...probe.errors);
  }
  return errors;
}

/**
 * Resolves `{vault://env/NAME}` the way Kong's env vault does: NAME upper-cased with
 * dashes as underscores, read from the environment. A reference that cannot be
 * resolved becomes "" with a warning, as in Kong (schema/init.lua resolve_reference):
 * the plugin sees an empty value, not the reference. Other vaults are not available
 * to the bridge and resolve to "" the same way.
 */
export function resolveReferences(value: unknown, env: NodeJS.ProcessEnv, unresolved: string[] = []): unknown {
  if (isReference(value)) {
    const [, vault, name] = REFERENCE.exec(value)!;
    const resolved = vault === 'env' ? env[name.toUpperCase().replace(/-/g, '_')] : undefined;
    if (resolved === undefined) {
      unresolved.push(value);
      return '';
    }
    return resolved;
  }
  if (Array.isArray(value)) return value.map((v) => resolveReferences(v, env, unresolved));
  if (value && typeof value === 'object') {
    // Kong keeps what it resolved in a `$refs` member of each table that held a reference
    // (schema/init.lua process_auto_fields: `value["$refs"] = refs`), and plugins see it
    const refs: Record<string, string> = {};
    const out = Object.fromEntries(
      Object.entries(value).map(([k, v]) => {
        if (isReference(v)) refs[k] = v;
        return [k, resolveReferences(v, env, unresolved)];
      }),
    );
    if (Object.keys(refs).length > 0) out.$refs = refs;
    return out;
  }
  return value;
}
