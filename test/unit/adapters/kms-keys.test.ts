import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  KMSClient,
  ListAliasesCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { compactVerify, createLocalJWKSet, jwtVerify } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { derToJoseEcdsa, KmsKeyVault, legacyKeyset, listLegacyKeys } from '../../../lib/adapters/kms-keys.ts';
import { TenantKeys } from '../../../lib/adapters/tenant-keys.ts';
import { memoryKeyDirectory } from '../../helpers/memory-keys.ts';

const kms = mockClient(KMSClient);
const T = 1_800_000_000_000;
const SEALING = 'alias/ciba-tenant-keys';
const ACCOUNT_KEY = 'arn:aws:kms:eu-west-1:111122223333:key';

interface FakeAsymmetric {
  arn: string;
  spec: 'ECC_NIST_P256' | 'RSA_2048';
  privateKey: KeyObject;
  spki: Uint8Array;
  tags: Record<string, string>;
}

/**
 * KMS as the adapters meet it: Encrypt/Decrypt with AES-GCM bound to the encryption context, asymmetric keys that
 * sign (DER for ECDSA, salt = digest length for PSS) and give their SPKI, HMAC keys.
 */
const fakeKms = () => {
  const aes = randomBytes(32);
  const asymmetric = new Map<string, FakeAsymmetric>();
  const hmac = new Map<string, Buffer>();
  const aad = (context: Record<string, string> | undefined) =>
    Buffer.from(JSON.stringify(Object.entries(context ?? {}).sort()));
  kms.on(EncryptCommand).callsFake((input) => {
    expect(input.KeyId).toBe(SEALING);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', aes, iv).setAAD(aad(input.EncryptionContext));
    const body = Buffer.concat([cipher.update(input.Plaintext as Uint8Array), cipher.final()]);
    return { CiphertextBlob: Buffer.concat([iv, cipher.getAuthTag(), body]) };
  });
  kms.on(DecryptCommand).callsFake((input) => {
    const blob = Buffer.from(input.CiphertextBlob as Uint8Array);
    const decipher = createDecipheriv('aes-256-gcm', aes, blob.subarray(0, 12)).setAAD(aad(input.EncryptionContext));
    decipher.setAuthTag(blob.subarray(12, 28));
    return { Plaintext: Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]) };
  });
  const create = (spec: FakeAsymmetric['spec'], tags: Record<string, string> = {}) => {
    const pair =
      spec === 'ECC_NIST_P256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = {
      arn: `${ACCOUNT_KEY}/${randomBytes(8).toString('hex')}`,
      spec,
      privateKey: pair.privateKey,
      spki: pair.publicKey.export({ format: 'der', type: 'spki' }),
      tags,
    };
    asymmetric.set(key.arn, key);
    return key;
  };
  kms.on(CreateKeyCommand).callsFake((input) => {
    const key = create(
      input.KeySpec as FakeAsymmetric['spec'],
      Object.fromEntries((input.Tags ?? []).map((t: { TagKey: string; TagValue: string }) => [t.TagKey, t.TagValue])),
    );
    return { KeyMetadata: { Arn: key.arn, KeyId: key.arn.split('/')[1] } };
  });
  kms.on(GetPublicKeyCommand).callsFake((input) => {
    const key = asymmetric.get(input.KeyId!)!;
    return { KeyId: key.arn, KeySpec: key.spec, KeyUsage: 'SIGN_VERIFY', PublicKey: key.spki };
  });
  kms.on(SignCommand).callsFake((input) => {
    const key = asymmetric.get(input.KeyId!)!;
    const message = Buffer.from(input.Message as Uint8Array);
    const signature =
      input.SigningAlgorithm === 'ECDSA_SHA_256'
        ? sign('sha256', message, { key: key.privateKey, dsaEncoding: 'der' })
        : input.SigningAlgorithm === 'RSASSA_PSS_SHA_256'
          ? sign('sha256', message, { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
          : sign('sha256', message, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING });
    return { KeyId: key.arn, Signature: new Uint8Array(signature) };
  });
  kms.on(GenerateMacCommand).callsFake((input) => ({
    Mac: createHmac('sha256', hmac.get(input.KeyId!)!)
      .update(input.Message as Uint8Array)
      .digest(),
  }));
  kms.on(ScheduleKeyDeletionCommand).resolves({});
  return { asymmetric, hmac, create };
};

const client = () => new KMSClient({ region: 'eu-west-1' });
const tenantKeys = (directory = memoryKeyDirectory().directory, now = () => T) =>
  new TenantKeys({
    ...directory,
    vault: new KmsKeyVault({ client: client(), sealingKeyId: SEALING, deployment: 'ciba' }),
    clock: { now },
  });
const kmsCalls = () => kms.calls().length;

beforeEach(() => {
  kms.reset();
});

describe('wrapped keys sealed under the deployment key', () => {
  it('seals the private half and the MAC key under the deployment key, the tenant in the encryption context', async () => {
    fakeKms();
    const store = memoryKeyDirectory();
    await tenantKeys(store.directory).ensureKeys('acme', { alg: 'ES256', mode: 'wrapped' });
    const contexts = kms.commandCalls(EncryptCommand).map((c) => c.args[0].input.EncryptionContext);
    const keyset = store.keysets.get('acme')!;
    expect(contexts).toEqual([
      { tenant: 'acme', key_use: 'signing', key_id: keyset.signing[0]!.kid },
      { tenant: 'acme', key_use: 'mac', key_id: keyset.mac[0]!.id },
    ]);
    // Only ciphertext is stored: no private JWK member, no plain MAC key.
    expect(keyset.signing[0]!.sealed).toMatch(/^kms:/);
    expect(JSON.stringify(keyset)).not.toMatch(/"d"|plain:/);
  });

  it('opens a key once per process and then signs and MACs with no KMS call (a warm function)', async () => {
    fakeKms();
    const store = memoryKeyDirectory();
    await tenantKeys(store.directory).ensureKeys('acme', { alg: 'ES256', mode: 'wrapped' });
    kms.resetHistory();
    const warm = tenantKeys(store.directory);
    const first = await warm.sign('acme', 'ES256', { typ: 'JWT' }, { sub: 'alice', exp: T / 1000 + 60 });
    await warm.mac('acme', 'push-response-key');
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(2);
    const calls = kmsCalls();
    const again = await warm.sign('acme', 'ES256', { typ: 'JWT' }, { sub: 'bob', exp: T / 1000 + 60 });
    await warm.mac('acme', 'user_code:bob:1234');
    const jwks = await warm.publicJwks('acme');
    expect(kmsCalls()).toBe(calls);
    for (const jws of [first, again]) {
      await jwtVerify(jws, createLocalJWKSet(jwks as never), { currentDate: new Date(T) });
    }
  });

  it('refuses a key sealed for another tenant (the encryption context is checked)', async () => {
    fakeKms();
    const store = memoryKeyDirectory();
    await tenantKeys(store.directory).ensureKeys('acme', { alg: 'ES256', mode: 'wrapped' });
    const stolen = structuredClone(store.keysets.get('acme')!);
    store.keysets.set('evil', { ...stolen, tenantId: 'evil' });
    await expect(tenantKeys(store.directory).sign('evil', 'ES256', {}, { sub: 'x' })).rejects.toThrow();
  });
});

describe('kms keys (key_mode "kms")', () => {
  it('creates a KMS key tagged with the deployment and the tenant, signs with it in KMS, publishes its public key', async () => {
    fakeKms();
    const keys = tenantKeys();
    await keys.ensureKeys('bank', { alg: 'ES256', mode: 'kms' });
    expect(kms.commandCalls(CreateKeyCommand)[0]!.args[0].input).toMatchObject({
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
      Tags: [
        { TagKey: 'ciba:deployment', TagValue: 'ciba' },
        { TagKey: 'ciba:tenant', TagValue: 'bank' },
      ],
    });
    const jws = await keys.sign('bank', 'ES256', { typ: 'JWT' }, { sub: 'alice' });
    const [h, p, sig] = jws.split('.');
    const signed = kms.commandCalls(SignCommand)[0]!.args[0].input;
    expect(signed).toMatchObject({ MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' });
    expect(Buffer.from(signed.Message as Uint8Array).toString()).toBe(`${h}.${p}`);
    // R || S: 64 bytes, not the 70-72 bytes of DER.
    expect(Buffer.from(sig!, 'base64url')).toHaveLength(64);
    await compactVerify(jws, createLocalJWKSet((await keys.publicJwks('bank')) as never));
    // A Sign per token.
    await keys.sign('bank', 'ES256', {}, { sub: 'bob' });
    expect(kms.commandCalls(SignCommand)).toHaveLength(2);
  });

  it.each([
    ['PS256', 'RSASSA_PSS_SHA_256'],
    ['RS256', 'RSASSA_PKCS1_V1_5_SHA_256'],
  ] as const)('signs %s with %s', async (alg, kmsAlg) => {
    fakeKms();
    const keys = tenantKeys();
    await keys.ensureKeys('bank', { alg, mode: 'kms' });
    const jws = await keys.sign('bank', alg, {}, { sub: 'bob' });
    const { protectedHeader } = await compactVerify(jws, createLocalJWKSet((await keys.publicJwks('bank')) as never), {
      algorithms: [alg],
    });
    expect(protectedHeader.alg).toBe(alg);
    expect(kms.commandCalls(SignCommand)[0]!.args[0].input.SigningAlgorithm).toBe(kmsAlg);
  });

  it('rotates between modes, and schedules the deletion of its KMS keys when the tenant is deleted', async () => {
    fakeKms();
    const store = memoryKeyDirectory();
    const keys = tenantKeys(store.directory);
    await keys.ensureKeys('bank', { alg: 'ES256', mode: 'wrapped' });
    await keys.ensureKeys('bank', { alg: 'ES256', mode: 'kms' });
    expect((await keys.describe('bank')).map((k) => [k.key_mode, k.status])).toEqual([
      ['wrapped', 'current'],
      ['kms', 'next'],
    ]);
    const kmsKey = store.keysets.get('bank')!.signing[1]!.kmsKeyId!;
    let removed = false;
    expect(
      await keys.removeWithTenant('bank', async () => {
        removed = true;
        store.keysets.delete('bank');
        return true;
      }),
    ).toBe(true);
    expect(removed).toBe(true);
    expect(kms.commandCalls(ScheduleKeyDeletionCommand).map((c) => c.args[0].input)).toEqual([
      { KeyId: kmsKey, PendingWindowInDays: 30 },
    ]);
  });
});

describe('keys of deployments before keysets', () => {
  it('finds each tenant keys behind the deployment aliases, across pages, and nothing else', async () => {
    kms
      .on(ListAliasesCommand)
      .resolvesOnce({
        Aliases: [
          {
            AliasName: 'alias/ciba/acme',
            AliasArn: 'arn:aws:kms:eu-west-1:111122223333:alias/ciba/acme',
            TargetKeyId: 'k1',
          },
          {
            AliasName: 'alias/ciba/acme/hmac',
            AliasArn: 'arn:aws:kms:eu-west-1:111122223333:alias/ciba/acme/hmac',
            TargetKeyId: 'k2',
          },
          {
            AliasName: 'alias/ciba-tenant-keys',
            AliasArn: 'arn:aws:kms:eu-west-1:111122223333:alias/ciba-tenant-keys',
            TargetKeyId: 'k9',
          },
        ],
        Truncated: true,
        NextMarker: 'next',
      })
      .resolvesOnce({
        Aliases: [
          {
            AliasName: 'alias/ciba/acme/previous',
            AliasArn: 'arn:aws:kms:eu-west-1:111122223333:alias/ciba/acme/previous',
            TargetKeyId: 'k0',
          },
          {
            AliasName: 'alias/other/bank',
            AliasArn: 'arn:aws:kms:eu-west-1:111122223333:alias/other/bank',
            TargetKeyId: 'k5',
          },
          {
            AliasName: 'alias/ciba/acme/x/y',
            AliasArn: 'arn:aws:kms:eu-west-1:111122223333:alias/ciba/acme/x/y',
            TargetKeyId: 'k6',
          },
        ],
      });
    const found = await listLegacyKeys(client(), 'alias/ciba/');
    expect(Object.fromEntries(found)).toEqual({
      acme: { current: `${ACCOUNT_KEY}/k1`, hmac: `${ACCOUNT_KEY}/k2`, previous: `${ACCOUNT_KEY}/k0` },
    });
    expect(kms.commandCalls(ListAliasesCommand)[1]!.args[0].input.Marker).toBe('next');
  });

  it('makes a keyset of them: the old keys as kms keys in order, the old HMAC key as the legacy MAC key', async () => {
    const fake = fakeKms();
    const previous = fake.create('RSA_2048');
    const current = fake.create('ECC_NIST_P256');
    const keyset = await legacyKeyset(
      client(),
      'acme',
      { current: current.arn, previous: previous.arn, hmac: `${ACCOUNT_KEY}/h1` },
      'ES256',
      T,
    );
    expect(keyset.signing.map((k) => [k.alg, k.mode, k.kmsKeyId])).toEqual([
      ['PS256', 'kms', previous.arn],
      ['ES256', 'kms', current.arn],
    ]);
    expect(keyset.mac).toEqual([
      { id: 'legacy', mode: 'kms', createdAt: T, kmsKeyId: `${ACCOUNT_KEY}/h1`, legacy: true },
    ]);
    // The current old key signs until the tenant's new key is active; both stay published.
    fake.hmac.set(`${ACCOUNT_KEY}/h1`, Buffer.alloc(32, 1));
    const store = memoryKeyDirectory();
    store.keysets.set('acme', keyset);
    const keys = tenantKeys(store.directory);
    const jws = await keys.sign('acme', 'ES256', {}, { sub: 'alice' });
    expect(kms.commandCalls(SignCommand)[0]!.args[0].input.KeyId).toBe(current.arn);
    await keys.ensureKeys('acme', { alg: 'ES256', mode: 'wrapped' });
    expect((await keys.describe('acme')).map((k) => k.status)).toEqual(['previous', 'current', 'next']);
    await compactVerify(jws, createLocalJWKSet((await keys.publicJwks('acme')) as never));
    // Values from before key ids use the old HMAC key; new ones the tenant's own.
    const legacyMac = await keys.macWith('acme', undefined, 'client_secret_jwt:acme:c1:salt');
    expect(
      Buffer.from(legacyMac!).equals(
        createHmac('sha256', Buffer.alloc(32, 1)).update('client_secret_jwt:acme:c1:salt').digest(),
      ),
    ).toBe(true);
    expect((await keys.mac('acme', 'x')).keyId).not.toBe('legacy');
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
