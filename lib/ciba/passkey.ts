import { createHash, randomBytes } from 'node:crypto';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { sha256 } from '../crypto.ts';
import type { Device, DevicePasskey, DeviceTransaction, Tenant } from '../model.ts';
import { Conflict, UserVerificationFailed, UserVerificationRequired } from '../oauth/errors.ts';
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

/** The `navigator.credentials.get` options a device needs to approve `txn` (added to the consent details). */
export const approvalRequestOptions = (
  device: Device,
  txn: string,
  rp: RelyingParty,
): NonNullable<DeviceTransaction['webauthn']> => ({
  challenge: approvalChallenge(device.tenantId, txn, device.deviceId),
  rpId: rp.rpId,
  allowCredentials: device.passkey
    ? [
        {
          id: device.passkey.credentialId,
          type: 'public-key',
          ...(device.passkey.transports ? { transports: device.passkey.transports } : {}),
        },
      ]
    : [],
  userVerification: 'required',
  timeout: WEBAUTHN_TIMEOUT_MS,
});

/** Step 1 of registering the device's passkey: creation options with a fresh, stored, single-use challenge. */
export const passkeyRegistrationOptions = async (
  deps: Pick<Deps, 'store' | 'clock'>,
  input: { tenant: Tenant; device: Device; rp: RelyingParty },
) => {
  const { tenant, device, rp } = input;
  const user = await deps.store.getUser(tenant.tenantId, device.sub);
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
  await deps.store.createEnrollmentTicket(
    challengeKey(tenant.tenantId, device.deviceId, options.challenge),
    tenant.tenantId,
    device.sub,
    deps.clock.now() + PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
  );
  return options;
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

/** Step 2: verifies the attestation against the stored challenge (used once) and keeps the credential. */
export const registerPasskey = async (
  deps: Pick<Deps, 'store' | 'clock' | 'logger'>,
  input: { tenant: Tenant; device: Device; rp: RelyingParty; response: Record<string, unknown> },
): Promise<{ credential_id: string }> => {
  const { tenant, device, rp } = input;
  const response = input.response as unknown as RegistrationResponseJSON;
  const challenge = challengeOf(response.response?.clientDataJSON);
  const owner =
    challenge &&
    (await deps.store.consumeEnrollmentTicket(
      challengeKey(tenant.tenantId, device.deviceId, challenge),
      deps.clock.now(),
    ));
  if (!owner || owner.tenantId !== tenant.tenantId || owner.sub !== device.sub) {
    throw UserVerificationFailed('the registration challenge is unknown, used or expired');
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
    throw UserVerificationFailed('the passkey registration did not verify');
  }
  if (!verification.verified || !verification.registrationInfo) {
    throw UserVerificationFailed('the passkey registration did not verify');
  }
  const { credential } = verification.registrationInfo;
  const passkey: DevicePasskey = {
    credentialId: credential.id,
    publicKey: Buffer.from(credential.publicKey).toString('base64url'),
    counter: credential.counter,
    ...(credential.transports ? { transports: credential.transports } : {}),
    createdAt: deps.clock.now(),
  };
  if ((await deps.store.setDevicePasskey(tenant.tenantId, device.deviceId, passkey)) !== 'ok') {
    throw Conflict('the device was removed');
  }
  deps.logger.info('passkey registered', { tenant: tenant.tenantId, device_id: device.deviceId });
  return { credential_id: passkey.credentialId };
};

/**
 * Verifies the WebAuthn assertion that must accompany an approval on a tenant with user verification: made by the
 * device's passkey, over this transaction's challenge, at this origin, with the UV flag. Updates the counter.
 * Returns the assertion to keep as evidence.
 */
export const verifyApprovalAssertion = async (
  deps: Pick<Deps, 'store' | 'logger'>,
  input: { device: Device; txn: string; rp: RelyingParty; assertion: unknown },
): Promise<string> => {
  const { device, txn, rp } = input;
  if (!device.passkey) throw UserVerificationRequired('register a passkey on this device before approving');
  if (typeof input.assertion !== 'object' || input.assertion === null) {
    throw UserVerificationRequired('approving needs a passkey assertion (webauthn)');
  }
  const response = input.assertion as AuthenticationResponseJSON;
  const { verifyAuthenticationResponse } = await webauthn();
  let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: approvalChallenge(device.tenantId, txn, device.deviceId),
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpId,
      credential: {
        id: device.passkey.credentialId,
        publicKey: new Uint8Array(Buffer.from(device.passkey.publicKey, 'base64url')),
        counter: device.passkey.counter,
        ...(device.passkey.transports
          ? { transports: device.passkey.transports as ('internal' | 'hybrid' | 'usb' | 'nfc' | 'ble')[] }
          : {}),
      },
      requireUserVerification: true,
    });
  } catch (error) {
    deps.logger.info('passkey assertion refused', { tenant: device.tenantId, device_id: device.deviceId, error });
    throw UserVerificationFailed('the passkey assertion did not verify');
  }
  if (!verified.verified || !verified.authenticationInfo.userVerified) {
    throw UserVerificationFailed('the passkey assertion did not verify the user');
  }
  if (verified.authenticationInfo.newCounter !== device.passkey.counter) {
    await deps.store.setDevicePasskey(device.tenantId, device.deviceId, {
      ...device.passkey,
      counter: verified.authenticationInfo.newCounter,
    });
  }
  return JSON.stringify(response);
};
