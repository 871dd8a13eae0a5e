import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
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

/** A proof with this payload text (signed or not, the bytes only keep it). */
const withPayload = async (payload: string) => {
  const [h, , sig] = (await proof()).split('.');
  return [h, Buffer.from(payload, 'utf8').toString('base64url'), sig].join('.');
};
/** The payload's form in format 2: after the format byte and a key header (67 bytes). */
const payloadForm = (bytes: Uint8Array) => bytes[68];
const TXN = 'wpWYmRbdsgEOyJ4LHdPdzg';
const HTU = `https://ciba.example.com/acme/device/transactions/${TXN}`;

describe('format 2: a decision proof’s payload kept as its claims', () => {
  it('keeps the device SDK’s and the test device’s payloads as their claims, a ping request’s item under 1 KB', async () => {
    const key = await DeviceKey.generate();
    const sdk = await createDpopProof(key, { htm: 'POST', htu: HTU, extraClaims: { txn: TXN, decision: 'approve' } });
    const uuidJti = await proof('typ-first');
    for (const text of [sdk, uuidJti]) {
      const bytes = proofToBytes(text)!;
      expect(bytes[0]).toBe(2);
      expect(payloadForm(bytes)).toBe(1);
      expect(proofFromBytes(bytes)).toBe(text);
      // The key header 67, the signature 64, the claims under 85 (txn and jti as their bytes, htu without the path and
      // txn, words and iat as numbers): about 130 bytes less than format 1 kept (its payload's JSON, 190-220 bytes).
      expect(bytes.length).toBeLessThan(1 + 67 + 3 + 85 + 64);
    }
  });

  it('reads a proof written by the release before (format 1) as the text that was signed', () => {
    // proofToBytes of the release before (format 1: the payload's JSON as its bytes), for this proof of the device SDK.
    const text =
      'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwiY3J2IjoiUC0yNTYiLCJ4Ijoib3prOVZ2U1YwUDBoNUhHTzJJZzZ5NjhnNVQzNXo3VkdiNXlCcHBTTzZtZyIsInkiOiJ6QXpSbUt2NVZpTWxuTVdRYW54Q2dxNlotdFBVcXRTVDc0UHZwaWo2MVU4In19.eyJ0eG4iOiJ3cFdZbVJiZHNnRU95SjRMSGRQZHpnIiwiZGVjaXNpb24iOiJhcHByb3ZlIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vY2liYS5leGFtcGxlLmNvbS9hY21lL2RldmljZS90cmFuc2FjdGlvbnMvd3BXWW1SYmRzZ0VPeUo0TEhkUGR6ZyIsImlhdCI6MTc5NjIyMzkwMywianRpIjoiMjQ4bGtMMGtJcVlMaUZXQkRwdXhxQSJ9.u5_XkoT1JlvXni4mrJ--Sj_YLwObMels5QdIc9xrxPxNdHdzWDJ7ur6rE2unU7UnbuS08LkvPPjJvLPdTEgxag';
    const formatOne = Buffer.from(
      'AQECAKM5PVb0ldD9IeRxjtiIOsuvIOU9+c+1Rm+cgaaUjupozAzRmKv5ViMlnMWQanxCgq6Z+tPUqtST74Pvpij61U8Aw3sidHhuIjoid3BXWW1SYmRzZ0VPeUo0TEhkUGR6ZyIsImRlY2lzaW9uIjoiYXBwcm92ZSIsImh0bSI6IlBPU1QiLCJodHUiOiJodHRwczovL2NpYmEuZXhhbXBsZS5jb20vYWNtZS9kZXZpY2UvdHJhbnNhY3Rpb25zL3dwV1ltUmJkc2dFT3lKNExIZFBkemciLCJpYXQiOjE3OTYyMjM5MDMsImp0aSI6IjI0OGxrTDBrSXFZTGlGV0JEcHV4cUEifbuf15KE9SZb154uJqyfvko/2C8DmzHpbOUHSHPca8T8TXR3c1gye7q+qxNrp1O1J27ktPC5Lzz4ybyz3UxIMWo=',
      'base64',
    );
    expect(formatOne[0]).toBe(1);
    expect(proofFromBytes(new Uint8Array(formatOne))).toBe(text);
    expect(proofAttribute.fromItem(new Uint8Array(formatOne))).toBe(text);
    // Written again today, the same proof is format 2 and 117 bytes shorter.
    expect(proofToBytes(text)!.length).toBe(formatOne.length - 117);
  });

  it('keeps the payload’s bytes when its claims would not give back exactly its text', async () => {
    const base = `"htm":"POST","htu":"${HTU}","txn":"${TXN}"`;
    for (const payload of [
      `{${base},"iat":1796223903,"extra":"claim"}`, // a claim the form has no name for
      `{ ${base}}`, // whitespace
      `{${base},"iat":1.5}`, // not an integer
      `{${base},"iat":-1}`,
      `{${base},"iat":1e9}`, // an integer spelled otherwise
      `{${base},"iat":"1796223903"}`.replace('"POST"', '"P\\u004fST"'), // an escape JSON.stringify would not write
      `{${base},"jti":{"nested":true}}`,
      `{${base},"htm":"GET"}`, // a member twice
      `[${JSON.stringify(TXN)}]`,
      '"text"',
      'not json',
      '{"htm":"POST","htm"', // cut short
    ]) {
      const text = await withPayload(payload);
      const bytes = proofToBytes(text)!;
      expect(payloadForm(bytes), payload).toBe(0);
      expect(proofFromBytes(bytes)).toBe(text);
      expect(Buffer.from(proofFromBytes(bytes).split('.')[1]!, 'base64url').toString('utf8')).toBe(payload);
    }
  });

  it('keeps each value in the form that gives it back', async () => {
    for (const payload of [
      // htu whose path ends in another txn, or a txn that needs escaping in a URL
      `{"htu":"https://x.example/device/transactions/other","txn":"${TXN}"}`,
      '{"txn":"a b/é","htu":"https://x.example/device/transactions/a%20b%2F%C3%A9"}',
      '{"htu":"https://x.example/device/transactions/t1"}', // no txn to take it from
      // a jti that is base64url but not canonical, an upper-case UUID, an empty string, unicode, a large integer
      '{"jti":"eyJ","nonce":"0F8FAD5B-D9CB-469F-A165-70867728950E","ath":"","decision":"déjà"}',
      `{"iat":${Number.MAX_SAFE_INTEGER},"htm":"DELETE","decision":"report"}`,
      '{}',
    ]) {
      const text = await withPayload(payload);
      const bytes = proofToBytes(text)!;
      expect(payloadForm(bytes), payload).toBe(1);
      expect(proofFromBytes(bytes)).toBe(text);
    }
  });

  it('gives back any proof it keeps as bytes, byte for byte (property)', async () => {
    const [keyHeader, , signature] = (await proof()).split('.') as [string, string, string];
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
    const txn = fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }).map(b64), fc.string());
    const value = (txnValue: string) =>
      fc.oneof(
        fc.string(),
        fc.string({ unit: 'binary' }),
        fc.uuid(),
        fc.uint8Array({ maxLength: 40 }).map(b64),
        fc.constantFrom('POST', 'GET', 'approve', 'deny', 'report'),
        fc.webUrl().map((u) => `${u}/device/transactions/${encodeURIComponent(txnValue)}`),
        fc.maxSafeNat(),
        fc.integer(),
        fc.double(),
        fc.boolean(),
      );
    const claims = txn.chain((txnValue) =>
      fc
        .shuffledSubarray(['htm', 'htu', 'iat', 'jti', 'txn', 'decision', 'nonce', 'ath', 'other'])
        .chain((names) => fc.tuple(...names.map((name) => (name === 'txn' ? fc.constant(txnValue) : value(txnValue))))),
    );
    const payload = fc.oneof(
      {
        weight: 4,
        arbitrary: claims.chain((values) =>
          fc
            .shuffledSubarray(['htm', 'htu', 'iat', 'jti', 'txn', 'decision', 'nonce', 'ath', 'other'], {
              minLength: values.length,
              maxLength: values.length,
            })
            .map((names) => JSON.stringify(Object.fromEntries(names.map((n, i) => [n, values[i]])))),
        ),
      },
      fc.string({ unit: 'binary' }),
      fc.json(),
    );
    let asClaims = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(keyHeader) },
          fc.json().map((j) => Buffer.from(j).toString('base64url')),
        ),
        payload.map((p) => Buffer.from(p, 'utf8').toString('base64url')),
        fc.oneof(fc.constant(signature), fc.uint8Array({ maxLength: 80 }).map(b64)),
        (h, p, sig) => {
          const text = [h, p, sig].join('.');
          const bytes = proofToBytes(text);
          expect(bytes).toBeDefined();
          expect(proofFromBytes(bytes!)).toBe(text);
          if (bytes![1] === 1 && payloadForm(bytes!) === 1) asClaims++;
        },
      ),
      { numRuns: 1000 },
    );
    // The claims form is exercised, not only the fallback.
    expect(asClaims).toBeGreaterThan(100);
  });

  it('keeps as bytes proofs with random claims of the device SDK’s shape, each shorter than format 1', async () => {
    const key = await DeviceKey.generate();
    for (let i = 0; i < 20; i++) {
      const txn = randomBytes(16).toString('base64url');
      const text = await createDpopProof(key, {
        htm: 'POST',
        htu: `https://ciba-${i}.example.com/t/tenant-${i}/device/transactions/${txn}`,
        extraClaims: { txn, decision: (['approve', 'deny', 'report'] as const)[i % 3] },
        iat: 1_700_000_000 + i * 7919,
      });
      const bytes = proofToBytes(text)!;
      expect(payloadForm(bytes)).toBe(1);
      expect(proofFromBytes(bytes)).toBe(text);
    }
  });
});
