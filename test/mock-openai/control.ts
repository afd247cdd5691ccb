/**
 * The mock's HTTP control API, for tests that cannot reach the MockOpenAI object
 * (the mock as a container behind a real Kong). Parsing only, no HTTP: server.ts
 * decides whether control is on and applies the call. Errors use OpenAI's format so
 * that a client sees the same envelope from every answer of the mock.
 *
 *   GET  /__mock/requests     → RecordedRequest[]
 *   POST /__mock/reset
 *   POST /__mock/fail         { n, spec: FailureSpec }
 *   POST /__mock/latency      { ms }
 *   POST /__mock/chunk-delay  { ms }
 */
import { HttpError, invalidRequest, type FailureSpec } from './openai-errors';

/** Paths under this prefix are control calls when control is on. */
export const CONTROL_PREFIX = '/__mock/';

/** A parsed, validated control call. */
export type ControlCall =
  | { op: 'requests' }
  | { op: 'reset' }
  | { op: 'fail'; n: number; spec: FailureSpec }
  | { op: 'latency'; ms: number }
  | { op: 'chunk-delay'; ms: number };

const METHODS: Readonly<Record<string, 'GET' | 'POST'>> = {
  requests: 'GET',
  reset: 'POST',
  fail: 'POST',
  latency: 'POST',
  'chunk-delay': 'POST',
};

const STATUSES: readonly number[] = [429, 500, 503] satisfies FailureSpec['status'][];
const SPEC_KEYS = new Set(['status', 'message', 'type', 'code', 'param', 'headers']);

/** Parses a request under CONTROL_PREFIX; an HttpError (400, 404 or 405) is the answer to send instead. */
export function parseControlCall(method: string, path: string, body: string): ControlCall | HttpError {
  const op = path.slice(CONTROL_PREFIX.length);
  const expected = Object.hasOwn(METHODS, op) ? METHODS[op] : undefined;
  if (!expected) return new HttpError(404, 'invalid_request_error', `Unknown control call (${method} ${path})`);
  if (method !== expected) {
    return new HttpError(405, 'invalid_request_error', `${path} takes ${expected}`, null, null, { allow: expected });
  }
  switch (op) {
    case 'requests':
    case 'reset':
      return { op };
    case 'fail': {
      const json = parseObject(body);
      if (json instanceof HttpError) return json;
      if (!Number.isInteger(json.n) || (json.n as number) < 0) return invalidRequest('n must be an integer >= 0', 'n');
      const spec = parseFailureSpec(json.spec);
      return spec instanceof HttpError ? spec : { op, n: json.n as number, spec };
    }
    default: {
      // latency and chunk-delay take the same body.
      const json = parseObject(body);
      if (json instanceof HttpError) return json;
      const ms = json.ms;
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return invalidRequest('ms must be a number >= 0', 'ms');
      return { op: op === 'latency' ? 'latency' : 'chunk-delay', ms };
    }
  }
}

function parseObject(body: string): Record<string, unknown> | HttpError {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return invalidRequest('The body must be a JSON object.');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return invalidRequest('The body must be a JSON object.');
  return json as Record<string, unknown>;
}

/** Checks every field, and rejects unknown ones so a misspelt option fails loudly instead of being ignored. */
function parseFailureSpec(value: unknown): FailureSpec | HttpError {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalidRequest('spec must be an object', 'spec');
  const spec = value as Record<string, unknown>;
  const unknown = Object.keys(spec).find((key) => !SPEC_KEYS.has(key));
  if (unknown !== undefined) return invalidRequest(`spec.${unknown} is not a FailureSpec field`, `spec.${unknown}`);
  if (typeof spec.status !== 'number' || !STATUSES.includes(spec.status)) {
    return invalidRequest(`spec.status must be one of ${STATUSES.join(', ')}`, 'spec.status');
  }
  for (const key of ['message', 'type'] as const) {
    if (spec[key] !== undefined && typeof spec[key] !== 'string') return invalidRequest(`spec.${key} must be a string`, `spec.${key}`);
  }
  for (const key of ['code', 'param'] as const) {
    if (spec[key] !== undefined && spec[key] !== null && typeof spec[key] !== 'string') {
      return invalidRequest(`spec.${key} must be a string or null`, `spec.${key}`);
    }
  }
  const headers = spec.headers;
  if (
    headers !== undefined &&
    (typeof headers !== 'object' || headers === null || Array.isArray(headers) ||
      !Object.values(headers).every((v) => typeof v === 'string'))
  ) {
    return invalidRequest('spec.headers must be an object of strings', 'spec.headers');
  }
  return spec as unknown as FailureSpec;
}
