import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { header, issuerOf, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json } from '../../lib/http/response.ts';
import { getUserInfo } from '../../lib/oauth/userinfo.ts';
import type { Deps } from '../../lib/ports.ts';

/** GET|POST {issuer}/userinfo with a bearer access token. */
export const createHandler = (deps: Deps) =>
  httpFunction(deps.logger, async (event) => {
    const tenantId = tenantParam(event);
    const tenant = await loadTenant(deps.store, tenantId);
    const issuer = issuerOf(event, deps.config, tenantId);
    return json(200, await getUserInfo(deps, { tenant, issuer, authorization: header(event, 'authorization') }));
  });
