import { AccessDenied, NotFound } from '../errors.ts';
import { epochSeconds, publishEvents, requestReportedEvent } from '../events.ts';
import type { AuthRequest, Client, Tenant, TenantSettings, User } from '../model.ts';
import type { UserAdmissionGate } from '../persistence.ts';
import type { Deps } from '../ports.ts';
import { reachingClaims, tenantChannels } from './channels.ts';

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
 * (lib/ciba/user-rate-window.ts admitUserRequest: every rate-window write requires `gateHolds`), so a refused request
 * spends nothing: no budget, no pending slot (hardening rule 6).
 */

/** A gated admission refused: the client is shielded until `until` (epoch ms), or the user has no device. */
export type UserAdmissionRefusal = { refused: 'shielded'; until: number } | { refused: 'unreachable' };

export const DEFAULT_REPORT_SHIELD_SECONDS = 3600;

export const reportShieldSeconds = (settings: TenantSettings): number =>
  settings.reportShieldSeconds ?? DEFAULT_REPORT_SHIELD_SECONDS;

/** What admitting a request of `client` requires of the user: a device, or a contact of a link channel of the tenant. */
export const admissionGate = (client: Client, settings: TenantSettings): Omit<UserAdmissionGate, 'now'> => {
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
export class AdmissionRefused extends AccessDenied {
  constructor(readonly refusal: UserAdmissionRefusal) {
    super(
      refusal.refused === 'shielded'
        ? `the user reported an unexpected authentication request from this client; its requests for this user are refused until ${new Date(refusal.until).toISOString()}`
        : 'the user has no authentication device or channel',
      { status: 403 },
    );
  }
}

export const gateRefusalError = (refusal: UserAdmissionRefusal): AdmissionRefused => new AdmissionRefused(refusal);

/** When the user's shield against `clientId` ends, if one runs at `now`. */
export const shieldUntil = (user: Pick<User, 'reportShields'>, clientId: string, now: number): number | undefined => {
  const shields = user.reportShields;
  if (!shields || !Object.hasOwn(shields, clientId)) return undefined;
  const until = shields[clientId];
  return typeof until === 'number' && until > now ? until : undefined;
};

/**
 * Whether the user meets the gate: the client is not shielded at `now`, and the user has a device when one is
 * required (or a link channel's claim). Every write of a gated admission requires it (the DynamoDB adapter states it as a condition).
 */
export const gateHolds = (user: Pick<User, 'reportShields' | 'devices' | 'claims'>, gate: UserAdmissionGate): boolean =>
  shieldUntil(user, gate.clientId, gate.now) === undefined && (!gate.requireDevice || reachable(user, gate));

/** Whether the gate finds the user reachable: by a device (when the tenant uses them), or by a link channel's claim. */
const reachable = (user: Pick<User, 'devices' | 'claims'>, gate: UserAdmissionGate): boolean =>
  (gate.devicesReach !== false && user.devices.length > 0) ||
  (gate.orClaims ?? []).some((claim) => user.claims[claim] !== undefined);

/**
 * Why a gated admission was refused, from the user read after every write lost; undefined when the gate holds (the
 * per-user limit refused it). A shield is named before a missing device: it is what the client must hear.
 */
export const gateRefusal = (
  user: Pick<User, 'reportShields' | 'devices' | 'claims'>,
  gate: UserAdmissionGate,
): UserAdmissionRefusal | undefined => {
  const until = shieldUntil(user, gate.clientId, gate.now);
  if (until !== undefined) return { refused: 'shielded', until };
  if (gate.requireDevice && !reachable(user, gate)) return { refused: 'unreachable' };
  return undefined;
};

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
  deps: Pick<Deps, 'shields' | 'events' | 'logger'>,
  input: { tenant: Tenant | undefined; request: AuthRequest; reportedAt: number },
): Promise<void> => {
  const { request, reportedAt } = input;
  const seconds = input.tenant ? reportShieldSeconds(input.tenant.settings) : DEFAULT_REPORT_SHIELD_SECONDS;
  const until = reportedAt + seconds * 1000;
  await deps.shields.shield(request.tenantId, request.sub, request.clientId, until);
  deps.logger.warn('request reported by the user: client shielded', {
    tenant: request.tenantId,
    txn: request.txn,
    client: request.clientId,
    shield_seconds: seconds,
  });
  await publishEvents(
    deps,
    requestReportedEvent({ ...request, deviceId: request.evidence?.deviceId }, reportedAt, until),
  );
};

/** DELETE /admin/tenants/{tenant}/users/{sub}/shields/{client_id}: lifts a running shield; 404 when none runs. */
export const liftReportShield = async (
  deps: Pick<Deps, 'shields' | 'clock' | 'logger'>,
  input: { tenantId: string; user: User; clientId: string },
): Promise<void> => {
  const { tenantId, user, clientId } = input;
  const running = activeShields(user, deps.clock.now()).some((s) => s.client_id === clientId);
  if (!running || !(await deps.shields.lift(tenantId, user.sub, clientId))) {
    throw new NotFound('no report shield against this client');
  }
  deps.logger.info('report shield lifted', { tenant: tenantId, client: clientId });
};
