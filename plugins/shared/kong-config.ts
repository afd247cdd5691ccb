/**
 * Kong's config processing for a plugin schema (kong/db/schema/init.lua), the one
 * defaults path of the suite: Kong fills defaults before StartInstance, each plugin's
 * parseConfig applies the same rules to whatever it receives (so a config built in a
 * test or sent by another Kong version means the same), and the test bridge and the
 * schema check use it to validate kong.yml the way Kong does.
 *
 * A missing field takes its default, else `null` unless required; a missing required
 * record is expanded to its nested defaults; records in arrays and maps are filled
 * too; a vault reference is accepted only in a `referenceable` field.
 */

export type KongField = Record<string, unknown> & { type: string };
export type KongFieldList = Array<Record<string, KongField>>;

const REFERENCE = /^\{vault:\/\/([a-z0-9-]+)\/([^}]+)\}$/;

export function isReference(v: unknown): v is string {
  return typeof v === 'string' && REFERENCE.test(v);
}

/** [name, field] pairs of Kong's `{ name = {...} }` list. */
export function entries(fields: KongFieldList): Array<[string, KongField]> {
  return fields.map((f) => {
    const keys = Object.keys(f);
    if (keys.length !== 1) throw new Error(`a field entry must have exactly one name, got ${keys.join(',') || 'none'}`);
    return [keys[0], f[keys[0]]];
  });
}

/** The member Kong adds to a table whose vault references it resolved. */
const REFS = '$refs';

export interface ValidateOpts {
  allowReferences: boolean;
}

function typeError(where: string, expected: string): string {
  return `${where}: expected ${expected}`;
}

function validateScalar(field: KongField, v: unknown, where: string, opts: ValidateOpts): string[] {
  const errors: string[] = [];
  if (isReference(v)) {
    if (!field.referenceable) errors.push(`${where}: vault references are not allowed here (field is not referenceable)`);
    else if (!opts.allowReferences) errors.push(`${where}: vault reference was not resolved`);
    return errors;
  }
  switch (field.type) {
    case 'string':
      if (typeof v !== 'string') return [typeError(where, 'a string')];
      // Kong rejects empty strings unless the field sets len_min (schema/init.lua)
      if (v.length < (typeof field.len_min === 'number' ? field.len_min : 1)) errors.push(`${where}: length must be at least ${typeof field.len_min === 'number' ? field.len_min : 1}`);
      if (typeof field.len_max === 'number' && v.length > field.len_max) errors.push(`${where}: length must be at most ${field.len_max}`);
      if (typeof field.starts_with === 'string' && !v.startsWith(field.starts_with)) errors.push(`${where}: should start with: ${field.starts_with}`);
      break;
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v)) return [typeError(where, 'an integer')];
      break;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) return [typeError(where, 'a number')];
      break;
    case 'boolean':
      if (typeof v !== 'boolean') return [typeError(where, 'a boolean')];
      break;
    default:
      break;
  }
  if (Array.isArray(field.one_of) && !field.one_of.includes(v)) {
    errors.push(`${where}: expected one of: ${field.one_of.join(', ')}`);
  }
  if (Array.isArray(field.between) && typeof v === 'number') {
    const [lo, hi] = field.between as [number, number];
    if (v < lo || v > hi) errors.push(`${where}: value should be between ${lo} and ${hi}`);
  }
  if (typeof field.gt === 'number' && typeof v === 'number' && !(v > field.gt)) errors.push(`${where}: value must be greater than ${field.gt}`);
  return errors;
}

/** Validates and fills one value; returns the filled value. */
export function validateValue(field: KongField, v: unknown, where: string, opts: ValidateOpts): { value: unknown; errors: string[] } {
  switch (field.type) {
    case 'record': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return { value: v, errors: [typeError(where, 'a record')] };
      return processFields(field.fields as KongFieldList, v as Record<string, unknown>, where, opts);
    }
    case 'array':
    case 'set': {
      if (!Array.isArray(v)) return { value: v, errors: [typeError(where, 'an array')] };
      const errors: string[] = [];
      let out = v.map((e, i) => {
        const r = validateValue(field.elements as KongField, e, `${where}[${i + 1}]`, opts);
        errors.push(...r.errors);
        return r.value;
      });
      if (field.type === 'set') out = out.filter((e, i) => out.findIndex((o) => JSON.stringify(o) === JSON.stringify(e)) === i);
      if (typeof field.len_min === 'number' && out.length < field.len_min) errors.push(`${where}: length must be at least ${field.len_min}`);
      if (typeof field.len_max === 'number' && out.length > field.len_max) errors.push(`${where}: length must be at most ${field.len_max}`);
      return { value: out, errors };
    }
    case 'map': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return { value: v, errors: [typeError(where, 'a map')] };
      const errors: string[] = [];
      const out: Record<string, unknown> = {};
      for (const [k, e] of Object.entries(v)) {
        errors.push(...validateScalar(field.keys as KongField, k, `${where}.<key>`, opts));
        const r = validateValue(field.values as KongField, e, `${where}.${k}`, opts);
        errors.push(...r.errors);
        out[k] = r.value;
      }
      return { value: out, errors };
    }
    case 'json':
      return { value: v, errors: [] };
    default:
      return { value: v, errors: validateScalar(field, v, where, opts) };
  }
}

function missing(field: KongField, where: string, opts: ValidateOpts): { value: unknown; errors: string[] } {
  if (field.default !== undefined) return { value: structuredClone(field.default), errors: [] };
  // a record field is required unless it says `required: false` (kong/db/schema/entity.lua
  // make_records_required), and a missing one is filled from its fields' defaults
  if (field.type === 'record') {
    if (field.required === false) return { value: null, errors: [] };
    return processFields(field.fields as KongFieldList, {}, where, opts);
  }
  if (field.required !== true) return { value: null, errors: [] };
  return { value: undefined, errors: [`${where}: required field missing`] };
}

function processFields(fields: KongFieldList, input: Record<string, unknown>, where: string, opts: ValidateOpts) {
  const errors: string[] = [];
  const out: Record<string, unknown> = {};
  const known = new Set<string>();
  for (const [name, field] of entries(fields)) {
    known.add(name);
    const v = input[name];
    const r = v === undefined || v === null ? missing(field, `${where}.${name}`, opts) : validateValue(field, v, `${where}.${name}`, opts);
    if (v === null && field.required === true && field.default === undefined && field.type !== 'record') {
      errors.push(`${where}.${name}: required field missing`);
    }
    errors.push(...r.errors);
    if (r.value !== undefined) out[name] = r.value;
  }
  // `$refs`: the vault references Kong resolved in this table (schema/init.lua), not a field
  for (const k of Object.keys(input)) if (!known.has(k) && k !== REFS) errors.push(`${where}.${k}: unknown field`);
  return { value: out, errors };
}

/** Validates a plugin config against its `Schema` and fills defaults like Kong. */
export function processConfig(
  fields: KongFieldList,
  input: Record<string, unknown> | null | undefined,
  opts: ValidateOpts = { allowReferences: true },
): { config: Record<string, unknown>; errors: string[] } {
  const r = processFields(fields, input ?? {}, 'config', opts);
  return { config: r.value, errors: r.errors };
}

export class PluginConfigError extends Error {
  override readonly name = 'PluginConfigError';
}

/**
 * A plugin instance's config as its constructor receives it from Kong, checked and
 * with defaults filled. Kong resolves vault references before StartInstance, so one
 * still present here was not resolved and is an error, never a value.
 * @throws PluginConfigError listing every problem
 */
export function parsePluginConfig<T>(fields: KongFieldList, raw: unknown): T {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PluginConfigError('config must be an object');
  // Kong validated the config against this schema; a top-level field it does not
  // declare is one Kong added (route_id, __plugin_id, __seq__, ...; another Kong
  // version may add more), never an error.
  const known = new Set(entries(fields).map(([name]) => name));
  const own = Object.fromEntries(Object.entries(raw).filter(([k]) => known.has(k)));
  const { config, errors } = processConfig(fields, own, { allowReferences: false });
  if (errors.length) throw new PluginConfigError(errors.join('; '));
  return config as T;
}
