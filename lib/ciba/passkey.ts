import { createHash, randomBytes } from 'node:crypto';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { sha256 } from '../crypto.ts';
import { Conflict, NotFound, UserVerificationFailed, UserVerificationRequired } from '../errors.ts';
import { passkeyChangedEvent, publishEvents } from '../events.ts';
import type { Device, DevicePasskey, DeviceTransaction, Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';

/**
 * The WebAuthn verifier, loaded on first use: only tenants with passkeys need it, and the device function's cold
 * start should not pay for it (the bundler keeps it in the same file but evaluates it lazily).
 */
const webauthn = () => import('@simplewebauthn/server');

/** How long a registration challenge may be answered. */
export const PASSKEY_CHALLENGE_TTL_SECONDS = 300;
const WEBAUTHN_TIMEOUT_MS = 120_000;

/** The relying party as the browser sees it: the public origin, and its host name as the RP ID. */
export interface RelyingParty {
  origin: string;
  rpId: string;
}

export const relyingPartyOf = (baseUrl: string): RelyingParty => {
  const url = new URL(baseUrl);
  return { origin: url.origin, rpId: url.hostname };
};

export const passkeyRequired = (tenant: Tenant): boolean => tenant.settings.userVerification === 'passkey';

/**
 * The single-use record of an issued registration challenge. It lives with the enrollment tickets (one-time,
 * expiring, owner-bound items); the NUL prefix keeps the key space apart from `ticketKey`, whose input always
 * starts with a tenant id.
 */
const challengeKey = (tenantId: string, deviceId: string, challenge: string) =>
  sha256(`\u0000passkey-registration:${tenantId}:${deviceId}:${challenge}`);

/**
 * The assertion challenge of an approval: derived from the tenant, the transaction and the device, so it needs no
 * storage, exists only once the request does, and an assertion made for one transaction never fits another.
 */
export const approvalChallenge = (tenantId: string, txn: string, deviceId: string): string =>
  createHash('sha256').update(`ciba-service approval\n${tenantId}\n${txn}\n${deviceId}`).digest('base64url');

/** The device's passkey as `allowCredentials` of `navigator.credentials.get`. */
const currentCredential = (passkey: DevicePasskey) => [
  {
    id: passkey.credentialId,
    type: 'public-key' as const,
    ...(passkey.transports ? { transports: passkey.transports } : {}),
  },
];

/** The `navigator.credentials.get` options a device needs to approve `txn` (added to the consent details). */
export const approvalRequestOptions = (
  device: Device,
  txn: string,
  rp: RelyingParty,
): NonNullable<DeviceTransaction['webauthn']> => ({
  challenge: approvalChallenge(device.tenantId, txn, device.deviceId),
  rpId: rp.rpId,
  allowCredentials: device.passkey ? currentCredential(device.passkey) : [],
  userVerification: 'required',
  timeout: WEBAUTHN_TIMEOUT_MS,
});

/**
 * Step 1 of registering the device's passkey: creation options with a fresh, stored, single-use challenge. When the
 * device already has a passkey, `assertion_options` asks it for a user-verified assertion over the same challenge:
 * replacing a passkey needs the old one (hardening rule 1).
 */
export const passkeyRegistrationOptions = async (
  deps: Pick<Deps, 'users' | 'tickets' | 'clock'>,
  input: { tenant: Tenant; device: Device; rp: RelyingParty },
) => {
  const { tenant, device, rp } = input;
  const user = await deps.users.get(tenant.tenantId, device.sub);
  const { generateRegistrationOptions } = await webauthn();
  const options = await generateRegistrationOptions({
    rpName: tenant.settings.displayName || tenant.tenantId,
    rpID: rp.rpId,
    userName: user?.claims.email ?? device.sub,
    userDisplayName: user?.claims.name ?? device.sub,
    // A stable, opaque user handle: no personal data in the authenticator.
    userID: new Uint8Array(createHash('sha256').update(`${tenant.tenantId}\n${device.sub}`).digest()),
    challenge: new Uint8Array(randomBytes(32)),
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    excludeCredentials: device.passkey ? [{ id: device.passkey.credentialId }] : [],
    timeout: WEBAUTHN_TIMEOUT_MS,
  });
  // options.challenge is the base64url form the browser echoes in clientDataJSON.
  await deps.tickets.create(
    challengeKey(tenant.tenantId, device.deviceId, options.challenge),
    { tenantId: tenant.tenantId, sub: device.sub },
    deps.clock.now() + PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
  );
  if (!device.passkey) return options;
  return {
    ...options,
    assertion_options: {
      challenge: options.challenge,
      rpId: rp.rpId,
      allowCredentials: currentCredential(device.passkey),
      userVerification: 'required' as const,
      timeout: WEBAUTHN_TIMEOUT_MS,
    },
  };
};

const challengeOf = (clientDataJSON: unknown): string | undefined => {
  if (typeof clientDataJSON !== 'string') return undefined;
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof data.challenge === 'string' ? data.challenge : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Step 2: verifies the attestation against the stored challenge (used once) and keeps the credential. A device that
 * already has a passkey must send, in the same request, a user-verified assertion by that passkey over the same
 * challenge (hardening rule 1): the device key alone cannot swap the user's passkey. Without it, or when it does
 * not verify, the answer is 403 user_verification_required and nothing changes. Publishes `Device Passkey Changed`.
 */
export const registerPasskey = async (
  deps: Pick<Deps, 'tickets' | 'passkeys' | 'devices' | 'clock' | 'logger' | 'events'>,
  input: { tenant: Tenant; device: Device; rp: RelyingParty; response: Record<string, unknown>; assertion?: unknown },
): Promise<{ credential_id: string }> => {
  const { tenant, device, rp } = input;
  const response = input.response as unknown as RegistrationResponseJSON;
  const challenge = challengeOf(response.response?.clientDataJSON);
  const current = device.passkey;
  if (current) {
    if (typeof input.assertion !== 'object' || input.assertion === null) {
      throw ReplacementRefused('this device has a passkey: replacing it needs an assertion by it (assertion)');
    }
    if (
      !challenge ||
      !(await assertionVerifies(deps, { device, passkey: current, rp, challenge, assertion: input.assertion }))
    ) {
      throw ReplacementRefused("the current passkey's assertion over the registration challenge did not verify");
    }
  }
  const owner =
    challenge &&
    (await deps.tickets.consume(challengeKey(tenant.tenantId, device.deviceId, challenge), deps.clock.now()));
  if (!owner || owner.tenantId !== tenant.tenantId || owner.sub !== device.sub) {
    throw new UserVerificationFailed('the registration challenge is unknown, used or expired');
  }
  const { verifyRegistrationResponse } = await webauthn();
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpId,
      requireUserVerification: true,
    });
  } catch (error) {
    deps.logger.info('passkey registration refused', { tenant: tenant.tenantId, device_id: device.deviceId, error });
    throw new UserVerificationFailed('the passkey registration did not verify');
  }
  if (!verification.verified || !verification.registrationInfo) {
    throw new UserVerificationFailed('the passkey registration did not verify');
  }
  const { credential } = verification.registrationInfo;
  const passkey: DevicePasskey = {
    credentialId: credential.id,
    publicKey: Buffer.from(credential.publicKey).toString('base64url'),
    counter: credential.counter,
    ...(credential.transports ? { transports: credential.transports } : {}),
    createdAt: deps.clock.now(),
  };
  // Conditional on the passkey the checks above saw: a concurrent registration or reset wins, this one is refused.
  const written = await deps.passkeys.set(tenant.tenantId, device.deviceId, passkey, current?.credentialId ?? null);
  if (written !== 'ok') {
    const now = await deps.devices.get(tenant.tenantId, device.deviceId);
    if (!now) throw new Conflict('the device was removed');
    throw ReplacementRefused('the passkey of this device changed meanwhile: verify with the current one');
  }
  deps.logger.info(current ? 'passkey replaced' : 'passkey registered', {
    tenant: tenant.tenantId,
    device_id: device.deviceId,
  });
  await publishPasskeyChange(deps, {
    tenantId: tenant.tenantId,
    sub: device.sub,
    deviceId: device.deviceId,
    change: current ? 'replaced' : 'registered',
    credentialId: passkey.credentialId,
  });
  return { credential_id: passkey.credentialId };
};

/** Hardening rule 1: a passkey replacement without a verified assertion by the current passkey is 403. */
const ReplacementRefused = (description: string) => new UserVerificationRequired(description).withStatus(403);

/**
 * Operators reset a lost passkey (`DELETE .../devices/{device_id}/passkey`): the device registers a new one with its
 * key alone afterwards. 404 when the device is unknown or has no passkey. Publishes `Device Passkey Changed`.
 */
export const removePasskey = async (
  deps: Pick<Deps, 'passkeys' | 'clock' | 'logger' | 'events'>,
  input: { tenantId: string; sub: string; deviceId: string },
): Promise<void> => {
  const removed = await deps.passkeys.remove(input.tenantId, input.sub, input.deviceId);
  if (!removed) throw new NotFound('unknown device, or the device has no passkey');
  deps.logger.info('passkey removed by an operator', { tenant: input.tenantId, device_id: input.deviceId });
  await publishPasskeyChange(deps, { ...input, change: 'removed', credentialId: removed.credentialId });
};

/** `Device Passkey Changed` on the tenant's bus (docs/events.md); a failed publish is logged, the change stands. */
const publishPasskeyChange = async (
  deps: Pick<Deps, 'events' | 'clock' | 'logger'>,
  input: {
    tenantId: string;
    sub: string;
    deviceId: string;
    change: 'registered' | 'replaced' | 'removed';
    credentialId: string;
  },
): Promise<void> => {
  await publishEvents(deps, passkeyChangedEvent({ ...input, changedAt: deps.clock.now() }));
};

/** Whether `assertion` is a user-verified assertion by `passkey` over `challenge`, at this origin. */
const assertionVerifies = async (
  deps: Pick<Deps, 'logger'>,
  input: { device: Device; passkey: DevicePasskey; rp: RelyingParty; challenge: string; assertion: object },
): Promise<{ newCounter: number } | undefined> => {
  const { device, passkey, rp } = input;
  const { verifyAuthenticationResponse } = await webauthn();
  try {
    const verified = await verifyAuthenticationResponse({
      response: input.assertion as AuthenticationResponseJSON,
      expectedChallenge: input.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpId,
      credential: {
        id: passkey.credentialId,
        publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')),
        counter: passkey.counter,
        ...(passkey.transports
          ? { transports: passkey.transports as ('internal' | 'hybrid' | 'usb' | 'nfc' | 'ble')[] }
          : {}),
      },
      requireUserVerification: true,
    });
    if (!verified.verified || !verified.authenticationInfo.userVerified) return undefined;
    return { newCounter: verified.authenticationInfo.newCounter };
  } catch (error) {
    deps.logger.info('passkey assertion refused', { tenant: device.tenantId, device_id: device.deviceId, error });
    return undefined;
  }
};

/**
 * Verifies a user-verified assertion by the device's passkey over `challenge` and moves its signature counter on.
 * The one verification of an approval's passkey, whether the device or an approval link carries it.
 */
const verifyPasskeyAssertion = async (
  deps: Pick<Deps, 'passkeys' | 'logger'>,
  input: { device: Device & { passkey: DevicePasskey }; challenge: string; rp: RelyingParty; assertion: object },
): Promise<void> => {
  const { device } = input;
  const verified = await assertionVerifies(deps, { ...input, passkey: device.passkey });
  if (!verified) throw new UserVerificationFailed('the passkey assertion did not verify the user');
  if (verified.newCounter !== device.passkey.counter) {
    // Conditional on the same passkey: a counter update never brings back a passkey replaced or removed meanwhile.
    await deps.passkeys.set(
      device.tenantId,
      device.deviceId,
      { ...device.passkey, counter: verified.newCounter },
      device.passkey.credentialId,
    );
  }
};

/**
 * Verifies the WebAuthn assertion that must accompany an approval on a tenant with user verification: made by the
 * device's passkey, over this transaction's challenge, at this origin, with the UV flag. Updates the counter.
 * Returns the assertion to keep as evidence.
 */
export const verifyApprovalAssertion = async (
  deps: Pick<Deps, 'passkeys' | 'logger'>,
  input: { device: Device; txn: string; rp: RelyingParty; assertion: unknown },
): Promise<string> => {
  const { device, txn, rp } = input;
  if (!device.passkey) throw new UserVerificationRequired('register a passkey on this device before approving');
  if (typeof input.assertion !== 'object' || input.assertion === null) {
    throw new UserVerificationRequired('approving needs a passkey assertion (webauthn)');
  }
  await verifyPasskeyAssertion(deps, {
    device: { ...device, passkey: device.passkey },
    challenge: approvalChallenge(device.tenantId, txn, device.deviceId),
    rp,
    assertion: input.assertion,
  });
  return JSON.stringify(input.assertion);
};

/**
 * The assertion challenge of an approval through a one-time link (docs/channels.md): derived from the tenant, the
 * transaction and the link (its secret's hash), so it needs no storage and an assertion made for one link, one
 * request or a device's approval never fits another.
 */
export const linkApprovalChallenge = (tenantId: string, txn: string, linkHash: string): string =>
  createHash('sha256').update(`ciba-service link approval\n${tenantId}\n${txn}\n${linkHash}`).digest('base64url');

/** The user's devices that have a passkey: the passkeys an approval link may be confirmed with. */
export const userPasskeyDevices = async (
  deps: Pick<Deps, 'users' | 'devices'>,
  tenantId: string,
  sub: string,
): Promise<(Device & { passkey: DevicePasskey })[]> => {
  const user = await deps.users.get(tenantId, sub);
  const devices = await Promise.all((user?.devices ?? []).map((d) => deps.devices.get(tenantId, d.deviceId)));
  return devices.filter(
    (d): d is Device & { passkey: DevicePasskey } => d !== undefined && d.sub === sub && d.passkey !== undefined,
  );
};

/** The `navigator.credentials.get` options of an approval link: any of the user's passkeys, over the link's challenge. */
export const linkApprovalRequestOptions = (
  devices: readonly { passkey: DevicePasskey }[],
  challenge: string,
  rp: RelyingParty,
): NonNullable<DeviceTransaction['webauthn']> => ({
  challenge,
  rpId: rp.rpId,
  allowCredentials: devices.flatMap((d) => currentCredential(d.passkey)),
  userVerification: 'required',
  timeout: WEBAUTHN_TIMEOUT_MS,
});

/**
 * Verifies the assertion of an approval through a link: by one of the passkeys the request's user registered on
 * their devices in this tenant (a passkey of anyone else is refused, whoever holds the link), over the link's
 * challenge, at this origin, with the UV flag. Returns the assertion and the device whose passkey it was.
 */
export const verifyLinkApprovalAssertion = async (
  deps: Pick<Deps, 'users' | 'devices' | 'passkeys' | 'logger'>,
  input: { tenantId: string; sub: string; challenge: string; rp: RelyingParty; assertion: unknown },
): Promise<{ assertion: string; deviceId: string }> => {
  const { assertion } = input;
  if (typeof assertion !== 'object' || assertion === null) {
    throw new UserVerificationRequired('approving needs a passkey assertion (webauthn)');
  }
  const credentialId = (assertion as { id?: unknown }).id;
  const device = (await userPasskeyDevices(deps, input.tenantId, input.sub)).find(
    (d) => d.passkey.credentialId === credentialId,
  );
  if (!device) throw new UserVerificationFailed("the passkey is not one of this user's");
  await verifyPasskeyAssertion(deps, { device, challenge: input.challenge, rp: input.rp, assertion });
  return { assertion: JSON.stringify(assertion), deviceId: device.deviceId };
};
