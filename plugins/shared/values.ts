/**
 * Checks for values that crossed Kong's Lua side (kong.ctx.shared, serialize(),
 * configs): one definition for every reader of the suite instead of a copy per file.
 */

export type Obj = Record<string, unknown>;

/** A plain object (a Lua hash table), not an array and not null. */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An integer Number can hold exactly. */
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** A count: a safe integer >= 0. */
export const isNonNegInt = (v: unknown): v is number => isInt(v) && v >= 0;

/** A non-empty string, else null (an absent member, a Lua nil, a wrong type). */
export const textOrNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
