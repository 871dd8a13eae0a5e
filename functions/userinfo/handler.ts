import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { presentedCertificate } from '../../lib/http/client-certificate.ts';
import { type HttpEvent, header, issuerOf, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json } from '../../lib/http/response.ts';
import { routeTable } from '../../lib/http/route-table.ts';
import { getUserInfo } from '../../lib/oauth/userinfo.ts';
import type { Deps } from '../../lib/ports.ts';

/** The ports this function uses: its Lambda entry builds only these. */
export type UserinfoDeps = Pick<
  Deps,
  'tenants' | 'users' | 'clients' | 'revocations' | 'keys' | 'clock' | 'logger' | 'config'
>;

/** GET|POST {issuer}/userinfo with a bearer access token (certificate-bound ones over mutual TLS). */
export const createHandler = (deps: UserinfoDeps) => {
  const userinfo = async (event: HttpEvent) => {
    const tenantId = tenantParam(event);
    const tenant = await loadTenant(deps.tenants, tenantId);
    const issuer = issuerOf(event, deps.config, tenantId);
    const certificate = presentedCertificate(event);
    return json(
      200,
      await getUserInfo(deps, {
        tenant,
        issuer,
        authorization: header(event, 'authorization'),
        ...(certificate ? { certificateThumbprint: certificate.thumbprint } : {}),
      }),
    );
  };
  return httpFunction(
    deps.logger,
    routeTable<'userinfo'>({ 'GET /{tenant}/userinfo': userinfo, 'POST /{tenant}/userinfo': userinfo }),
  );
};
