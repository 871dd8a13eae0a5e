import { requestState } from '../ciba/device-transactions.ts';
import { txnOf } from '../ciba/poll-ciba-grant.ts';
import { NotFound } from '../errors.ts';
import type { Deps } from '../ports.ts';

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : Math.floor(ms / 1000));

/** A transaction id alone (the part of an auth_req_id before the dot): what logs and the device show. */
const TXN = /^[A-Za-z0-9_-]{22}$/;

/**
 * GET /admin/tenants/{t}/requests/{id}: state and history, never tokens or secrets. `id` is the client's
 * `auth_req_id` or the request's `txn` (what the service's log lines and `ciba device pending` show), so an
 * operator can follow a request from either side.
 */
export const describeRequest = async (deps: Pick<Deps, 'requests' | 'clock'>, tenantId: string, id: string) => {
  const byTxn = TXN.test(id);
  const txn = byTxn ? id : txnOf(id);
  const request = txn ? await deps.requests.get(txn) : undefined;
  if (!request || request.tenantId !== tenantId || (!byTxn && request.authReqId !== id))
    throw new NotFound('unknown auth_req_id or txn');
  return {
    txn: request.txn,
    state: requestState(request, deps.clock.now()),
    client_id: request.clientId,
    sub: request.sub,
    scope: request.scope,
    ...(request.bindingMessage !== undefined ? { binding_message: request.bindingMessage } : {}),
    ...(request.acrValues !== undefined ? { acr_values: request.acrValues } : {}),
    delivery_mode: request.deliveryMode,
    interval: request.interval,
    created_at: seconds(request.createdAt),
    expires_at: seconds(request.expiresAt),
    ...(request.lastPolledAt !== undefined ? { last_polled_at: seconds(request.lastPolledAt) } : {}),
    ...(request.decidedAt !== undefined ? { decided_at: seconds(request.decidedAt) } : {}),
    ...(request.deliveryMode !== 'poll'
      ? {
          callback: {
            state: request.callback?.state ?? 'pending',
            attempts: (request.callback?.attempts ?? []).map((a) => ({
              attempt: a.attempt,
              at: seconds(a.at),
              ...(a.status !== undefined ? { status: a.status } : {}),
              ...(a.error !== undefined ? { error: a.error } : {}),
            })),
            ...(request.callback?.deliveredAt !== undefined
              ? { delivered_at: seconds(request.callback.deliveredAt) }
              : {}),
            ...(request.callback?.deadLetterReason !== undefined
              ? { dead_letter_reason: request.callback.deadLetterReason }
              : {}),
          },
        }
      : {}),
    ...(request.evidence
      ? {
          evidence: {
            device_id: request.evidence.deviceId,
            decision: request.evidence.decision,
            received_at: seconds(request.evidence.receivedAt),
            signed_proof: request.evidence.proof,
            // A passkey verified the user (a device's approval, or an approval link's: the device whose passkey).
            user_verified: request.evidence.userVerified,
            passkey_device_id: request.evidence.passkeyDeviceId,
            // An approval link's decision (docs/channels.md): the channel, the browser and its address.
            channel: request.evidence.channel,
            user_agent: request.evidence.userAgent,
            source_ip: request.evidence.sourceIp,
          },
        }
      : {}),
  };
};
