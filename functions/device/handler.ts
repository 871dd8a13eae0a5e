import * as z from 'zod';
import type { DecisionContext } from '../../lib/ciba/confirm-approval.ts';
import {
  DecisionBody,
  DevicePushBody,
  EnrollmentBody,
  enrollDevice,
  getConsentDetails,
  listPendingTransactions,
  recordDeviceDecision,
} from '../../lib/ciba/device-api.ts';
import { describeDevice, setDevicePush } from '../../lib/ciba/device-profile.ts';
import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { passkeyRegistrationOptions, registerPasskey, relyingPartyOf } from '../../lib/ciba/passkey.ts';
import { authenticateDevice, verifyDpopProof } from '../../lib/ciba/verify-device-proof.ts';
import { NotFound } from '../../lib/errors.ts';
import { baseUrl, type HttpEvent, header, jsonBody, pathParam, requestUrl, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json } from '../../lib/http/response.ts';
import type { Deps } from '../../lib/ports.ts';
import { parseWith } from '../../lib/validation.ts';

/**
 * POST {issuer}/device/passkey: the new credential (`PublicKeyCredential.toJSON()`), and when the device already has a
 * passkey, that passkey's assertion over the same challenge (hardening rule 1).
 */
const PasskeyRegistrationBody = z.strictObject({
  response: z.record(z.string(), z.unknown()),
  assertion: z.record(z.string(), z.unknown()).optional(),
});

/** The ports this function uses: its Lambda entry builds only these. */
export type DeviceDeps = Pick<
  Deps,
  | 'tenants'
  | 'clients'
  | 'users'
  | 'devices'
  | 'pushChannels'
  | 'passkeys'
  | 'deviceProofs'
  | 'replay'
  | 'tickets'
  | 'requests'
  | 'decisions'
  | 'notifier'
  | 'events'
  | 'scheduler'
  | 'outbound'
  | 'clock'
  | 'logger'
  | 'config'
>;

/** The device API (docs/device-api.md): every call is authenticated by a DPoP proof of the device key. */
export const createHandler = (deps: DeviceDeps) =>
  httpFunction(deps.logger, async (event: HttpEvent) => {
    const tenantId = tenantParam(event);
    const tenant = await loadTenant(deps.tenants, tenantId);
    const proofInput = {
      tenantId,
      proof: header(event, 'dpop'),
      htm: event.requestContext.http.method,
      htu: requestUrl(event, deps.config),
    };

    if (event.routeKey === 'POST /{tenant}/device/enrollments') {
      const proof = await verifyDpopProof(deps, proofInput);
      const body = parseWith(EnrollmentBody, jsonBody(event));
      return json(201, await enrollDevice(deps, { tenant, body, proof }));
    }
    const { device, proof } = await authenticateDevice(deps, proofInput);
    // WebAuthn binds to the origin the browser saw: the public base URL.
    const context: DecisionContext = { tenant, rp: relyingPartyOf(baseUrl(event, deps.config)) };
    switch (event.routeKey) {
      case 'GET /{tenant}/device':
        return json(200, describeDevice(tenant, device));
      case 'PUT /{tenant}/device/push':
        return json(200, await setDevicePush(deps, tenant, device, parseWith(DevicePushBody, jsonBody(event))));
      case 'POST /{tenant}/device/passkey/registration-options':
        return json(200, await passkeyRegistrationOptions(deps, { tenant, device, rp: context.rp }));
      case 'POST /{tenant}/device/passkey': {
        const { response, assertion } = parseWith(PasskeyRegistrationBody, jsonBody(event));
        return json(
          201,
          await registerPasskey(deps, {
            tenant,
            device,
            rp: context.rp,
            response,
            ...(assertion !== undefined ? { assertion } : {}),
          }),
        );
      }
      case 'GET /{tenant}/device/transactions':
        return json(200, await listPendingTransactions(deps, device, context));
      case 'GET /{tenant}/device/transactions/{txn}':
        return json(200, await getConsentDetails(deps, device, pathParam(event, 'txn'), context));
      case 'POST /{tenant}/device/transactions/{txn}': {
        const body = parseWith(DecisionBody, jsonBody(event));
        return json(
          200,
          await recordDeviceDecision(deps, {
            device,
            txn: pathParam(event, 'txn'),
            decision: body.decision,
            proof,
            context,
            ...(body.binding_code !== undefined ? { bindingCode: body.binding_code } : {}),
            ...(body.webauthn !== undefined ? { webauthn: body.webauthn } : {}),
          }),
        );
      }
      default:
        throw new NotFound('no such device route');
    }
  });
