import type { DecisionContext } from '../ciba/confirm-approval.ts';
import { loadTenant } from '../ciba/load-tenant.ts';
import { relyingPartyOf } from '../ciba/passkey.ts';
import { authenticateDevice, type VerifiedProof, verifyDpopProof } from '../ciba/verify-device-proof.ts';
import type { Device, Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';
import { baseUrl, type HttpEvent, header, requestUrl, tenantParam } from './event.ts';

/** The DPoP proof of a device API request: the header, the method and the URL as the device sees it (`htu`). */
const proofOf = (event: HttpEvent, deps: Pick<Deps, 'config'>, tenantId: string) => ({
  tenantId,
  proof: header(event, 'dpop'),
  htm: event.requestContext.http.method,
  htu: requestUrl(event, deps.config),
});

/**
 * What every device API call starts with (docs/device-api.md): the tenant from the path and the device that signed
 * the request's DPoP proof (its jti recorded: a replay is refused), with the tenant and origin its decisions and
 * passkeys are checked against (WebAuthn binds to the origin the browser saw: the public base URL). `alongside` may
 * start a read the route needs beside the proof's write (authenticateDevice's), handed back with the device.
 */
export const readDeviceRequest = async <T = never>(
  deps: Pick<Deps, 'tenants' | 'deviceProofs' | 'clock' | 'config'>,
  event: HttpEvent,
  alongside?: (tenantId: string, deviceId: string) => Promise<T> | undefined,
): Promise<{
  tenant: Tenant;
  device: Device;
  proof: VerifiedProof;
  context: DecisionContext;
  alongside?: Promise<T>;
}> => {
  const tenantId = tenantParam(event);
  const tenant = await loadTenant(deps.tenants, tenantId);
  const authenticated = await authenticateDevice(
    deps,
    proofOf(event, deps, tenantId),
    alongside ? (deviceId) => alongside(tenantId, deviceId) : undefined,
  );
  const context = { tenant, rp: relyingPartyOf(baseUrl(event, deps.config)) };
  return { tenant, ...authenticated, context };
};

/** Enrollment: the proof of a key that is not a device yet (its jti is recorded by the enrollment). */
export const readEnrollmentRequest = async (
  deps: Pick<Deps, 'tenants' | 'clock' | 'config'>,
  event: HttpEvent,
): Promise<{ tenant: Tenant; proof: VerifiedProof }> => {
  const tenantId = tenantParam(event);
  const tenant = await loadTenant(deps.tenants, tenantId);
  return { tenant, proof: await verifyDpopProof(deps, proofOf(event, deps, tenantId)) };
};
