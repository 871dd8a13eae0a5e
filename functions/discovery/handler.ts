import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { issuerOf, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json } from '../../lib/http/response.ts';
import { routeTable } from '../../lib/http/route-table.ts';
import { discoveryDocument } from '../../lib/oauth/discovery.ts';
import type { Deps } from '../../lib/ports.ts';

const CACHEABLE = { 'Cache-Control': 'public, max-age=300' };

/** The ports this function uses: its Lambda entry builds only these. */
export type DiscoveryDeps = Pick<Deps, 'tenants' | 'keys' | 'clock' | 'logger' | 'config'>;

/** GET {issuer}/.well-known/openid-configuration and GET {issuer}/.well-known/jwks.json */
export const createHandler = (deps: DiscoveryDeps) =>
  httpFunction(
    deps.logger,
    routeTable<'discovery'>({
      'GET /{tenant}/.well-known/openid-configuration': async (event) => {
        const tenantId = tenantParam(event);
        const tenant = await loadTenant(deps.tenants, tenantId);
        // Without CIBA_PUBLIC_URL the issuer follows the host the request names (SECURITY.md, hardening rule 8): caches
        // must keep one answer per host. The JWKS is the same under every host.
        const headers = deps.config.publicUrl ? CACHEABLE : { ...CACHEABLE, Vary: 'Host' };
        return json(200, discoveryDocument(tenant, issuerOf(event, deps.config, tenantId), deps.config), headers);
      },
      'GET /{tenant}/.well-known/jwks.json': async (event) => {
        const tenantId = tenantParam(event);
        await loadTenant(deps.tenants, tenantId);
        return json(200, await deps.keys.publicJwks(tenantId), CACHEABLE);
      },
    }),
  );
