import { sha256 } from '../crypto.ts';
import type { Tenant } from '../model.ts';

/**
 * The stored key of an enrollment ticket: only its hash, scoped to the tenant (a ticket never works elsewhere) and to
 * the tenant's generation (hardening rule 7: a ticket of a deleted tenant does not enroll into one created again under
 * its id).
 */
export const ticketKey = (tenant: Pick<Tenant, 'tenantId' | 'generation'>, ticket: string) =>
  sha256(
    tenant.generation === undefined
      ? `${tenant.tenantId}:${ticket}`
      : `${tenant.tenantId}:${tenant.generation}:${ticket}`,
  );
