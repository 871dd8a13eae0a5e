import { approvalNeedsConfirmation, type DecisionContext } from '../ciba/confirm-approval.ts';
import { loadTenant } from '../ciba/load-tenant.ts';
import { relyingPartyOf } from '../ciba/passkey.ts';
import {
  authenticateDevice,
  identifyDevice,
  type VerifiedProof,
  verifyDpopProof,
} from '../ciba/verify-device-proof.ts';
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

/** The tenant and the origin a decision or passkey is checked against (WebAuthn binds to the public base URL). */
const contextOf = (event: HttpEvent, deps: Pick<Deps, 'config'>, tenant: Tenant): DecisionContext => ({
  tenant,
  rp: relyingPartyOf(baseUrl(event, deps.config)),
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
  return { tenant, ...authenticated, context: contextOf(event, deps, tenant) };
};

/**
 * A decision (`POST /device/transactions/{txn}`): as readDeviceRequest, except that for a tenant whose approvals
 * carry nothing beyond the signed proof (no binding code, no passkey) the device is read instead of its proof's jti
 * recorded (identifyDevice: the proof names the transaction and the decision, which is taken once).
 */
export const readDecisionRequest = async (
  deps: Pick<Deps, 'tenants' | 'devices' | 'deviceProofs' | 'clock' | 'config'>,
  event: HttpEvent,
): Promise<{ tenant: Tenant; device: Device; proof: VerifiedProof; context: DecisionContext }> => {
  const tenantId = tenantParam(event);
  const tenant = await loadTenant(deps.tenants, tenantId);
  const input = proofOf(event, deps, tenantId);
  const authenticated = approvalNeedsConfirmation(tenant)
    ? await authenticateDevice(deps, input)
    : await identifyDevice(deps, input);
  return { tenant, device: authenticated.device, proof: authenticated.proof, context: contextOf(event, deps, tenant) };
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
