import * as z from 'zod';
import { ApproveDecideBody, decideByLink } from '../../lib/ciba/approval-links.ts';
import {
  DecisionBody,
  DevicePushBody,
  EnrollmentBody,
  enrollDevice,
  recordDeviceDecision,
} from '../../lib/ciba/device-api.ts';
import { setDevicePush } from '../../lib/ciba/device-profile.ts';
import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { passkeyRegistrationOptions, registerPasskey, relyingPartyOf } from '../../lib/ciba/passkey.ts';
import { readDecisionRequest, readDeviceRequest, readEnrollmentRequest } from '../../lib/http/device-request.ts';
import { baseUrl, jsonBody, pathParam, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json, NO_STORE } from '../../lib/http/response.ts';
import { routeTable } from '../../lib/http/route-table.ts';
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
  | 'users'
  | 'devices'
  | 'pushChannels'
  | 'passkeys'
  | 'deviceProofs'
  | 'replay'
  | 'tickets'
  | 'requests'
  | 'decisions'
  | 'shields'
  | 'links'
  | 'notifier'
  | 'events'
  | 'scheduler'
  | 'outbound'
  | 'clock'
  | 'logger'
  | 'config'
>;

/**
 * Device responses (docs/device-api.md): what a device writes, each call authenticated by a DPoP proof of its key.
 * The decision (approve, deny, report: it publishes and may schedule the callback; a report shields the user), and the device's setup: enrollment, its
 * push channel, its passkey (docs/code-map.md says why these live here and reading lives in the consent function).
 * A decision through an approval link (docs/channels.md) is the same write, so it is here too.
 */
export const createHandler = (deps: DeviceDeps) =>
  httpFunction(
    deps.logger,
    routeTable<'device'>({
      'POST /{tenant}/device/enrollments': async (event) => {
        const { tenant, proof } = await readEnrollmentRequest(deps, event);
        const body = parseWith(EnrollmentBody, jsonBody(event));
        return json(201, await enrollDevice(deps, { tenant, body, proof }));
      },
      'POST /{tenant}/device/transactions/{txn}': async (event) => {
        const { device, proof, context } = await readDecisionRequest(deps, event);
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
      },
      'POST /{tenant}/approve/decide': async (event) => {
        const tenant = await loadTenant(deps.tenants, tenantParam(event));
        const body = parseWith(ApproveDecideBody, jsonBody(event));
        const userAgent = event.headers?.['user-agent'];
        const sourceIp = event.requestContext?.http?.sourceIp;
        const decided = await decideByLink(deps, {
          tenant,
          secret: body.link,
          rp: relyingPartyOf(baseUrl(event, deps.config)),
          decision: body.decision,
          ...(body.binding_code !== undefined ? { bindingCode: body.binding_code } : {}),
          ...(body.webauthn !== undefined ? { webauthn: body.webauthn } : {}),
          ...(userAgent ? { userAgent } : {}),
          ...(sourceIp ? { sourceIp } : {}),
        });
        return json(200, decided, NO_STORE);
      },
      'PUT /{tenant}/device/push': async (event) => {
        const { tenant, device } = await readDeviceRequest(deps, event);
        return json(200, await setDevicePush(deps, tenant, device, parseWith(DevicePushBody, jsonBody(event))));
      },
      'POST /{tenant}/device/passkey/registration-options': async (event) => {
        const { tenant, device, context } = await readDeviceRequest(deps, event);
        return json(200, await passkeyRegistrationOptions(deps, { tenant, device, rp: context.rp }));
      },
      'POST /{tenant}/device/passkey': async (event) => {
        const { tenant, device, context } = await readDeviceRequest(deps, event);
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
      },
    }),
  );
