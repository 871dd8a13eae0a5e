import QRCode from 'qrcode';
import * as z from 'zod';
import { ticketKey } from '../ciba/enrollment-ticket.ts';
import { activeShields } from '../ciba/report-shield.ts';
import { userCodeMac } from '../ciba/user-code.ts';
import { randomToken } from '../crypto.ts';
import { displayString } from '../display-string.ts';
import { Conflict, InvalidRequest, NotFound } from '../errors.ts';
import type { User, UserClaims } from '../model.ts';
import type { Deps } from '../ports.ts';
import { parseWith } from '../validation.ts';
import { getTenantOrThrow } from './tenants.ts';

export const SUB_PATTERN = /^[A-Za-z0-9._~@+|:-]{1,128}$/;
export const ENROLLMENT_TICKET_TTL_SECONDS = 600;

/** Names and other text claims: shown by passkey prompts and the console, written to logs (hardening rules 5, 10). */
const text = displayString(256);
/** PUT /admin/tenants/{t}/users/{sub}: OIDC standard claims (§5.1) and an optional CIBA user_code. */
export const UserPatch = z.strictObject({
  name: text.optional(),
  given_name: text.optional(),
  family_name: text.optional(),
  middle_name: text.optional(),
  nickname: text.optional(),
  preferred_username: text.optional(),
  profile: z.url().max(2048).optional(),
  picture: z.url().max(2048).optional(),
  website: z.url().max(2048).optional(),
  email: z.email().max(254).optional(),
  email_verified: z.boolean().optional(),
  gender: text.optional(),
  birthdate: z.iso.date().optional(),
  zoneinfo: text.optional(),
  locale: z
    .string()
    .regex(/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/, 'locale must be a BCP47 tag')
    .optional(),
  phone_number: z
    .string()
    .regex(/^\+[1-9]\d{1,14}$/, 'phone_number must be E.164, e.g. +15555550100')
    .optional(),
  phone_number_verified: z.boolean().optional(),
  address: z.record(z.string(), z.string().max(512)).optional(),
  user_code: z.string().min(4).max(64).nullable().optional(),
});

/** A user as the admin API shows them; `report_shields`: the clients the user reported, still shielded at `now`. */
export const userToWire = (user: User, now: number) => ({
  sub: user.sub,
  ...user.claims,
  has_user_code: user.userCodeMac !== undefined || user.userCodeHash !== undefined,
  devices: user.devices.length,
  report_shields: activeShields(user, now),
});

export const checkSub = (sub: string): string => {
  if (!SUB_PATTERN.test(sub)) throw new InvalidRequest('sub must be 1-128 characters of A-Z a-z 0-9 . _ ~ @ + | : -');
  return sub;
};

/** Creates (201) or merges into (200) a user; `user_code: null` removes the code. */
export const putUser = async (
  deps: Pick<Deps, 'users' | 'clock' | 'keys'>,
  tenantId: string,
  sub: string,
  body: unknown,
) => {
  checkSub(sub);
  const { user_code: userCode, ...claims } = parseWith(UserPatch, body);
  const current = await deps.users.get(tenantId, sub);
  const now = deps.clock.now();
  const user: User = {
    tenantId,
    sub,
    claims: { ...(current?.claims ?? {}), ...(claims as UserClaims), updated_at: Math.floor(now / 1000) },
    devices: current?.devices ?? [],
    createdAt: current?.createdAt ?? now,
    updatedAt: Math.max(now, (current?.updatedAt ?? 0) + 1),
  };
  // Hardening rule 12: a new code is kept as an HMAC under the tenant's key; an unchanged one as it was.
  if (userCode === undefined) {
    if (current?.userCodeMac !== undefined) user.userCodeMac = current.userCodeMac;
    if (current?.userCodeHash !== undefined) user.userCodeHash = current.userCodeHash;
  } else if (userCode !== null) {
    user.userCodeMac = await userCodeMac(deps.keys, tenantId, sub, userCode);
  }
  if ((await deps.users.save(user, current ? current.updatedAt : null)) !== 'ok') {
    throw new Conflict('the user was changed concurrently; retry');
  }
  return { created: !current, user };
};

export const getUserOrThrow = async (deps: Pick<Deps, 'users'>, tenantId: string, sub: string): Promise<User> => {
  const user = await deps.users.get(tenantId, checkSub(sub));
  if (!user) throw new NotFound('unknown user');
  return user;
};

/** A one-time enrollment ticket; only its hash is stored. The URI opens the web authenticator with it. */
export const issueEnrollmentTicket = async (
  deps: Pick<Deps, 'tenants' | 'users' | 'tickets' | 'clock'>,
  tenantId: string,
  sub: string,
  issuer: string,
) => {
  // The tenant's generation scopes the ticket (hardening rule 7).
  const [tenant] = await Promise.all([getTenantOrThrow(deps, tenantId), getUserOrThrow(deps, tenantId, sub)]);
  const ticket = randomToken(24);
  await deps.tickets.create(
    ticketKey(tenant, ticket),
    { tenantId, sub },
    deps.clock.now() + ENROLLMENT_TICKET_TTL_SECONDS * 1000,
  );
  const enrollmentUri = `${issuer}/authenticator#ticket=${encodeURIComponent(ticket)}`;
  return {
    ticket,
    expires_in: ENROLLMENT_TICKET_TTL_SECONDS,
    enrollment_uri: enrollmentUri,
    // The same URI as a QR code (SVG) to scan with the phone that becomes the authenticator.
    qr_svg: await QRCode.toString(enrollmentUri, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' }),
  };
};

export const listDevices = async (deps: Pick<Deps, 'users'>, tenantId: string, sub: string) => {
  const user = await getUserOrThrow(deps, tenantId, sub);
  return {
    devices: user.devices.map((d) => ({
      device_id: d.deviceId,
      name: d.name,
      created_at: Math.floor(d.createdAt / 1000),
      push: d.push ? { type: d.push.type, disabled: d.push.disabled === true } : null,
    })),
  };
};

export const revokeDevice = async (deps: Pick<Deps, 'devices'>, tenantId: string, sub: string, deviceId: string) => {
  if (!(await deps.devices.delete(tenantId, checkSub(sub), deviceId))) throw new NotFound('unknown device');
};

/**
 * DELETE /admin/tenants/{tenant}/users/{sub} (hardening rule 7, erasure requests): the user, their devices (and with
 * them their passkeys) and the requests waiting for their decision; a client polling one then gets invalid_grant.
 * The user first, so that no new request for them can be admitted meanwhile.
 */
export const deleteUser = async (
  deps: Pick<Deps, 'users' | 'devices' | 'requests' | 'clock' | 'logger'>,
  tenantId: string,
  sub: string,
) => {
  const user = await deps.users.delete(tenantId, checkSub(sub));
  if (!user) throw new NotFound('unknown user');
  // From now on no device can be listed on the user (enrollment removes a device it could not list), so the devices
  // of the deleted record are all there are.
  await deps.devices.purge(
    tenantId,
    user.devices.map((d) => d.deviceId),
  );
  const pending = await deps.requests.listPending(tenantId, sub, deps.clock.now());
  await Promise.all(pending.map((request) => deps.requests.delete(request.txn)));
  deps.logger.info('user deleted', { tenant: tenantId, pending_requests: pending.length });
};
