import { ApproveViewBody, openApprovalLink } from '../../lib/ciba/approval-links.ts';
import { getConsentDetails, listPendingTransactions, prefetchPending } from '../../lib/ciba/device-api.ts';
import { describeDevice } from '../../lib/ciba/device-profile.ts';
import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { relyingPartyOf } from '../../lib/ciba/passkey.ts';
import { readDeviceRequest } from '../../lib/http/device-request.ts';
import { baseUrl, jsonBody, pathParam, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json, NO_STORE } from '../../lib/http/response.ts';
import { routeTable } from '../../lib/http/route-table.ts';
import type { Deps } from '../../lib/ports.ts';
import { parseWith } from '../../lib/validation.ts';

/** The ports this function uses: its Lambda entry builds only these. */
export type ConsentDeps = Pick<
  Deps,
  'tenants' | 'clients' | 'users' | 'devices' | 'deviceProofs' | 'requests' | 'links' | 'clock' | 'logger' | 'config'
>;

/**
 * Consent retrieval (docs/device-api.md): what the signed-in device shows its user. The device's profile, the pending
 * list and a transaction's consent details; it reads the ledger and writes nothing but its DPoP proof's replay record
 * on the device (docs/code-map.md says why the device API is two functions). It also reads an approval link's
 * request for the approval page (docs/channels.md), the link's secret in the body, and where the tenant requires a
 * passkey, the user's passkeys from their devices (directory reads).
 */
export const createHandler = (deps: ConsentDeps) =>
  httpFunction(
    deps.logger,
    routeTable<'consent'>({
      'GET /{tenant}/device': async (event) => {
        const { tenant, device } = await readDeviceRequest(deps, event);
        return json(200, describeDevice(tenant, device));
      },
      'GET /{tenant}/device/transactions': async (event) => {
        // The list's query goes beside the proof's write when this process knows the device's owner (one round trip).
        const { device, context, alongside } = await readDeviceRequest(deps, event, (tenantId, deviceId) =>
          prefetchPending(deps, tenantId, deviceId),
        );
        return json(200, await listPendingTransactions(deps, device, context, alongside));
      },
      'GET /{tenant}/device/transactions/{txn}': async (event) => {
        const { device, context } = await readDeviceRequest(deps, event);
        return json(200, await getConsentDetails(deps, device, pathParam(event, 'txn'), context));
      },
      'POST /{tenant}/approve/view': async (event) => {
        const tenant = await loadTenant(deps.tenants, tenantParam(event));
        const body = parseWith(ApproveViewBody, jsonBody(event));
        const rp = relyingPartyOf(baseUrl(event, deps.config));
        return json(200, await openApprovalLink(deps, { tenant, secret: body.link, rp }), NO_STORE);
      },
    }),
  );
