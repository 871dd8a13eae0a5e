import {
  AccessDenied,
  AuthorizationPending,
  ExpiredToken,
  InvalidGrant,
  InvalidRequest,
  SlowDown,
  UnauthorizedClient,
} from '../errors.ts';
import { publishEvents, requestExpiredEvent, tokensIssuedEvent } from '../events.ts';
import { CIBA_GRANT_TYPE } from '../model.ts';
import { isGrantCurrent } from '../oauth/grant-binding.ts';
import { issueRefreshToken, wantsRefreshToken } from '../oauth/refresh-tokens.ts';
import { accessGrantOf, type GrantRequest, mintTokens, type TokenResponse } from '../oauth/tokens.ts';
import type { Deps } from '../ports.ts';

/** CIBA §11: slow_down raises the interval by 5 s for this and every later poll. */
export const SLOW_DOWN_STEP_SECONDS = 5;
/** Network jitter: a poll this much early still counts as on time. */
const POLL_GRACE_MS = 250;

/** The storage key is the part before the dot; the rest is the 160-bit secret. */
export const txnOf = (authReqId: string): string | undefined => {
  const match = /^([A-Za-z0-9_-]{22})\.[A-Za-z0-9_-]{27}$/.exec(authReqId);
  return match?.[1];
};

/** Attempts at putting back a redemption whose tokens could not be minted (the store may be throttling too). */
const RESTORE_ATTEMPTS = 4;

const restoreGrant = async (deps: Pick<Deps, 'polls' | 'logger'>, txn: string): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.polls.restoreGrant(txn);
      return;
    } catch (error) {
      if (attempt >= RESTORE_ATTEMPTS) {
        deps.logger.error('approved grant could not be restored', { txn, error });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
    }
  }
};

/**
 * CIBA §10.1/§11: one poll with `grant_type=urn:openid:params:grant-type:ciba`. The poll is recorded and,
 * when the request is approved and unredeemed, redeemed in the same conditional write, so concurrent
 * polls yield exactly one token response.
 */
export const pollCibaGrant = async (
  deps: Pick<Deps, 'polls' | 'refreshTokens' | 'keys' | 'events' | 'clock' | 'logger'>,
  input: GrantRequest,
): Promise<TokenResponse> => {
  const { tenant, client, form } = input;
  if (!client.grantTypes.includes(CIBA_GRANT_TYPE)) {
    throw new UnauthorizedClient('the client is not registered for the CIBA grant');
  }
  if (client.backchannelTokenDeliveryMode === 'push') {
    throw new UnauthorizedClient('push mode clients receive tokens at their notification endpoint');
  }
  const authReqId = form.auth_req_id;
  if (authReqId === undefined) throw new InvalidRequest('auth_req_id is required');
  const txn = txnOf(authReqId);
  // The same answer for malformed, unknown, another client's and another tenant's auth_req_id.
  const notFound = () => new InvalidGrant('auth_req_id is unknown or was not issued to this client');
  if (!txn) throw notFound();

  const now = deps.clock.now();
  const before = await deps.polls.poll(txn, authReqId, { tenantId: tenant.tenantId, clientId: client.clientId }, now);
  // Hardening rule 7: a request of a deleted client or tenant is dead, also for one registered again under its id.
  if (!before || before.tenantId !== tenant.tenantId || !isGrantCurrent(before, tenant, client)) throw notFound();

  if (before.grantPending) {
    if (before.expiresAt <= now) throw new ExpiredToken('the auth_req_id has expired');
    try {
      // The refresh token exists before the ID token that carries its rt_hash (CIBA §10.3.1).
      const refreshToken = wantsRefreshToken(client, before.scope)
        ? await issueRefreshToken(deps, { tenant, clientId: client.clientId, now, grant: accessGrantOf(before, now) })
        : undefined;
      const tokens = await mintTokens(deps.keys, {
        issuer: input.issuer,
        tenant,
        client,
        request: before,
        now,
        ...(input.certificateThumbprint ? { certificateThumbprint: input.certificateThumbprint } : {}),
        ...(refreshToken ? { refreshToken } : {}),
      });
      await publishEvents(deps, tokensIssuedEvent(before));
      return tokens;
    } catch (error) {
      // No approved decision is lost: the next poll can redeem it.
      await restoreGrant(deps, txn);
      throw error;
    }
  }
  if (before.status === 'approved') throw new InvalidGrant('the auth_req_id has already been redeemed');
  if (before.status === 'denied') throw new AccessDenied('the end-user denied the request').withStatus(400);
  if (before.status === 'reported') {
    throw new AccessDenied('the end-user denied the request and reported that they did not ask for it').withStatus(400);
  }
  if (before.expiresAt <= now) {
    // Announced once: by the first poll that sees the expiry.
    if (before.lastPolledAt === undefined || before.lastPolledAt < before.expiresAt) {
      await publishEvents(deps, requestExpiredEvent(before));
    }
    throw new ExpiredToken('the auth_req_id has expired');
  }

  if (before.lastPolledAt !== undefined && now - before.lastPolledAt + POLL_GRACE_MS < before.interval * 1000) {
    const interval = before.interval + SLOW_DOWN_STEP_SECONDS;
    await deps.polls.slowDown(txn, SLOW_DOWN_STEP_SECONDS);
    throw new SlowDown(`polling too fast: wait at least ${interval} seconds between requests`, {
      headers: { 'Retry-After': String(interval) },
    });
  }
  throw new AuthorizationPending('the end-user has not yet decided');
};
