import { loadTenant } from '../ciba/load-tenant.ts';
import { authenticateClient } from '../oauth/client-authentication.ts';
import type { Deps } from '../ports.ts';
import { presentedCertificate } from './client-certificate.ts';
import { formBody, type HttpEvent, header, issuerOf, tenantParam } from './event.ts';

/**
 * What every client-facing form endpoint (bc-authorize, token, revoke, introspect) starts with: the tenant from
 * the path, the form body, the TLS client certificate if any, and the authenticated client.
 */
export const readClientRequest = async (
  deps: Pick<Deps, 'tenants' | 'clients' | 'replay' | 'clock' | 'config' | 'keys' | 'outbound' | 'logger'>,
  event: HttpEvent,
) => {
  const tenantId = tenantParam(event);
  const tenant = await loadTenant(deps.tenants, tenantId);
  const form = formBody(event);
  const issuer = issuerOf(event, deps.config, tenantId);
  const certificate = presentedCertificate(event);
  const client = await authenticateClient(deps, {
    tenant,
    issuer,
    authorization: header(event, 'authorization'),
    form,
    certificate,
  });
  return { tenant, issuer, form, certificate, client };
};
