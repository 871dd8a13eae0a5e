import { prepareBackchannelRequest } from '../../lib/ciba/request-object.ts';
import {
  type BackchannelDeps,
  startBackchannelAuthentication,
} from '../../lib/ciba/start-backchannel-authentication.ts';
import { readClientRequest } from '../../lib/http/client-request.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json, NO_STORE } from '../../lib/http/response.ts';
import { routeTable } from '../../lib/http/route-table.ts';
import { certificateBinding } from '../../lib/oauth/fapi.ts';
import type { Deps } from '../../lib/ports.ts';

/** The ports this function uses: its Lambda entry builds only these. */
export type BcAuthorizeDeps = BackchannelDeps & Pick<Deps, 'clients' | 'replay'>;

/** POST {issuer}/bc-authorize (CIBA Core §7), plain or signed (§7.1.1). */
export const createHandler = (deps: BcAuthorizeDeps) =>
  httpFunction(
    deps.logger,
    routeTable<'bc-authorize'>({
      'POST /{tenant}/bc-authorize': async (event) => {
        const { tenant, issuer, form, certificate, client } = await readClientRequest(deps, event);
        const params = await prepareBackchannelRequest(deps, { tenant, client, issuer, form });
        // Push-mode tokens are minted by the callback, away from this connection: bind them to its certificate now.
        const thumbprint =
          client.backchannelTokenDeliveryMode === 'push' ? certificateBinding(tenant, client, certificate) : undefined;
        const input = {
          tenant,
          issuer,
          client,
          form: params,
          ...(thumbprint ? { certificateThumbprint: thumbprint } : {}),
        };
        return json(200, await startBackchannelAuthentication(deps, input), NO_STORE);
      },
    }),
  );
