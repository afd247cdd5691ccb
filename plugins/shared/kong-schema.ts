/**
 * Kong schema DSL, declared once as data, with the TypeScript config type derived
 * from it. A plugin's `Schema` export is what `kong-js-pluginserver --dump-all-plugins`
 * prints and Kong validates every config against (kong/db/schema/metaschema.lua), so
 * only Kong's own field types and attributes appear here.
 *
 * Kong fills defaults before StartInstance and sends unset optional fields as `null`;
 * the derived type says so (`T | null` for optional fields without a default).
 */

import type { KongField, KongFieldList } from './kong-config';

export type Scalar = string | number | boolean;

interface Common<T> {
  description: string;
  required?: boolean;
  default?: T;
}

interface StringAttrs<T extends string> extends Common<T> {
  one_of?: readonly T[];
  len_min?: number;
  len_max?: number;
  starts_with?: string;
  /** Vault references such as `{vault://env/openai-api-key}` are resolved by Kong. */
  referenceable?: boolean;
  /** Kong encrypts the value at rest when keyring encryption is on. */
  encrypted?: boolean;
}

interface NumberAttrs extends Common<number> {
  between?: readonly [number, number];
  gt?: number;
  one_of?: readonly number[];
}

/** A field carries its Kong DSL (`kong`) and, at type level only, its value type. */
export interface Field<T, Req extends boolean> {
  readonly kong: KongField;
  /** phantom: never set at run time */
  readonly __type?: T;
  readonly __req?: Req;
}

type ReqOf<A> = A extends { required: true } ? true : A extends { default: unknown } ? true : false;

function strip<A extends object>(type: string, attrs: A): KongField {
  const out: KongField = { type };
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) out[k] = v;
  return out;
}

export function string<const A extends StringAttrs<string>>(
  attrs: A,
): Field<A extends { one_of: readonly (infer U)[] } ? U : string, ReqOf<A>> {
  return { kong: strip('string', attrs) };
}

export function integer<const A extends NumberAttrs>(attrs: A): Field<number, ReqOf<A>> {
  return { kong: strip('integer', attrs) };
}

export function number<const A extends NumberAttrs>(attrs: A): Field<number, ReqOf<A>> {
  return { kong: strip('number', attrs) };
}

export function boolean<const A extends Common<boolean>>(attrs: A): Field<boolean, ReqOf<A>> {
  return { kong: strip('boolean', attrs) };
}

interface ArrayAttrs<T> extends Common<T[]> {
  len_min?: number;
  len_max?: number;
}

export function array<E, const A extends ArrayAttrs<E>>(
  elements: Field<E, boolean>,
  attrs: A,
): Field<E[], ReqOf<A>> {
  return { kong: { ...strip('array', attrs), elements: elements.kong } };
}

/** Kong `set`: an array whose duplicates Kong removes. */
export function set<E, const A extends ArrayAttrs<E>>(
  elements: Field<E, boolean>,
  attrs: A,
): Field<E[], ReqOf<A>> {
  return { kong: { ...strip('set', attrs), elements: elements.kong } };
}

export function map<V, const A extends Common<Record<string, V>>>(
  values: Field<V, boolean>,
  attrs: A,
): Field<Record<string, V>, ReqOf<A>> {
  return { kong: { ...strip('map', attrs), keys: { type: 'string' }, values: values.kong } };
}

export type Fields = Record<string, Field<unknown, boolean>>;

type ValueOf<F> = F extends Field<infer T, infer R> ? (R extends true ? T : T | null) : never;

/** The config object a plugin instance receives, derived from its fields. */
export type ConfigOf<F extends Fields> = { -readonly [K in keyof F]: ValueOf<F[K]> };

interface RecordAttrs {
  description?: string;
  required?: boolean;
}

export function record<const F extends Fields, const A extends RecordAttrs>(
  fields: F,
  attrs: A,
): Field<ConfigOf<F>, A extends { required: true } ? true : false> {
  return { kong: { ...strip('record', attrs), fields: toKongFields(fields) } };
}

/** Kong's field list form: `[{ name: { type, ... } }, ...]`, in declaration order. */
export function toKongFields(fields: Fields): KongFieldList {
  return Object.entries(fields).map(([name, f]) => ({ [name]: f.kong }));
}
