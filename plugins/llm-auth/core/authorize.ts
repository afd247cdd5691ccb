/**
 * Route-level authorization of an authenticated identity.
 */
import type { PublishedIdentity } from '../../shared/marks';
import { InsufficientScope, TenantNotAllowed, type Failure } from './errors';

/**
 * Null when the identity may use the route, else the failure (→ 403).
 *
 * The tenant is checked first, so a credential from a foreign tenant learns nothing
 * about the route's scopes. A non-empty `allowedTenants` rejects an identity without
 * a tenant; every scope in `requiredScopes` must be held.
 */
export function authorize(
  identity: Pick<PublishedIdentity, 'scopes' | 'tenant'>,
  requiredScopes: readonly string[],
  allowedTenants: readonly string[],
): Failure | null {
  if (allowedTenants.length > 0 && (identity.tenant === null || !allowedTenants.includes(identity.tenant))) {
    return new TenantNotAllowed(identity.tenant);
  }
  const missing = requiredScopes.filter((scope) => !identity.scopes.includes(scope));
  return missing.length > 0 ? new InsufficientScope(requiredScopes, missing) : null;
}
