import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { proofAttribute, proofFromBytes, proofToBytes } from '../../../lib/adapters/dynamodb/proof-bytes.ts';
import { createDpopProof } from '../../../lib/device/dpop.ts';
import { DeviceKey } from '../../../lib/device/key.ts';

/** A decision's DPoP proof as a device signs it, with the header's members in `order`. */
const proof = async (order: 'alg-first' | 'typ-first' = 'alg-first', extra: Record<string, unknown> = {}) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const jwk = { kty, crv, x, y };
  const header =
    order === 'alg-first' ? { alg: 'ES256', typ: 'dpop+jwt', jwk } : { typ: 'dpop+jwt', alg: 'ES256', jwk };
  return new SignJWT({
    htm: 'POST',
    htu: 'https://ciba.example.com/acme/device/transactions/wpWYmRbdsgEOyJ4LHdPdzg',
    jti: randomUUID(),
    txn: 'wpWYmRbdsgEOyJ4LHdPdzg',
    decision: 'approve',
    ...extra,
  })
    .setProtectedHeader(header)
    .setIssuedAt()
    .sign(privateKey);
};

describe('a decision’s proof stored as bytes (lib/adapters/dynamodb/proof-bytes.ts)', () => {
  it('gives back exactly the signed text, in about 60 % of its size', async () => {
    for (const order of ['alg-first', 'typ-first'] as const) {
      const text = await proof(order);
      const bytes = proofToBytes(text)!;
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(proofFromBytes(bytes)).toBe(text);
      expect(bytes.length).toBeLessThan(text.length * 0.62);
    }
  });

  it('gives back the proofs of the device SDK (lib/device), whatever their key', async () => {
    for (let i = 0; i < 5; i++) {
      const key = await DeviceKey.generate();
      const text = await createDpopProof(key, {
        htm: 'POST',
        htu: 'https://ciba.example.com/acme/device/transactions/t1',
        extraClaims: { txn: 't1', decision: 'deny' },
      });
      expect(proofFromBytes(proofToBytes(text)!)).toBe(text);
    }
  });

  it('keeps any other header as its bytes and still gives the text back', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const text = await new SignJWT({ htm: 'POST' })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', kid: 'k1' })
      .sign(privateKey);
    const bytes = proofToBytes(text)!;
    expect(bytes[1]).toBe(0);
    expect(proofFromBytes(bytes)).toBe(text);
    // A header with whitespace or an extra member is not the key form either.
    const [h, p, s] = (await proof()).split('.');
    const spaced = Buffer.from(` ${Buffer.from(h!, 'base64url').toString()}`).toString('base64url');
    const withSpace = [spaced, p, s].join('.');
    expect(proofToBytes(withSpace)![1]).toBe(0);
    expect(proofFromBytes(proofToBytes(withSpace)!)).toBe(withSpace);
  });

  it('leaves as text what bytes could not give back exactly', async () => {
    const text = await proof();
    const [h, p, s] = text.split('.');
    for (const odd of [
      'eyJ.proof.sig', // non-canonical base64url (trailing bits)
      `${h}.${p}`, // two segments
      `${h}.${p}.${s}.x`,
      `${h}=.${p}.${s}`, // padding
      `${h}.${p}.${s}+`, // not base64url
      'not a proof',
    ]) {
      expect(proofToBytes(odd)).toBeUndefined();
      expect(proofAttribute.toItem(odd)).toBe(odd);
    }
  });

  it('reads a proof stored as text (by the release before) as that text', async () => {
    const text = await proof();
    expect(proofAttribute.fromItem(text)).toBe(text);
    expect(proofAttribute.fromItem(proofAttribute.toItem(text))).toBe(text);
  });
});
