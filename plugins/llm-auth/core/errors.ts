/**
 * Authentication failures as typed values, and the one mapping from a failure to the
 * OpenAI-format rejection the adapter sends (`toRejection`).
 *
 * Failures are returned, never thrown: the core decides, the adapter responds once.
 * Each carries a `detail` for the adapter's log; neither `detail` nor the client
 * message ever contains the credential, a key or a token fragment.
 *
 * Only `LlmAuthConfigError` is thrown, at construction, so a bad config fails
 * `StartInstance` instead of every request.
 */
import { internalError, type Rejection } from '../../shared/openai-error';
import { safeError } from '../../shared/safe-error';

/** Why a credential was judged invalid. Logged; never sent to the client. */
export type InvalidReason =
  | 'unknown_api_key'
  | 'no_method_accepts_credential'
  | 'malformed_token'
  | 'alg_none'
  | 'alg_unsupported'
  | 'crit_unsupported'
  | 'unknown_kid'
  | 'no_matching_key'
  | 'alg_mismatch'
  | 'bad_signature'
  | 'bad_claims'
  | 'issuer_not_allowed'
  | 'audience_not_allowed'
  | 'token_type_not_allowed'
  | 'missing_exp'
  | 'missing_consumer'
  | 'bad_tenant'
  | 'inactive';

export class MissingCredential {
  readonly kind = 'missing' as const;
  readonly detail = 'no credential in the configured headers or query parameters';
}

export class MalformedCredential {
  readonly kind = 'malformed' as const;
  /** @param message client-safe explanation built from constants, never from the value */
  constructor(readonly message: string) {}
  get detail(): string {
    return this.message;
  }
}

export class InvalidCredential {
  readonly kind = 'invalid' as const;
  constructor(readonly reason: InvalidReason) {}
  get detail(): string {
    return this.reason;
  }
}

export class ExpiredCredential {
  readonly kind = 'expired' as const;
  readonly detail = 'token expired';
}

export class NotYetValidCredential {
  readonly kind = 'not_yet_valid' as const;
  readonly detail = 'token nbf is in the future';
}

export class InsufficientScope {
  readonly kind = 'insufficient_scope' as const;
  constructor(
    readonly required: readonly string[],
    readonly missing: readonly string[],
  ) {}
  get detail(): string {
    return `missing scopes: ${this.missing.join(' ')}`;
  }
}

export class TenantNotAllowed {
  readonly kind = 'tenant_not_allowed' as const;
  constructor(readonly tenant: string | null) {}
  get detail(): string {
    return this.tenant === null ? 'credential has no tenant' : `tenant not allowed: ${this.tenant}`;
  }
}

export class AuthProviderUnavailable {
  readonly kind = 'unavailable' as const;
  /** @param reason e.g. "timeout", "HTTP 502"; never contains the credential */
  constructor(
    readonly provider: 'jwks' | 'introspection',
    readonly reason: string,
  ) {}
  get detail(): string {
    return `${this.provider} unavailable: ${this.reason}`;
  }
}

export class InternalAuthError {
  readonly kind = 'internal' as const;
  readonly detail: string;
  /** The cause as it may be logged (shared/safe-error): no quoted data, one code frame. */
  constructor(cause: unknown) {
    const { error, stack } = safeError(cause);
    this.detail = stack ? `${error} ${stack.split(' | ')[0]}` : error;
  }
}

export type Failure =
  | MissingCredential
  | MalformedCredential
  | InvalidCredential
  | ExpiredCredential
  | NotYetValidCredential
  | InsufficientScope
  | TenantNotAllowed
  | AuthProviderUnavailable
  | InternalAuthError;

export type FailureKind = Failure['kind'];

/** A configuration the core cannot run with; thrown from constructors only. */
export class LlmAuthConfigError extends Error {
  override readonly name = 'LlmAuthConfigError';
  /** @param field dotted path of the offending field, e.g. `jwt.keys[0].public_key` */
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`llm-auth config ${field}: ${problem}`);
  }
}

// Client messages, in the voice of OpenAI's own errors so SDK users recognise them.
const MESSAGES = {
  missing:
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
  invalid: 'Incorrect API key provided. Check the API key or access token you are sending.',
  expired: 'The access token provided has expired. Obtain a new token and retry.',
  notYetValid: 'The access token provided is not valid yet. Check the clock of the token issuer and retry later.',
  insufficientScope: 'You have insufficient permissions for this operation. Missing scopes:',
  tenant: "You have insufficient permissions for this operation: your credential's tenant is not allowed here.",
  unavailable: 'The authentication service is temporarily unavailable. Please retry your request.',
} as const;

// RFC 6750 §3 error_description values: printable ASCII without '"' or '\'.
const DESCRIPTIONS = {
  malformed: 'The credential is malformed',
  invalid: 'The access token is invalid',
  expired: 'The access token expired',
  notYetValid: 'The access token is not valid yet',
  insufficientScope: 'The request requires higher privileges than provided by the access token',
} as const;

/** Characters escaped inside an RFC 9110 §5.6.4 quoted-string. */
const QUOTED_STRING_SPECIALS = /["\\]/g;

function quoted(value: string): string {
  return `"${value.replace(QUOTED_STRING_SPECIALS, '\\$&')}"`;
}

/**
 * RFC 6750 §3 challenge. A request without credentials gets the bare challenge ("SHOULD
 * NOT include an error code"); otherwise `error` and `error_description` follow.
 */
function bearerChallenge(realm: string, error?: { code: string; description: string; scope?: readonly string[] }): string {
  let challenge = `Bearer realm=${quoted(realm)}`;
  if (error) {
    challenge += `, error=${quoted(error.code)}, error_description=${quoted(error.description)}`;
    if (error.scope && error.scope.length > 0) challenge += `, scope=${quoted(error.scope.join(' '))}`;
  }
  return challenge;
}

function unauthorized(realm: string, message: string, code: string, description?: string): Rejection {
  return {
    status: 401,
    message,
    type: 'authentication_error',
    code,
    headers: {
      'WWW-Authenticate': bearerChallenge(realm, description ? { code: 'invalid_token', description } : undefined),
    },
  };
}

/**
 * Maps a failure to the rejection the adapter sends: 401 for credential problems (with
 * an RFC 6750 `WWW-Authenticate` challenge), 403 for authorization, 503 when the token
 * authority cannot be reached, 500 for internal errors. OpenAI SDKs raise
 * AuthenticationError / PermissionDeniedError / InternalServerError from these.
 */
export function toRejection(failure: Failure, realm: string): Rejection {
  switch (failure.kind) {
    case 'missing':
      return unauthorized(realm, MESSAGES.missing, 'missing_api_key');
    case 'malformed':
      return unauthorized(realm, failure.message, 'malformed_credential', DESCRIPTIONS.malformed);
    case 'invalid':
      return unauthorized(realm, MESSAGES.invalid, 'invalid_api_key', DESCRIPTIONS.invalid);
    case 'expired':
      return unauthorized(realm, MESSAGES.expired, 'token_expired', DESCRIPTIONS.expired);
    case 'not_yet_valid':
      return unauthorized(realm, MESSAGES.notYetValid, 'token_not_yet_valid', DESCRIPTIONS.notYetValid);
    case 'insufficient_scope':
      // Scope names come from the route's config, not from the credential.
      return {
        status: 403,
        message: `${MESSAGES.insufficientScope} ${failure.missing.join(', ')}.`,
        type: 'permission_error',
        code: 'insufficient_scope',
        headers: {
          'WWW-Authenticate': bearerChallenge(realm, {
            code: 'insufficient_scope',
            description: DESCRIPTIONS.insufficientScope,
            scope: failure.required,
          }),
        },
      };
    case 'tenant_not_allowed':
      return { status: 403, message: MESSAGES.tenant, type: 'permission_error', code: 'tenant_not_allowed' };
    case 'unavailable':
      // OpenAI answers 5xx with type "server_error"; SDKs retry 503 on their own.
      return { status: 503, message: MESSAGES.unavailable, type: 'server_error', code: 'auth_provider_unavailable' };
    case 'internal':
      return internalError('llm_auth_internal_error');
    default: {
      const unreachable: never = failure;
      return unreachable;
    }
  }
}
