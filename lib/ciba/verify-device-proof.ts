import { calculateJwkThumbprint, EmbeddedJWK, type JWTPayload, jwtVerify } from 'jose';
import type { Device, JsonWebKeyPublic } from '../model.ts';
import { InvalidDpopProof } from '../oauth/errors.ts';
import type { Clock, Store } from '../ports.ts';

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
  deps: { store: Pick<Store, 'recordProofJti'>; clock: Clock },
  input: { proof: string | undefined; htm: string; htu: string },
): Promise<VerifiedProof> => {
  const { proof } = input;
  if (!proof || proof.includes(',')) throw InvalidDpopProof('exactly one DPoP proof header is required');
  let claims: JWTPayload;
  let jwk: JsonWebKeyPublic;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
    claims = verified.payload;
    jwk = verified.protectedHeader.jwk as JsonWebKeyPublic;
  } catch {
    throw InvalidDpopProof('the DPoP proof is malformed or its signature does not verify');
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || 'd' in jwk)
    throw InvalidDpopProof('the proof key must be a public P-256 key');
  if (claims.htm !== input.htm) throw InvalidDpopProof('htm does not match the request method');
  if (claims.htu !== input.htu) throw InvalidDpopProof('htu does not match the request URL');
  const now = deps.clock.now();
  if (typeof claims.iat !== 'number' || Math.abs(claims.iat - now / 1000) > PROOF_MAX_SKEW_SECONDS) {
    throw InvalidDpopProof('iat is missing or too far from the current time');
  }
  if (typeof claims.jti !== 'string' || claims.jti.length < 8 || claims.jti.length > 128) {
    throw InvalidDpopProof('jti is missing or malformed');
  }
  const thumbprint = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'sha256');
  return { proof, jwk, thumbprint, claims };
};

/** Records the proof's jti; a second use of the same proof is refused. */
export const consumeProof = async (
  deps: { store: Pick<Store, 'recordProofJti'>; clock: Clock },
  proof: VerifiedProof,
): Promise<void> => {
  const expiresAt = deps.clock.now() + PROOF_JTI_LIFETIME_MS;
  const fresh = await deps.store.recordProofJti(proof.thumbprint, String(proof.claims.jti), expiresAt);
  if (!fresh) throw InvalidDpopProof('the DPoP proof was already used');
};

/**
 * A proof by an enrolled device of this tenant: the key's thumbprint is the device id. The device is read and the
 * proof's jti recorded in one conditional write (Store.useDeviceProof).
 *
 * `alongside`, given the device id of a proof that verified, may start a read that the request will need once the
 * device is authenticated, so that it travels beside the write instead of after it (one round trip instead of two).
 * Its result is handed back only with an authenticated device; the caller must still check it against that device.
 */
export const authenticateDevice = async <T = never>(
  deps: { store: Pick<Store, 'recordProofJti' | 'useDeviceProof'>; clock: Clock },
  input: { tenantId: string; proof: string | undefined; htm: string; htu: string },
  alongside?: (deviceId: string) => Promise<T> | undefined,
): Promise<{ device: Device; proof: VerifiedProof; alongside?: Promise<T> }> => {
  const proof = await verifyDpopProof(deps, input);
  const now = deps.clock.now();
  const early = alongside?.(proof.thumbprint);
  // Settled either way: a failed early read is the caller's to redo, never an unhandled rejection.
  early?.catch(() => undefined);
  const device = await deps.store.useDeviceProof(
    input.tenantId,
    proof.thumbprint,
    String(proof.claims.jti),
    now + PROOF_JTI_LIFETIME_MS,
    now,
  );
  if (!device) throw InvalidDpopProof('the proof key is not an enrolled device of this tenant, or the proof was used');
  return { device, proof, ...(early ? { alongside: early } : {}) };
};
