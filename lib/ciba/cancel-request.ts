import { InvalidGrant } from '../errors.ts';
import type { Client, Tenant } from '../model.ts';
import { isGrantCurrent } from '../oauth/grant-binding.ts';
import type { Deps } from '../ports.ts';
import { requestState } from './device-transactions.ts';
import { txnOf } from './poll-ciba-grant.ts';

/**
 * A client withdraws its own pending request (the operator console's Cancel: the operator stops waiting). The request
 * is denied, if it is still pending, so the user's devices stop showing it (their event stream names it; a polling
 * device drops it at its next look) and a later approval cannot land; the evidence says the client cancelled it. CIBA
 * has no cancellation endpoint for clients: this is the console's, acting as its client server side.
 *
 * Returns where the request stands afterwards: `cancelled`, or what it already was (approved, denied, ...).
 */
export const cancelRequest = async (
  deps: Pick<Deps, 'requests' | 'decisions' | 'clock' | 'logger'>,
  input: { tenant: Tenant; client: Client; authReqId: string },
): Promise<{ state: ReturnType<typeof requestState> | 'cancelled' }> => {
  const { tenant, client, authReqId } = input;
  const txn = txnOf(authReqId);
  const request = txn ? await deps.requests.get(txn) : undefined;
  // The same answer for "absent" and "not yours", as at the token endpoint.
  if (
    !request ||
    request.authReqId !== authReqId ||
    request.tenantId !== tenant.tenantId ||
    request.clientId !== client.clientId ||
    !isGrantCurrent(request, tenant, client)
  ) {
    throw new InvalidGrant('auth_req_id not found');
  }
  const now = deps.clock.now();
  if (request.status !== 'pending' || request.expiresAt <= now) return { state: requestState(request, now) };
  const denied = await deps.decisions.decide(
    request.txn,
    { tenantId: request.tenantId, sub: request.sub },
    'denied',
    { decision: 'deny', receivedAt: now, cancelledBy: 'client', reason: 'cancelled by the client' },
    now,
  );
  if (denied === 'conflict') {
    // Decided a moment ago, by the user: that stands.
    const current = await deps.requests.get(request.txn);
    return { state: current ? requestState(current, now) : 'expired' };
  }
  // Its `Request Decided` event follows from the stored denial (docs/events.md), as every decision's does.
  deps.logger.info('request cancelled by its client', { tenant: tenant.tenantId, txn: request.txn });
  return { state: 'cancelled' };
};
