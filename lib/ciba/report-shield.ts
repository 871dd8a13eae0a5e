import type { AuthRequest, Client, Tenant, TenantSettings, User } from '../model.ts';
import { NotFound, OAuthError } from '../oauth/errors.ts';
import type { Deps, UserAdmissionGate, UserAdmissionRefusal } from '../ports.ts';
import { reachingClaims, tenantChannels } from './channels.ts';
import { EVENT, epochSeconds } from './events.ts';

/**
 * "That was not me." A user who reports a request (decision `report` on the device) denies it and shields
 * themselves from the client that sent it: for the tenant's `report_shield_seconds` (3600 by default) that client's
 * bc-authorize for the user answers 403 access_denied, and no device is notified. Other clients are not affected (one
 * client cannot lock out another), and an operator can lift a shield early.
 *
 * Unreachable users are refused the same way: a request for a user without an enrolled device and without the
 * `email` or `phone_number` of a link channel the tenant allows (lib/ciba/channels.ts) could only expire, so it is
 * refused at once.
 *
 * Both checks are part of the conditional write that admits the request against the user's per-minute budget
 * (Directory.admitUserRequest), so a refused request spends nothing: no budget, no pending slot (hardening rule 6).
 */

export const DEFAULT_REPORT_SHIELD_SECONDS = 3600;

export const reportShieldSeconds = (settings: TenantSettings): number =>
  settings.reportShieldSeconds ?? DEFAULT_REPORT_SHIELD_SECONDS;

/** What admitting a request of `client` requires of the user: a device, or a contact of a link channel of the tenant. */
export const admissionGate = (client: Client, settings: TenantSettings): UserAdmissionGate => {
  const orClaims = reachingClaims(settings);
  return {
    clientId: client.clientId,
    requireDevice: true,
    ...(orClaims.length > 0 ? { orClaims } : {}),
    ...(tenantChannels(settings).includes('device') ? {} : { devicesReach: false }),
  };
};

/**
 * A gated refusal: 403 access_denied on the wire, saying why in its description; `refusal` says it to the service's
 * own callers (the operator console words it for the operator), never on the wire (CIBA Core §13: error and
 * error_description only).
 */
export class AdmissionRefused extends OAuthError {
  constructor(readonly refusal: UserAdmissionRefusal) {
    super(
      'access_denied',
      refusal.refused === 'shielded'
        ? `the user reported an unexpected authentication request from this client; its requests for this user are refused until ${new Date(refusal.until).toISOString()}`
        : 'the user has no authentication device or channel',
      403,
    );
  }
}

export const gateRefusalError = (refusal: UserAdmissionRefusal): AdmissionRefused => new AdmissionRefused(refusal);

/** The shields of a user still running at `now`, as the admin API lists them. */
export const activeShields = (user: User, now: number): { client_id: string; until: number }[] =>
  Object.entries(user.reportShields ?? {})
    .filter(([, until]) => typeof until === 'number' && until > now)
    .map(([clientId, until]) => ({ client_id: clientId, until: epochSeconds(until) }))
    .sort((a, b) => a.client_id.localeCompare(b.client_id));

/**
 * After a report was recorded: shields the user from the client from the time of the report (a repeated report
 * writes the same shield, never a longer one) and puts `CIBA Request Reported` on the bus. The shield write
 * propagates its failure (the device retries the same decision, which comes here again); the event's is logged.
 */
export const shieldAfterReport = async (
  deps: Pick<Deps, 'store' | 'events' | 'logger'>,
  input: { tenant: Tenant | undefined; request: AuthRequest; reportedAt: number },
): Promise<void> => {
  const { request, reportedAt } = input;
  const seconds = input.tenant ? reportShieldSeconds(input.tenant.settings) : DEFAULT_REPORT_SHIELD_SECONDS;
  const until = reportedAt + seconds * 1000;
  await deps.store.shieldClient(request.tenantId, request.sub, request.clientId, until);
  deps.logger.warn('request reported by the user: client shielded', {
    tenant: request.tenantId,
    txn: request.txn,
    client: request.clientId,
    shield_seconds: seconds,
  });
  await deps.events
    .publish([
      {
        type: EVENT.requestReported,
        tenantId: request.tenantId,
        detail: {
          txn: request.txn,
          client_id: request.clientId,
          sub: request.sub,
          ...(request.evidence?.deviceId !== undefined ? { device_id: request.evidence.deviceId } : {}),
          reported_at: epochSeconds(reportedAt),
          shield_until: epochSeconds(until),
        },
      },
    ])
    .catch((error: unknown) => deps.logger.error('event publish failed', { txn: request.txn, error }));
};

/** DELETE /admin/tenants/{tenant}/users/{sub}/shields/{client_id}: lifts a running shield; 404 when none runs. */
export const liftReportShield = async (
  deps: Pick<Deps, 'store' | 'clock' | 'logger'>,
  input: { tenantId: string; user: User; clientId: string },
): Promise<void> => {
  const { tenantId, user, clientId } = input;
  const running = activeShields(user, deps.clock.now()).some((s) => s.client_id === clientId);
  if (!running || !(await deps.store.liftShield(tenantId, user.sub, clientId))) {
    throw NotFound('no report shield against this client');
  }
  deps.logger.info('report shield lifted', { tenant: tenantId, client: clientId });
};
