import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { prepareBackchannelRequest } from '../../lib/ciba/request-object.ts';
import { startBackchannelAuthentication } from '../../lib/ciba/start-backchannel-authentication.ts';
import { formBody, header, issuerOf, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json, NO_STORE } from '../../lib/http/response.ts';
import { authenticateClient } from '../../lib/oauth/client-authentication.ts';
import { presentedCertificate } from '../../lib/oauth/mtls.ts';
import type { Deps } from '../../lib/ports.ts';

/** POST {issuer}/bc-authorize (CIBA Core §7), plain or signed (§7.1.1). */
/** The ports this function uses: its Lambda entry builds only these. */
export type BcAuthorizeDeps = Pick<
  Deps,
  'store' | 'keys' | 'notifier' | 'events' | 'scheduler' | 'clock' | 'logger' | 'config'
>;

export const createHandler = (deps: BcAuthorizeDeps) =>
  httpFunction(deps.logger, async (event) => {
    const tenantId = tenantParam(event);
    const tenant = await loadTenant(deps.store, tenantId);
    const form = formBody(event);
    const issuer = issuerOf(event, deps.config, tenantId);
    const client = await authenticateClient(deps, {
      tenant,
      issuer,
      authorization: header(event, 'authorization'),
      form,
      certificate: presentedCertificate(event),
    });
    const params = await prepareBackchannelRequest(deps, { tenant, client, issuer, form });
    return json(200, await startBackchannelAuthentication(deps, { tenant, issuer, client, form: params }), NO_STORE);
  });
