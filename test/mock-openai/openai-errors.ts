/**
 * OpenAI's error envelope (https://platform.openai.com/docs/guides/error-codes) and
 * the canned failures `MockOpenAI.failNext` injects. Kept independent of
 * `plugins/shared/openai-error.ts` on purpose: the mock stands in for the real
 * upstream, so it must not share code with the gateway it is used to test.
 */

/** The JSON body of every non-2xx answer from the OpenAI API. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An answer in OpenAI's error format, thrown by request handlers and sent as is. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  body(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 `invalid_request_error`, the answer to a malformed request. */
export const invalidRequest = (message: string, param: string | null = null, code: string | null = null): HttpError =>
  new HttpError(400, 'invalid_request_error', message, param, code);

/** What `failNext` makes the next requests answer; unset fields take OpenAI's defaults for the status. */
export interface FailureSpec {
  status: 429 | 500 | 503;
  message?: string;
  type?: string;
  code?: string | null;
  param?: string | null;
  /** Added to (or replacing) the default headers, e.g. `{ 'retry-after': '20' }`. */
  headers?: Record<string, string>;
}

/**
 * The rate-limit headers OpenAI sends (https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers),
 * here for a client that has used up its requests-per-minute budget. Reset values use
 * OpenAI's duration notation ("1s", "6m0s"); `retry-after` is in whole seconds.
 */
const RATE_LIMIT_HEADERS: Readonly<Record<string, string>> = {
  'x-ratelimit-limit-requests': '500',
  'x-ratelimit-remaining-requests': '0',
  'x-ratelimit-reset-requests': '1s',
  'x-ratelimit-limit-tokens': '30000',
  'x-ratelimit-remaining-tokens': '29000',
  'x-ratelimit-reset-tokens': '2s',
  'retry-after': '1',
};

/** Messages, types and codes as OpenAI sends them for each injectable status. */
const FAILURE_DEFAULTS: Record<
  FailureSpec['status'],
  { type: string; code: string | null; message: string; headers: Readonly<Record<string, string>> }
> = {
  429: {
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    message:
      'Rate limit reached in organization org-mock on requests per min (RPM): Limit 500, Used 500, Requested 1. ' +
      'Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.',
    headers: RATE_LIMIT_HEADERS,
  },
  500: {
    type: 'server_error',
    code: null,
    message: 'The server had an error while processing your request. Sorry about that!',
    headers: {},
  },
  503: {
    type: 'server_error',
    code: null,
    message: 'The engine is currently overloaded, please try again later.',
    headers: {},
  },
};

/** The error an injected failure answers with. */
export function injectedFailure(spec: FailureSpec): HttpError {
  const d = FAILURE_DEFAULTS[spec.status];
  return new HttpError(
    spec.status,
    spec.type ?? d.type,
    spec.message ?? d.message,
    spec.param ?? null,
    spec.code !== undefined ? spec.code : d.code,
    { ...d.headers, ...spec.headers },
  );
}
