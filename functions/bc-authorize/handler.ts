import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { startBackchannelAuthentication } from '../../lib/ciba/start-backchannel-authentication.ts';
import { formBody, header, issuerOf, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json, NO_STORE } from '../../lib/http/response.ts';
import { authenticateClient } from '../../lib/oauth/client-authentication.ts';
import type { Deps } from '../../lib/ports.ts';

/** POST {issuer}/bc-authorize (CIBA Core §7). */
export const createHandler = (deps: Deps) =>
  httpFunction(deps.logger, async (event) => {
    const tenantId = tenantParam(event);
    const tenant = await loadTenant(deps.store, tenantId);
    const form = formBody(event);
    const client = await authenticateClient(deps.store, tenantId, header(event, 'authorization'), form);
    const issuer = issuerOf(event, deps.config, tenantId);
    return json(200, await startBackchannelAuthentication(deps, { tenant, issuer, client, form }), NO_STORE);
  });
