import { constants, createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import {
  GenerateMacCommand,
  GetPublicKeyCommand,
  KMSClient,
  NotFoundException,
  SignCommand,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { derToJoseEcdsa, hmacKeyAlias, KmsKeys } from '../../../lib/adapters/kms-keys.ts';
import { deriveClientSecret } from '../../../lib/oauth/client-secret-jwt.ts';

const kms = mockClient(KMSClient);
const PREFIX = 'alias/ciba/';

interface FakeKey {
  arn: string;
  spec: 'ECC_NIST_P256' | 'RSA_2048';
  privateKey: KeyObject;
  spki: Uint8Array;
}

const makeKey = (arn: string, spec: FakeKey['spec']): FakeKey => {
  const pair =
    spec === 'ECC_NIST_P256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { arn, spec, privateKey: pair.privateKey, spki: pair.publicKey.export({ format: 'der', type: 'spki' }) };
};

/** Behaves like KMS: aliases resolve to key ARNs, ECDSA signatures come back DER-encoded, PSS salt = digest length. */
const fakeKms = (aliases: Record<string, FakeKey>) => {
  const byArn = new Map(Object.values(aliases).map((k) => [k.arn, k]));
  const find = (keyId: string | undefined) => {
    const key = (keyId && (aliases[keyId] ?? byArn.get(keyId))) || undefined;
    if (!key) throw new NotFoundException({ message: `Alias ${keyId} is not found.`, $metadata: {} });
    return key;
  };
  kms.on(GetPublicKeyCommand).callsFake((input) => {
    const key = find(input.KeyId);
    return {
      KeyId: key.arn,
      KeySpec: key.spec,
      KeyUsage: 'SIGN_VERIFY',
      PublicKey: key.spki,
      SigningAlgorithms:
        key.spec === 'ECC_NIST_P256' ? ['ECDSA_SHA_256'] : ['RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_256'],
    };
  });
  kms.on(SignCommand).callsFake((input) => {
    const key = find(input.KeyId);
    const message = Buffer.from(input.Message as Uint8Array);
    if (input.MessageType !== 'RAW') throw new Error('test expects RAW messages');
    const signature =
      input.SigningAlgorithm === 'ECDSA_SHA_256'
        ? sign('sha256', message, { key: key.privateKey, dsaEncoding: 'der' })
        : input.SigningAlgorithm === 'RSASSA_PSS_SHA_256'
          ? sign('sha256', message, { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
          : sign('sha256', message, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING });
    return { KeyId: key.arn, Signature: new Uint8Array(signature), SigningAlgorithm: input.SigningAlgorithm };
  });
};

const ecKey = makeKey('arn:aws:kms:eu-west-1:111122223333:key/ec-1', 'ECC_NIST_P256');
const ecKeyOld = makeKey('arn:aws:kms:eu-west-1:111122223333:key/ec-0', 'ECC_NIST_P256');
const rsaKey = makeKey('arn:aws:kms:eu-west-1:111122223333:key/rsa-1', 'RSA_2048');

beforeEach(() => {
  kms.reset();
});

describe('KmsKeys', () => {
  it('signs ES256 with KMS and the JWS verifies against the published JWKS', async () => {
    fakeKms({ 'alias/ciba/acme': ecKey });
    const keys = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });

    const jws = await keys.sign('acme', 'ES256', { typ: 'JWT' }, { iss: 'https://id.example/acme', sub: 'alice' });
    const jwks = await keys.publicJwks('acme');
    const { payload, protectedHeader } = await jwtVerify(jws, createLocalJWKSet(jwks as never));

    expect(payload).toMatchObject({ iss: 'https://id.example/acme', sub: 'alice' });
    expect(protectedHeader).toEqual({ typ: 'JWT', alg: 'ES256', kid: jwks.keys[0]!.kid });
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'EC', crv: 'P-256', use: 'sig', alg: 'ES256' })]);
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('sends Sign the JWS signing input as a RAW message with the key ARN and ECDSA_SHA_256', async () => {
    fakeKms({ 'alias/ciba/acme': ecKey });
    const keys = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });

    const jws = await keys.sign('acme', 'ES256', {}, { a: 1 });
    const [h, p] = jws.split('.');
    const calls = kms.commandCalls(SignCommand);

    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      KeyId: ecKey.arn,
      Message: Buffer.from(`${h}.${p}`, 'ascii'),
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    expect(kms.commandCalls(GetPublicKeyCommand)[0]!.args[0].input).toEqual({ KeyId: 'alias/ciba/acme' });
    // R || S: 64 bytes, not the 70-72 bytes of DER.
    expect(Buffer.from(jws.split('.')[2]!, 'base64url')).toHaveLength(64);
  });

  it.each([
    ['PS256', 'RSASSA_PSS_SHA_256'],
    ['RS256', 'RSASSA_PKCS1_V1_5_SHA_256'],
  ] as const)('signs %s with %s and the signature verifies', async (alg, kmsAlg) => {
    fakeKms({ 'alias/ciba/bank': rsaKey });
    const keys = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });

    const jws = await keys.sign('bank', alg, { typ: 'at+jwt' }, { sub: 'bob' });
    const jwks = await keys.publicJwks('bank');
    const { protectedHeader } = await compactVerify(jws, createLocalJWKSet(jwks as never), { algorithms: [alg] });

    expect(protectedHeader.alg).toBe(alg);
    expect(kms.commandCalls(SignCommand)[0]!.args[0].input.SigningAlgorithm).toBe(kmsAlg);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', e: 'AQAB', use: 'sig' });
  });

  it('publishes the current and the previous key, and tokens signed before the rotation still verify', async () => {
    fakeKms({ 'alias/ciba/acme': ecKeyOld });
    const before = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });
    const oldToken = await before.sign('acme', 'ES256', {}, { sub: 'alice' });

    kms.reset();
    fakeKms({ 'alias/ciba/acme': ecKey, 'alias/ciba/acme/previous': ecKeyOld });
    const after = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });
    const newToken = await after.sign('acme', 'ES256', {}, { sub: 'alice' });
    const jwks = await after.publicJwks('acme');

    expect(jwks.keys).toHaveLength(2);
    expect(decodeProtectedHeader(newToken).kid).toBe(jwks.keys[0]!.kid);
    expect(decodeProtectedHeader(oldToken).kid).toBe(jwks.keys[1]!.kid);
    await expect(jwtVerify(oldToken, createLocalJWKSet(jwks as never))).resolves.toBeDefined();
    await expect(jwtVerify(newToken, createLocalJWKSet(jwks as never))).resolves.toBeDefined();
  });

  it('looks each public key up once per cache period', async () => {
    fakeKms({ 'alias/ciba/acme': ecKey });
    let now = 0;
    const keys = new KmsKeys({
      client: new KMSClient({ region: 'eu-west-1' }),
      aliasPrefix: PREFIX,
      clock: { now: () => now },
      cacheTtlMs: 1000,
    });

    await keys.publicJwks('acme');
    await keys.sign('acme', 'ES256', {}, {});
    await keys.publicJwks('acme');
    const lookups = () =>
      kms.commandCalls(GetPublicKeyCommand).filter((c) => c.args[0].input.KeyId === 'alias/ciba/acme').length;
    expect(lookups()).toBe(1);

    now = 1500;
    await keys.publicJwks('acme');
    expect(lookups()).toBe(2);
  });

  it('refuses to sign with a key whose type does not fit the algorithm', async () => {
    fakeKms({ 'alias/ciba/acme': ecKey });
    const keys = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });

    await expect(keys.sign('acme', 'PS256', {}, {})).rejects.toThrow(/cannot sign PS256/);
    await expect(keys.ensureKey('acme', 'ES256')).resolves.toBeUndefined();
    await expect(keys.ensureKey('unknown', 'ES256')).rejects.toThrow(/no KMS signing key/);
    expect(kms.commandCalls(SignCommand)).toHaveLength(0);
  });

  it('publishes an empty key set for a tenant without a key', async () => {
    fakeKms({});
    const keys = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });
    await expect(keys.publicJwks('nobody')).resolves.toEqual({ keys: [] });
  });

  it('derives MACs with GenerateMac HMAC_SHA_256 on the tenant /hmac alias, and never publishes that key', async () => {
    fakeKms({ 'alias/ciba/acme': ecKey });
    const hmacKey = Buffer.alloc(32, 7);
    kms.on(GenerateMacCommand).callsFake((input) => ({
      KeyId: 'arn:aws:kms:eu-west-1:111122223333:key/hmac-1',
      MacAlgorithm: input.MacAlgorithm,
      Mac: new Uint8Array(createHmac('sha256', hmacKey).update(Buffer.from(input.Message)).digest()),
    }));
    const keys = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });
    const secret = await deriveClientSecret(keys, 'acme', 'shop', 'salt-1');

    expect(hmacKeyAlias(PREFIX, 'acme')).toBe('alias/ciba/acme/hmac');
    const calls = kms.commandCalls(GenerateMacCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      KeyId: 'alias/ciba/acme/hmac',
      Message: Buffer.from('client_secret_jwt:acme:shop:salt-1', 'utf8'),
      MacAlgorithm: 'HMAC_SHA_256',
    });
    expect(secret).toBe(createHmac('sha256', hmacKey).update('client_secret_jwt:acme:shop:salt-1').digest('base64url'));
    const jwks = await keys.publicJwks('acme');
    expect(jwks.keys).toHaveLength(1);
    expect(kms.commandCalls(GetPublicKeyCommand).map((c) => c.args[0].input.KeyId)).not.toContain(
      'alias/ciba/acme/hmac',
    );
  });

  it('fails when GenerateMac returns no MAC, and does not keep the failure', async () => {
    kms.on(GenerateMacCommand).resolves({});
    const keys = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });
    await expect(keys.mac('acme', 'x')).rejects.toThrow(/no MAC/);
    kms.on(GenerateMacCommand).resolves({ Mac: new Uint8Array([1, 2, 3]) });
    expect(await keys.mac('acme', 'x')).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('asks KMS once per derived secret in a cold start (repeated assertions of one client cost one call)', async () => {
    kms.on(GenerateMacCommand).resolves({ Mac: new Uint8Array([9]) });
    const keys = new KmsKeys({ client: new KMSClient({ region: 'eu-west-1' }), aliasPrefix: PREFIX });
    await Promise.all([keys.mac('acme', 'a'), keys.mac('acme', 'a'), keys.mac('acme', 'a')]);
    await keys.mac('acme', 'b');
    expect(kms.commandCalls(GenerateMacCommand)).toHaveLength(2);
  });
});

describe('derToJoseEcdsa', () => {
  it('pads short integers and strips the sign byte', () => {
    // r = 0x01 (one byte), s = 0x00 0xff..ff (33 bytes with a sign byte)
    const s = Buffer.concat([Buffer.from([0x00]), Buffer.alloc(32, 0xff)]);
    const der = Buffer.concat([Buffer.from([0x30, 3 + 2 + 33, 0x02, 0x01, 0x01, 0x02, 33]), s]);
    const jose = derToJoseEcdsa(der, 32);
    expect(jose).toHaveLength(64);
    expect(Buffer.from(jose.subarray(0, 32)).toString('hex')).toBe(`${'00'.repeat(31)}01`);
    expect(Buffer.from(jose.subarray(32)).toString('hex')).toBe('ff'.repeat(32));
  });

  it('rejects something that is not a DER signature', () => {
    expect(() => derToJoseEcdsa(Buffer.from([0x31, 0x00]), 32)).toThrow(/malformed/);
  });
});
