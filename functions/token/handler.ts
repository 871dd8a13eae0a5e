import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { pollCibaGrant } from '../../lib/ciba/poll-ciba-grant.ts';
import { formBody, header, issuerOf, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json, NO_STORE } from '../../lib/http/response.ts';
import { CIBA_GRANT_TYPE } from '../../lib/model.ts';
import { authenticateClient } from '../../lib/oauth/client-authentication.ts';
import { InvalidRequest, UnsupportedGrantType } from '../../lib/oauth/errors.ts';
import type { Deps } from '../../lib/ports.ts';

/** POST {issuer}/oauth/token: the CIBA grant (CIBA Core §10.1, §11). Errors are no-store too (the envelope's default). */
export const createHandler = (deps: Deps) =>
  httpFunction(deps.logger, async (event) => {
    const tenantId = tenantParam(event);
    const tenant = await loadTenant(deps.store, tenantId);
    const form = formBody(event);
    const client = await authenticateClient(deps.store, tenantId, header(event, 'authorization'), form);
    if (form.grant_type === undefined) throw InvalidRequest('grant_type is required');
    if (form.grant_type !== CIBA_GRANT_TYPE)
      throw UnsupportedGrantType(`grant_type ${form.grant_type} is not supported`);
    const issuer = issuerOf(event, deps.config, tenantId);
    return json(200, await pollCibaGrant(deps, { tenant, issuer, client, form }), NO_STORE);
  });
