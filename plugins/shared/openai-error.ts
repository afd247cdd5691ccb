/**
 * The one error-response path of the suite. Every rejection leaves in OpenAI's error
 * format (https://platform.openai.com/docs/guides/error-codes), so OpenAI SDKs raise
 * a typed error (AuthenticationError, PermissionDeniedError, RateLimitError, ...)
 * carrying our message. Messages never contain a credential, a key or prompt text.
 */
import type { KongPdk } from './pdk';

export type OpenAiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'rate_limit_error'
  /** OpenAI's 429 types: which budget ran out (per-minute requests or tokens). */
  | 'requests'
  | 'tokens'
  /** OpenAI's 429 for an exhausted spend quota (clients should not retry soon). */
  | 'insufficient_quota'
  | 'server_error'
  | 'service_unavailable';

export interface OpenAiErrorBody {
  error: { message: string; type: OpenAiErrorType; param: string | null; code: string | null };
}

/** A plugin's decision to reject a request, made before anything is sent. */
export interface Rejection {
  status: number;
  message: string;
  type: OpenAiErrorType;
  code: string | null;
  param?: string | null;
  headers?: Record<string, string>;
}

export function openAiErrorBody(r: Pick<Rejection, 'message' | 'type' | 'code' | 'param'>): OpenAiErrorBody {
  return { error: { message: r.message, type: r.type, param: r.param ?? null, code: r.code } };
}

/**
 * Answers the request with the rejection and ends it. Kong never replies to
 * `kong.response.exit`, so the caller must return right after.
 *
 * The body goes as a JSON string, not a table: a `null` inside a table sent to Kong
 * becomes a Lua nil and disappears, and OpenAI's format needs `"param": null`.
 */
export async function reject(kong: KongPdk, r: Rejection): Promise<void> {
  await kong.response.exit(r.status, JSON.stringify(openAiErrorBody(r)), {
    'Content-Type': 'application/json',
    ...r.headers,
  });
}

export const internalError = (code: string): Rejection => ({
  status: 500,
  message: 'The gateway could not process the request. It has been logged.',
  type: 'server_error',
  code,
});
