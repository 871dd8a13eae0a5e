import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createDpopProof, DeviceKey, htuOf } from '../../../lib/device/index.ts';

describe('DPoP proofs', () => {
  it('verify with the embedded public key and carry htm, htu, iat and jti', async () => {
    const key = await DeviceKey.generate();
    const before = Math.floor(Date.now() / 1000);
    const proof = await createDpopProof(key, {
      htm: 'post',
      htu: 'https://id.example/demo/device/transactions/t1?x=1#f',
    });
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
    expect(protectedHeader).toEqual({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk });
    expect(Object.keys(protectedHeader.jwk ?? {}).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(payload.htm).toBe('POST');
    expect(payload.htu).toBe('https://id.example/demo/device/transactions/t1');
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(payload.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('carries extra claims without letting them override the standard ones', async () => {
    const key = await DeviceKey.generate();
    const proof = await createDpopProof(key, {
      htm: 'POST',
      htu: 'https://id.example/demo/device/transactions/t1',
      extraClaims: { txn: 't1', decision: 'approve', htm: 'GET' },
    });
    const { payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
    expect(payload).toMatchObject({ txn: 't1', decision: 'approve', htm: 'POST' });
  });

  it('uses a fresh jti for every proof', async () => {
    const key = await DeviceKey.generate();
    const jtis = new Set<unknown>();
    for (let i = 0; i < 50; i++) {
      const proof = await createDpopProof(key, { htm: 'GET', htu: 'https://id.example/demo/device/transactions' });
      jtis.add((await jwtVerify(proof, EmbeddedJWK)).payload.jti);
    }
    expect(jtis.size).toBe(50);
  });

  it('does not verify once tampered with', async () => {
    const key = await DeviceKey.generate();
    const proof = await createDpopProof(key, { htm: 'GET', htu: 'https://id.example/x' });
    const other = await DeviceKey.generate();
    const [, payload, signature] = proof.split('.');
    const header = Buffer.from(JSON.stringify({ ...decodeProtectedHeader(proof), jwk: other.publicJwk })).toString(
      'base64url',
    );
    await expect(jwtVerify(`${header}.${payload}.${signature}`, EmbeddedJWK)).rejects.toThrow();
  });

  it('strips query and fragment from htu', () => {
    expect(htuOf('http://127.0.0.1:8787/demo/device/transactions?a=b#c')).toBe(
      'http://127.0.0.1:8787/demo/device/transactions',
    );
  });
});

describe('DeviceKey', () => {
  it('uses the RFC 7638 thumbprint of its public key as device id', async () => {
    const key = await DeviceKey.generate();
    expect(key.deviceId).toBe(await calculateJwkThumbprint(key.publicJwk, 'sha256'));
    expect(key.publicJwk.kty).toBe('EC');
    expect(key.publicJwk.crv).toBe('P-256');
  });

  it('is not extractable unless asked', async () => {
    const key = await DeviceKey.generate();
    expect(key.extractable).toBe(false);
    await expect(key.exportPrivateJwk()).rejects.toThrow();
  });

  it('round-trips through a private JWK when extractable', async () => {
    const key = await DeviceKey.generate({ extractable: true });
    const again = await DeviceKey.fromPrivateJwk(await key.exportPrivateJwk());
    expect(again.deviceId).toBe(key.deviceId);
    const proof = await createDpopProof(again, { htm: 'GET', htu: 'https://id.example/x' });
    const { protectedHeader } = await jwtVerify(proof, EmbeddedJWK);
    expect(await calculateJwkThumbprint(protectedHeader.jwk!, 'sha256')).toBe(key.deviceId);
  });
});
