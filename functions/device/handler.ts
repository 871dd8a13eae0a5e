import {
  DecisionBody,
  EnrollmentBody,
  enrollDevice,
  getConsentDetails,
  listPendingTransactions,
  recordDeviceDecision,
} from '../../lib/ciba/device-api.ts';
import { loadTenant } from '../../lib/ciba/load-tenant.ts';
import { authenticateDevice, verifyDpopProof } from '../../lib/ciba/verify-device-proof.ts';
import { type HttpEvent, header, jsonBody, pathParam, requestUrl, tenantParam } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json } from '../../lib/http/response.ts';
import { parseWith } from '../../lib/http/validation.ts';
import type { Deps } from '../../lib/ports.ts';

/** The device API (DESIGN.md): every call is authenticated by a DPoP proof of the device key. */
export const createHandler = (deps: Deps) =>
  httpFunction(deps.logger, async (event: HttpEvent) => {
    const tenantId = tenantParam(event);
    await loadTenant(deps.store, tenantId);
    const proofInput = {
      tenantId,
      proof: header(event, 'dpop'),
      htm: event.requestContext.http.method,
      htu: requestUrl(event, deps.config),
    };

    if (event.routeKey === 'POST /{tenant}/device/enrollments') {
      const proof = await verifyDpopProof(deps, proofInput);
      const body = parseWith(EnrollmentBody, jsonBody(event));
      return json(201, await enrollDevice(deps, { tenantId, body, proof }));
    }
    const { device, proof } = await authenticateDevice(deps, proofInput);
    if (event.routeKey === 'GET /{tenant}/device/transactions')
      return json(200, await listPendingTransactions(deps, device));
    const txn = pathParam(event, 'txn');
    if (event.routeKey === 'GET /{tenant}/device/transactions/{txn}')
      return json(200, await getConsentDetails(deps, device, txn));
    const { decision } = parseWith(DecisionBody, jsonBody(event));
    return json(200, await recordDeviceDecision(deps, { device, txn, decision, proof }));
  });
