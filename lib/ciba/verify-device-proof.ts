import { calculateJwkThumbprint, EmbeddedJWK, type JWTPayload, jwtVerify } from 'jose';
import { InvalidDpopProof } from '../errors.ts';
import type { Device, JsonWebKeyPublic } from '../model.ts';
import type { DeviceProofStore, DeviceStore, ReplayGuard } from '../persistence.ts';
import type { Clock } from '../ports.ts';

/** docs/device-api.md: a proof's iat may be at most 60 s off (RFC 9449 §11.1 leaves the window to the server). */
export const PROOF_MAX_SKEW_SECONDS = 60;
/** A jti is remembered while a proof carrying it can pass the iat check: up to 60 s ahead, then 60 s behind. */
const PROOF_JTI_LIFETIME_MS = 2 * PROOF_MAX_SKEW_SECONDS * 1000;

export interface VerifiedProof {
  proof: string;
  jwk: JsonWebKeyPublic;
  thumbprint: string;
  claims: JWTPayload;
}

/**
 * RFC 9449 §4.3: a DPoP proof signed by a P-256 key carried in its header, for this method and URL,
 * fresh, and never seen before. Every failure is the same 401 invalid_dpop_proof.
 */
export const verifyDpopProof = async (
  deps: { clock: Clock },
  input: { proof: string | undefined; htm: string; htu: string },
): Promise<VerifiedProof> => {
  const { proof } = input;
  if (!proof || proof.includes(',')) throw new InvalidDpopProof('exactly one DPoP proof header is required');
  let claims: JWTPayload;
  let jwk: JsonWebKeyPublic;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
    claims = verified.payload;
    jwk = verified.protectedHeader.jwk as JsonWebKeyPublic;
  } catch {
    throw new InvalidDpopProof('the DPoP proof is malformed or its signature does not verify');
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || 'd' in jwk)
    throw new InvalidDpopProof('the proof key must be a public P-256 key');
  if (claims.htm !== input.htm) throw new InvalidDpopProof('htm does not match the request method');
  if (claims.htu !== input.htu) throw new InvalidDpopProof('htu does not match the request URL');
  const now = deps.clock.now();
  if (typeof claims.iat !== 'number' || Math.abs(claims.iat - now / 1000) > PROOF_MAX_SKEW_SECONDS) {
    throw new InvalidDpopProof('iat is missing or too far from the current time');
  }
  if (typeof claims.jti !== 'string' || claims.jti.length < 8 || claims.jti.length > 128) {
    throw new InvalidDpopProof('jti is missing or malformed');
  }
  const thumbprint = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'sha256');
  return { proof, jwk, thumbprint, claims };
};

/** Records the proof's jti; a second use of the same proof is refused. */
export const consumeProof = async (
  deps: { replay: ReplayGuard; clock: Clock },
  proof: VerifiedProof,
): Promise<void> => {
  const expiresAt = deps.clock.now() + PROOF_JTI_LIFETIME_MS;
  const fresh = await deps.replay.useOnce(`${proof.thumbprint}#${String(proof.claims.jti)}`, expiresAt);
  if (!fresh) throw new InvalidDpopProof('the DPoP proof was already used');
};

/** A device's expired proof ids are forgotten (one write more) once this many have gathered on its record. */
export const PROOF_JTI_PRUNE_AFTER = 8;
/** Clocks of other instances may run behind: ids are forgotten this long after their expiry. */
const PROOF_JTI_PRUNE_MARGIN_MS = 60_000;

/**
 * The proof ids a device may forget: proofs older than their expiry fail the iat check anyway. None until enough
 * have gathered, so that most requests cost no write more.
 */
export const expiredProofIds = (proofIds: Record<string, number>, now: number): string[] => {
  const expired = Object.entries(proofIds)
    .filter(([, at]) => at < now - PROOF_JTI_PRUNE_MARGIN_MS)
    .map(([id]) => id);
  return expired.length >= PROOF_JTI_PRUNE_AFTER ? expired : [];
};

/**
 * A proof by an enrolled device of this tenant: the key's thumbprint is the device id. The device is read and the
 * proof's jti recorded in one conditional write (DeviceProofStore.use); expired ids are forgotten now and then.
 *
 * `alongside`, given the device id of a proof that verified, may start a read that the request will need once the
 * device is authenticated, so that it travels beside the write instead of after it (one round trip instead of two).
 * Its result is handed back only with an authenticated device; the caller must still check it against that device.
 */
export const authenticateDevice = async <T = never>(
  deps: { deviceProofs: DeviceProofStore; clock: Clock },
  input: { tenantId: string; proof: string | undefined; htm: string; htu: string },
  alongside?: (deviceId: string) => Promise<T> | undefined,
): Promise<{ device: Device; proof: VerifiedProof; alongside?: Promise<T> }> => {
  const proof = await verifyDpopProof(deps, input);
  const now = deps.clock.now();
  const early = alongside?.(proof.thumbprint);
  // Settled either way: a failed early read is the caller's to redo, never an unhandled rejection.
  early?.catch(() => undefined);
  const device = await useDeviceProof(deps, {
    tenantId: input.tenantId,
    deviceId: proof.thumbprint,
    jti: String(proof.claims.jti),
    expiresAt: now + PROOF_JTI_LIFETIME_MS,
    now,
  });
  if (!device) {
    throw new InvalidDpopProof('the proof key is not an enrolled device of this tenant, or the proof was used');
  }
  return { device, proof, ...(early ? { alongside: early } : {}) };
};

/**
 * A decision's proof where a second use can do nothing the first did not (a plain decision: the proof signs the
 * transaction and the decision, and the decision is one conditional write that a request takes once): the device is
 * read, strongly consistent, so that a device removed a moment ago cannot decide, and the proof's jti is not recorded
 * (one write unit less per decision). A replay finds the request decided and answers as the same decision again does
 * (recordDeviceDecision), or 409. Decisions that carry a binding code or a passkey assertion use authenticateDevice.
 */
export const identifyDevice = async (
  deps: { devices: Pick<DeviceStore, 'get'>; clock: Clock },
  input: { tenantId: string; proof: string | undefined; htm: string; htu: string },
): Promise<{ device: Device; proof: VerifiedProof }> => {
  const proof = await verifyDpopProof(deps, input);
  const device = await deps.devices.get(input.tenantId, proof.thumbprint);
  if (!device) {
    throw new InvalidDpopProof('the proof key is not an enrolled device of this tenant, or the proof was used');
  }
  return { device, proof };
};

/**
 * Records a proof's jti on its device (one conditional write: the device, or undefined for an unknown device or a
 * replay) and forgets the expired ones once enough have gathered.
 */
export const useDeviceProof = async (
  deps: { deviceProofs: DeviceProofStore },
  input: { tenantId: string; deviceId: string; jti: string; expiresAt: number; now: number },
): Promise<Device | undefined> => {
  const used = await deps.deviceProofs.use(input.tenantId, input.deviceId, input.jti, input.expiresAt);
  if (!used) return undefined;
  const expired = expiredProofIds(used.proofIds, input.now);
  if (expired.length > 0) {
    await deps.deviceProofs.forget(input.tenantId, input.deviceId, expired).catch(() => {
      // The next call prunes again; the replay guarantee does not depend on it.
    });
  }
  return used.device;
};
