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
 * passkeys are checked against (WebAuthn binds to the origin the browser saw: the public base URL).
 */
export const readDeviceRequest = async (
  deps: Pick<Deps, 'tenants' | 'deviceProofs' | 'clock' | 'config'>,
  event: HttpEvent,
): Promise<{ tenant: Tenant; device: Device; proof: VerifiedProof; context: DecisionContext }> => {
  const tenantId = tenantParam(event);
  const tenant = await loadTenant(deps.tenants, tenantId);
  const { device, proof } = await authenticateDevice(deps, proofOf(event, deps, tenantId));
  return { tenant, device, proof, context: { tenant, rp: relyingPartyOf(baseUrl(event, deps.config)) } };
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
