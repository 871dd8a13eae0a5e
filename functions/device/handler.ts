import * as z from 'zod';
import type { DecisionContext } from '../../lib/ciba/confirm-approval.ts';
import {
  DecisionBody,
  DevicePushBody,
  EnrollmentBody,
  enrollDevice,
  getConsentDetails,
  listPendingTransactions,
  prefetchPending,
  recordDeviceDecision,
} from '../../lib/ciba/device-api.ts';
import { describeDevice, setDevicePush } from '../../lib/ciba/device-profile.ts';
import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { passkeyRegistrationOptions, registerPasskey, relyingPartyOf } from '../../lib/ciba/passkey.ts';
import { authenticateDevice, verifyDpopProof } from '../../lib/ciba/verify-device-proof.ts';
import { baseUrl, type HttpEvent, header, jsonBody, pathParam, requestUrl, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json } from '../../lib/http/response.ts';
import { parseWith } from '../../lib/http/validation.ts';
import { NotFound } from '../../lib/oauth/errors.ts';
import type { Deps } from '../../lib/ports.ts';

/**
 * POST {issuer}/device/passkey: the new credential (`PublicKeyCredential.toJSON()`), and when the device already has a
 * passkey, that passkey's assertion over the same challenge (hardening rule 1).
 */
const PasskeyRegistrationBody = z.strictObject({
  response: z.record(z.string(), z.unknown()),
  assertion: z.record(z.string(), z.unknown()).optional(),
});

/** The ports this function uses: its Lambda entry builds only these. */
export type DeviceDeps = Pick<Deps, 'store' | 'notifier' | 'events' | 'scheduler' | 'clock' | 'logger' | 'config'>;

/** The device API (docs/device-api.md): every call is authenticated by a DPoP proof of the device key. */
export const createHandler = (deps: DeviceDeps) =>
  httpFunction(deps.logger, async (event: HttpEvent) => {
    const tenantId = tenantParam(event);
    const tenant = await loadTenant(deps.store, tenantId);
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
    // The list's query goes beside the proof's write when this process knows the device's owner (one round trip).
    const { device, proof, alongside } = await authenticateDevice(
      deps,
      proofInput,
      event.routeKey === 'GET /{tenant}/device/transactions'
        ? (deviceId) => prefetchPending(deps, tenantId, deviceId)
        : undefined,
    );
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
        return json(200, await listPendingTransactions(deps, device, context, alongside));
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
        throw NotFound('no such device route');
    }
  });
