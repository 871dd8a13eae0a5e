import { AccessDenied, InvalidUserCode, MissingUserCode, TemporarilyUnavailable } from '../errors.ts';
import {
  abuseLimits,
  type Client,
  type Tenant,
  USER_CODE_LOCKOUT_SECONDS,
  USER_CODE_MAX_FAILURES,
  USER_CODE_MAX_FAILURES_PER_USER,
  type User,
} from '../model.ts';
import type { Deps } from '../ports.ts';
import { consumeQuota, readQuota } from './fixed-window.ts';
import {
  admitTenantRequest,
  knownTenantRefusal,
  releaseTenantRequest,
  type TenantAdmissionOutcome,
} from './tenant-admission.ts';
import { verifyUserCode } from './user-code.ts';

/**
 * Capacity limits are the service refusing for now, not the user refusing: `503 temporarily_unavailable` with
 * Retry-After, which a client treats as "retry later" (access_denied would tell it the user said no, and 429 has
 * no OAuth error code). SECURITY.md explains the choice.
 */
const overCapacity = (what: string, retryAfterSeconds: number) =>
  new TemporarilyUnavailable(`${what}: retry later`, { headers: { 'Retry-After': String(retryAfterSeconds) } });

/**
 * Per-client and per-tenant budgets of backchannel requests a minute, and the cap on pending requests of a tenant,
 * counted in one conditional write beside the user's admission (lib/ciba/start-backchannel-authentication.ts); a
 * refusal here is the answer whatever the user's side found, so that a client cannot probe for users faster than its
 * budget either, and it gives back what the user's side counted (refundUserRequest).
 *
 * Counting pending requests exactly needs a counter decremented on every decision and expiry, which single-item writes
 * without transactions cannot keep right; instead the requests admitted in the last `backchannel_max_expires_in`
 * seconds are counted (every pending request is among them, as none lives longer), in two fixed windows of that
 * length: the current and the previous. The sum is an upper bound on what is pending, so the cap is never exceeded;
 * it may refuse early (decided requests still count until their window passes). A request refused before it is
 * created (unknown user, per-user limit, wrong user_code, a failed write) gives its pending slot back with `release`
 * (hardening rule 6: requests for unknown users must not fill the cap and refuse everyone); the per-minute budgets
 * keep counting it.
 */
export const admitClientRequest = async (
  deps: Pick<Deps, 'admission' | 'logger'>,
  input: { tenant: Tenant; client: Client; now: number },
): Promise<{ release: () => Promise<void> }> => {
  const { tenant, client, now } = input;
  const limits = abuseLimits(tenant.settings);
  const pendingWindowMs = tenant.settings.backchannelMaxExpiresIn * 1000;
  const outcome = await admitTenantRequest(deps.admission, {
    tenantId: tenant.tenantId,
    clientId: client.clientId,
    limits,
    pendingWindowMs,
    now,
  });
  if (outcome.admitted) {
    const { pendingWindow, shard } = outcome;
    return {
      release: () =>
        releaseTenantRequest(deps.admission, {
          tenantId: tenant.tenantId,
          shard,
          pendingWindow,
          pendingWindowMs,
        }).catch((error) =>
          // The slot then counts until its window passes, as a decided request does.
          deps.logger.warn('pending slot not given back', {
            tenant: tenant.tenantId,
            error: error instanceof Error ? error.name : String(error),
          }),
        ),
    };
  }
  throw refusalError(deps, input, outcome);
};

/**
 * Throws admitClientRequest's refusal at once when this process already knows it (every counter shard found full):
 * such a request spends nothing and touches nothing else, not even its user's budget (lib/ciba/tenant-admission.ts
 * `knownTenantRefusal`).
 */
export const refuseKnownClientRequest = (
  deps: Pick<Deps, 'logger'>,
  input: { tenant: Tenant; client: Client; now: number },
): void => {
  const { tenant, client, now } = input;
  const known = knownTenantRefusal({
    tenantId: tenant.tenantId,
    clientId: client.clientId,
    limits: abuseLimits(tenant.settings),
    now,
  });
  if (known) throw refusalError(deps, input, known);
};

const refusalError = (
  deps: Pick<Deps, 'logger'>,
  { tenant, client }: { tenant: Tenant; client: Client },
  outcome: Extract<TenantAdmissionOutcome, { admitted: false }>,
): Error => {
  const limits = abuseLimits(tenant.settings);
  // `refusal: capacity`: these answers are 503 by design; the Api5xxAlarm leaves them out (infra/service-alarms.ts).
  const fields = { tenant: tenant.tenantId, client: client.clientId, refusal: 'capacity' };
  switch (outcome.limit) {
    case 'client':
      deps.logger.warn('backchannel request refused: per-client rate limit', fields);
      return overCapacity(
        `this client may send at most ${limits.clientPerMinute} requests a minute`,
        outcome.retryAfterSeconds,
      );
    case 'pending':
      deps.logger.warn('backchannel request refused: pending requests cap', fields);
      return overCapacity('too many requests are pending in this tenant', outcome.retryAfterSeconds);
    default:
      deps.logger.warn(`backchannel request refused: per-tenant rate limit (${outcome.limit})`, fields);
      return overCapacity('the service is receiving too many requests', outcome.retryAfterSeconds);
  }
};

/**
 * CIBA §7.1 user_code, with attempt counters, so that a code of a few digits cannot be guessed (each wrong guess also
 * counts against the per-user request limit). Hardening rule 6, one client cannot lock out another: wrong codes are
 * counted per client and user, and USER_CODE_MAX_FAILURES of them lock that client out of that user's codes (403
 * access_denied, the OP refusing) while other clients go on; a backstop of USER_CODE_MAX_FAILURES_PER_USER across
 * clients locks every client out of the user. Wrong codes count in fixed windows of USER_CODE_LOCKOUT_SECONDS, the
 * current and the previous one together: never more than the maximum within any USER_CODE_LOCKOUT_SECONDS (one window
 * alone would let twice as many through around its end), and a lockout lasts one to two windows.
 */
export const checkUserCode = async (
  deps: Pick<Deps, 'quotas' | 'users' | 'keys' | 'logger'>,
  input: { tenant: Tenant; client: Client; user: User; presented: string | undefined; now: number },
): Promise<void> => {
  const { tenant, client, user, presented, now } = input;
  if (!client.backchannelUserCodeParameter) return;
  if (presented === undefined) throw new MissingUserCode('user_code is required for this client');
  const windowMs = USER_CODE_LOCKOUT_SECONDS * 1000;
  const counters = [
    { key: `UCC#${tenant.tenantId}#${client.clientId}#${user.sub}`, limit: USER_CODE_MAX_FAILURES },
    { key: `UC#${tenant.tenantId}#${user.sub}`, limit: USER_CODE_MAX_FAILURES_PER_USER },
  ] as const;
  const [byClient, byUser] = await Promise.all(
    counters.map(({ key }) => readQuota(deps.quotas, key, windowMs, now, { includePrevious: true })),
  );
  if (byClient! >= USER_CODE_MAX_FAILURES) {
    throw new AccessDenied('too many wrong user codes from this client for this user: try again later');
  }
  if (byUser! >= USER_CODE_MAX_FAILURES_PER_USER) {
    throw new AccessDenied('too many wrong user codes for this user: try again later');
  }
  if (await verifyUserCode(deps, user, presented)) return;
  await Promise.all(
    counters.map(({ key, limit }) => consumeQuota(deps.quotas, key, limit, windowMs, now, { includePrevious: true })),
  );
  deps.logger.warn('wrong user_code', { tenant: tenant.tenantId, client: client.clientId });
  throw new InvalidUserCode('user_code is not valid');
};
