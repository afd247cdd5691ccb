/**
 * Reads what kong/lua/gateway-pack.lua packed (contract.ts PackedRequest) into the
 * request the stages see. It crossed Kong's socket: every member is checked, and a
 * pack that is not one (absent: the pre-function is missing; a wrong shape) reads as
 * null, which llm-gateway answers with a 500 rather than guess.
 */
import type { HeaderMultiMap } from '../shared/pdk';
import type { StagedRequest } from '../shared/pipeline/staged-pdk';
import { isObj } from '../shared/values';

export interface PackedStagedRequest extends StagedRequest {
  /** Kong's request id (what kong.log.serialize() logs), null when the pack has none. */
  requestId: string | null;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function readHeaders(v: unknown): HeaderMultiMap | null {
  // Lua's empty table arrives as [] (no headers at all)
  if (Array.isArray(v) && v.length === 0) return Object.create(null) as HeaderMultiMap;
  if (!isObj(v)) return null;
  const out = Object.create(null) as HeaderMultiMap;
  for (const [name, value] of Object.entries(v)) {
    if (typeof value === 'string') out[name.toLowerCase()] = [value];
    else if (Array.isArray(value) && value.every((x) => typeof x === 'string')) out[name.toLowerCase()] = value as string[];
    else return null;
  }
  return out;
}

export function readPack(v: unknown): PackedStagedRequest | null {
  if (!isObj(v)) return null;
  const { method, path } = v;
  if (typeof method !== 'string' || typeof path !== 'string') return null;
  const headers = readHeaders(v.headers);
  if (headers === null) return null;
  let body: Uint8Array | null = null;
  if (v.body_base64 !== undefined) {
    if (typeof v.body_base64 !== 'string' || !BASE64.test(v.body_base64)) return null;
    body = Buffer.from(v.body_base64, 'base64');
  }
  return {
    requestId: typeof v.request_id === 'string' && v.request_id !== '' ? v.request_id : null,
    method,
    path,
    rawQuery: typeof v.raw_query === 'string' ? v.raw_query : '',
    headers,
    forwardedIp: typeof v.forwarded_ip === 'string' && v.forwarded_ip !== '' ? v.forwarded_ip : null,
    body,
    bodyUnread: v.body_unread === true,
  };
}
