import { randomToken } from '../crypto.ts';
import type { Client, GrantBinding, Tenant, User } from '../model.ts';

/** A new generation for a tenant created or a client registered (hardening rule 7). */
export const newGeneration = (): string => randomToken(12);

/** The generations a record carries (and nothing else of it). */
export const grantBindingOf = (grant: GrantBinding): GrantBinding => ({
  ...(grant.tenantGeneration !== undefined ? { tenantGeneration: grant.tenantGeneration } : {}),
  ...(grant.clientGeneration !== undefined ? { clientGeneration: grant.clientGeneration } : {}),
});

/** The generations a grant earned now under this tenant and client carries. */
export const grantBinding = (tenant: Pick<Tenant, 'generation'>, client: Pick<Client, 'generation'>): GrantBinding =>
  grantBindingOf({ tenantGeneration: tenant.generation, clientGeneration: client.generation });

/**
 * Whether a grant was earned under the tenant and client as they are now registered: false once either was deleted,
 * also when it was created again under the same id (SECURITY.md, hardening rule 7).
 */
export const isGrantCurrent = (
  grant: GrantBinding,
  tenant: Pick<Tenant, 'generation'>,
  client: Pick<Client, 'generation'> | undefined,
): boolean =>
  client !== undefined && grant.tenantGeneration === tenant.generation && grant.clientGeneration === client.generation;

/**
 * The private access-token claim that carries the binding (RFC 9068 allows private claims): `{tenant}.{client}`
 * generations, empty for a record from before generations existed. Introspection does not show it.
 */
export const BINDING_CLAIM = 'reg';

export const bindingClaim = (grant: GrantBinding): string =>
  `${grant.tenantGeneration ?? ''}.${grant.clientGeneration ?? ''}`;

export const bindingFromClaim = (claim: unknown): GrantBinding | undefined => {
  if (claim === undefined) return {};
  if (typeof claim !== 'string') return undefined;
  const [tenantGeneration = '', clientGeneration = '', ...rest] = claim.split('.');
  if (rest.length > 0) return undefined;
  return {
    ...(tenantGeneration ? { tenantGeneration } : {}),
    ...(clientGeneration ? { clientGeneration } : {}),
  };
};

/**
 * Whether the user a grant was approved by is still the user of that `sub`: false once the user was deleted
 * (erasure), also when a user was created again under the same `sub` after the approval (`authTimeMs`, epoch ms).
 */
export const isUserCurrent = (user: Pick<User, 'createdAt'> | undefined, authTimeMs: number): boolean =>
  user !== undefined && user.createdAt <= authTimeMs;
