import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  privateEncrypt,
  randomBytes,
  randomUUID,
  sign as signMessage,
  timingSafeEqual,
  verify as verifyMessage,
} from 'node:crypto';
import type { Json } from '../cloudformation.ts';
import type { PolicyDocument } from '../iam.ts';
import {
  AwsError,
  authorize,
  type Core,
  type Endpoint,
  type FakeRequest,
  jsonOperation,
  jsonResponse,
  startEndpoint,
} from './endpoint.ts';

/**
 * KMS with real key material: asymmetric keys sign (ECDSA, RSA-PSS, RSA PKCS#1 v1.5) and `GetPublicKey` returns their
 * SPKI, HMAC keys compute real MACs, symmetric keys encrypt with AES-256-GCM bound to the encryption context. Keys and
 * aliases come from the template (AWS::KMS::Key, AWS::KMS::Alias) or from CreateKey/CreateAlias at run time. Every
 * call is authorized with the key's key policy as the resource policy and the condition keys KMS sets
 * (`kms:ResourceAliases`, `kms:RequestAlias`, `aws:ResourceTag/*`, `kms:EncryptionContext:*`, `kms:SigningAlgorithm`,
 * ...). `ListAliases` pages through the aliases; `CreateKey` checks the request's tags.
 *
 * Not covered: `MessageType: DIGEST` for ECDSA and RSA-PSS (Node signs messages, not digests; PKCS#1 v1.5 works),
 * multi-region keys, grants, imported key material, custom key stores.
 */

export interface FakeKey {
  keyId: string;
  arn: string;
  keySpec: string;
  keyUsage: 'SIGN_VERIFY' | 'ENCRYPT_DECRYPT' | 'GENERATE_VERIFY_MAC';
  policy: PolicyDocument;
  tags: Record<string, string>;
  state: 'Enabled' | 'Disabled' | 'PendingDeletion';
  privateKey?: KeyObject;
  publicKey?: KeyObject;
  secret?: Buffer;
}

const SIGNING: Record<string, { hash: string; padding?: number; salt?: number; specs: RegExp }> = {
  ECDSA_SHA_256: { hash: 'sha256', specs: /^ECC_NIST_P256$|^ECC_SECG_P256K1$/ },
  ECDSA_SHA_384: { hash: 'sha384', specs: /^ECC_NIST_P384$/ },
  RSASSA_PSS_SHA_256: { hash: 'sha256', padding: constants.RSA_PKCS1_PSS_PADDING, salt: 32, specs: /^RSA_/ },
  RSASSA_PSS_SHA_384: { hash: 'sha384', padding: constants.RSA_PKCS1_PSS_PADDING, salt: 48, specs: /^RSA_/ },
  RSASSA_PKCS1_V1_5_SHA_256: { hash: 'sha256', padding: constants.RSA_PKCS1_PADDING, specs: /^RSA_/ },
  RSASSA_PKCS1_V1_5_SHA_384: { hash: 'sha384', padding: constants.RSA_PKCS1_PADDING, specs: /^RSA_/ },
};

/** DER DigestInfo prefixes (RFC 8017 §9.2) for PKCS#1 v1.5 signatures over a digest. */
const DIGEST_INFO: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
};

const b64 = (value: unknown, what: string): Buffer => {
  if (typeof value !== 'string') throw new AwsError('ValidationException', `${what} is required`);
  return Buffer.from(value, 'base64');
};

/** The encryption context as AAD: canonical (sorted) JSON, so the same pairs in any order decrypt. */
const contextAad = (context: unknown): Buffer =>
  Buffer.from(
    JSON.stringify(Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1))),
  );

export class FakeKms {
  readonly keys = new Map<string, FakeKey>();
  /** alias name (`alias/...`) → key id */
  readonly aliases = new Map<string, string>();
  endpoint?: Endpoint;

  constructor(readonly core: Core) {}

  async start(): Promise<void> {
    this.endpoint = await startEndpoint(this.core, {
      signingName: 'kms',
      protocol: 'json',
      handle: async (request) => jsonResponse(await this.#handle(request)),
    });
  }

  /** A key from an AWS::KMS::Key's resolved properties (or CreateKey), with fresh key material. */
  createKey(props: {
    KeySpec?: string;
    KeyUsage?: string;
    KeyPolicy?: Json;
    Tags?: { Key: string; Value: string }[];
    Enabled?: boolean;
  }): FakeKey {
    const keyId = randomUUID();
    const keySpec = props.KeySpec ?? 'SYMMETRIC_DEFAULT';
    const keyUsage = (props.KeyUsage ??
      (keySpec.startsWith('HMAC') ? 'GENERATE_VERIFY_MAC' : 'ENCRYPT_DECRYPT')) as FakeKey['keyUsage'];
    const key: FakeKey = {
      keyId,
      arn: `arn:aws:kms:${this.core.region}:${this.core.account}:key/${keyId}`,
      keySpec,
      keyUsage,
      policy: (props.KeyPolicy as unknown as PolicyDocument) ?? this.#defaultPolicy(),
      tags: Object.fromEntries((props.Tags ?? []).map((t) => [t.Key, t.Value])),
      state: props.Enabled === false ? 'Disabled' : 'Enabled',
    };
    if (keySpec.startsWith('ECC_NIST_P')) {
      const curve = { ECC_NIST_P256: 'prime256v1', ECC_NIST_P384: 'secp384r1', ECC_NIST_P521: 'secp521r1' }[keySpec];
      if (!curve) throw new AwsError('ValidationException', `KeySpec ${keySpec} is not supported by the harness`);
      Object.assign(key, generateKeyPairSync('ec', { namedCurve: curve }));
    } else if (keySpec.startsWith('RSA_')) {
      Object.assign(key, generateKeyPairSync('rsa', { modulusLength: Number(keySpec.slice(4)) }));
    } else if (keySpec.startsWith('HMAC_')) {
      key.secret = randomBytes(Number(keySpec.slice(5)) / 8);
    } else if (keySpec === 'SYMMETRIC_DEFAULT') {
      key.secret = randomBytes(32);
    } else {
      throw new AwsError('ValidationException', `KeySpec ${keySpec} is not supported by the harness`);
    }
    this.keys.set(keyId, key);
    return key;
  }

  /** The default key policy KMS gives a key created without one: the account's IAM policies decide. */
  #defaultPolicy(): PolicyDocument {
    return {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${this.core.account}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    };
  }

  createAlias(aliasName: string, keyId: string): void {
    if (!aliasName.startsWith('alias/') || aliasName.startsWith('alias/aws/')) {
      throw new AwsError('ValidationException', `alias ${aliasName} must begin with alias/ and not with alias/aws/`);
    }
    if (this.aliases.has(aliasName))
      throw new AwsError(
        'AlreadyExistsException',
        `An alias with the name ${this.#aliasArn(aliasName)} already exists`,
      );
    this.aliases.set(aliasName, this.#key(keyId).key.keyId);
  }

  #aliasArn(alias: string) {
    return `arn:aws:kms:${this.core.region}:${this.core.account}:${alias}`;
  }

  /** The key behind a key id, key ARN, alias name or alias ARN, and the alias used (for kms:RequestAlias). */
  #key(id: string): { key: FakeKey; alias?: string } {
    const aliasName = id.startsWith('alias/') ? id : /^arn:aws:kms:[^:]+:\d+:(alias\/.+)$/.exec(id)?.[1];
    if (aliasName) {
      const keyId = this.aliases.get(aliasName);
      if (!keyId) throw new AwsError('NotFoundException', `Alias ${this.#aliasArn(aliasName)} is not found.`);
      return { key: this.keys.get(keyId)!, alias: aliasName };
    }
    const keyId = id.startsWith('arn:') ? id.slice(id.lastIndexOf('/') + 1) : id;
    const key = this.keys.get(keyId);
    if (!key) throw new AwsError('NotFoundException', `Key '${this.#aliasArn(`key/${keyId}`)}' does not exist`);
    return { key };
  }

  aliasesOf(key: FakeKey): string[] {
    return [...this.aliases].filter(([, id]) => id === key.keyId).map(([alias]) => alias);
  }

  async #authorizeKey(
    request: FakeRequest,
    operation: string,
    key: FakeKey,
    alias: string | undefined,
    context: Record<string, string | string[]> = {},
  ): Promise<void> {
    const aliases = this.aliasesOf(key);
    await authorize(
      this.core,
      'kms',
      { code: 'AccessDeniedException', status: 400 },
      request.caller,
      `kms:${operation}`,
      key.arn,
      {
        resourcePolicy: key.policy,
        context: {
          'kms:CallerAccount': this.core.account,
          'kms:KeySpec': key.keySpec,
          'kms:KeyUsage': key.keyUsage,
          'kms:KeyOrigin': 'AWS_KMS',
          ...(aliases.length > 0 ? { 'kms:ResourceAliases': aliases } : {}),
          ...(alias ? { 'kms:RequestAlias': alias } : {}),
          ...Object.fromEntries(Object.entries(key.tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v])),
          ...context,
        },
      },
    );
    if (key.state === 'Disabled') throw new AwsError('DisabledException', `${key.arn} is disabled.`);
    if (key.state === 'PendingDeletion')
      throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
  }

  #usage(key: FakeKey, usage: FakeKey['keyUsage'], operation: string): void {
    if (key.keyUsage !== usage) {
      throw new AwsError(
        'InvalidKeyUsageException',
        `${key.arn} key usage is ${key.keyUsage} which is not valid for ${operation}.`,
      );
    }
  }

  async #handle(request: FakeRequest): Promise<unknown> {
    const { operation, input } = jsonOperation(request);
    const keyOf = () => this.#key(String(input.KeyId ?? ''));
    switch (operation) {
      case 'DescribeKey': {
        const { key, alias } = keyOf();
        await this.#authorizeKey(request, operation, key, alias);
        return {
          KeyMetadata: {
            AWSAccountId: this.core.account,
            KeyId: key.keyId,
            Arn: key.arn,
            KeySpec: key.keySpec,
            KeyUsage: key.keyUsage,
            KeyState: key.state,
            Enabled: key.state === 'Enabled',
            Origin: 'AWS_KMS',
            KeyManager: 'CUSTOMER',
          },
        };
      }
      case 'GetPublicKey': {
        const { key, alias } = keyOf();
        await this.#authorizeKey(request, operation, key, alias);
        if (!key.publicKey)
          throw new AwsError(
            'UnsupportedOperationException',
            `${key.arn} key usage is not supported for GetPublicKey.`,
          );
        return {
          KeyId: key.arn,
          KeySpec: key.keySpec,
          KeyUsage: key.keyUsage,
          PublicKey: key.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
          SigningAlgorithms: Object.entries(SIGNING)
            .filter(([, s]) => s.specs.test(key.keySpec))
            .map(([name]) => name),
        };
      }
      case 'Sign':
      case 'Verify': {
        const { key, alias } = keyOf();
        const algorithm = String(input.SigningAlgorithm ?? '');
        const messageType = String(input.MessageType ?? 'RAW');
        await this.#authorizeKey(request, operation, key, alias, {
          'kms:SigningAlgorithm': algorithm,
          'kms:MessageType': messageType,
        });
        this.#usage(key, 'SIGN_VERIFY', operation);
        const spec = SIGNING[algorithm];
        if (!spec?.specs.test(key.keySpec)) {
          throw new AwsError(
            'InvalidKeyUsageException',
            `Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`,
          );
        }
        const message = b64(input.Message, 'Message');
        if (messageType === 'RAW' && message.length > 4096)
          throw new AwsError('ValidationException', 'Message exceeds 4096 bytes');
        const keyOptions = { padding: spec.padding, saltLength: spec.salt };
        if (operation === 'Sign') {
          let signature: Buffer;
          if (messageType === 'RAW')
            signature = signMessage(spec.hash, message, { key: key.privateKey!, ...keyOptions });
          else if (spec.padding === constants.RSA_PKCS1_PADDING) {
            signature = privateEncrypt(
              { key: key.privateKey!, padding: constants.RSA_PKCS1_PADDING },
              Buffer.concat([Buffer.from(DIGEST_INFO[spec.hash]!, 'hex'), message]),
            );
          } else
            throw new AwsError(
              'InternalFailure',
              `harness: MessageType DIGEST with ${algorithm} is not supported`,
              500,
              false,
            );
          return { KeyId: key.arn, Signature: signature.toString('base64'), SigningAlgorithm: algorithm };
        }
        if (messageType !== 'RAW')
          throw new AwsError('InternalFailure', 'harness: Verify supports RAW messages only', 500, false);
        const ok = verifyMessage(
          spec.hash,
          message,
          { key: key.publicKey!, ...keyOptions },
          b64(input.Signature, 'Signature'),
        );
        if (!ok) throw new AwsError('KMSInvalidSignatureException', '');
        return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: algorithm };
      }
      case 'GenerateMac':
      case 'VerifyMac': {
        const { key, alias } = keyOf();
        const algorithm = String(input.MacAlgorithm ?? '');
        await this.#authorizeKey(request, operation, key, alias, { 'kms:MacAlgorithm': algorithm });
        this.#usage(key, 'GENERATE_VERIFY_MAC', operation);
        const hash = { HMAC_SHA_224: 'sha224', HMAC_SHA_256: 'sha256', HMAC_SHA_384: 'sha384', HMAC_SHA_512: 'sha512' }[
          algorithm
        ];
        if (!hash || `HMAC_${hash.slice(3)}` !== key.keySpec) {
          throw new AwsError(
            'InvalidKeyUsageException',
            `Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`,
          );
        }
        const mac = createHmac(hash, key.secret!).update(b64(input.Message, 'Message')).digest();
        if (operation === 'GenerateMac')
          return { KeyId: key.arn, Mac: mac.toString('base64'), MacAlgorithm: algorithm };
        const given = b64(input.Mac, 'Mac');
        if (given.length !== mac.length || !timingSafeEqual(given, mac))
          throw new AwsError('KMSInvalidMacException', '');
        return { KeyId: key.arn, MacValid: true, MacAlgorithm: algorithm };
      }
      case 'Encrypt':
      case 'GenerateDataKey':
      case 'GenerateDataKeyWithoutPlaintext': {
        const { key, alias } = keyOf();
        const context = (input.EncryptionContext ?? {}) as Record<string, string>;
        await this.#authorizeKey(request, operation, key, alias, this.#contextKeys(context));
        this.#usage(key, 'ENCRYPT_DECRYPT', operation);
        if (key.keySpec !== 'SYMMETRIC_DEFAULT')
          throw new AwsError('InternalFailure', 'harness: asymmetric encryption is not supported', 500, false);
        const plaintext =
          operation === 'Encrypt'
            ? b64(input.Plaintext, 'Plaintext')
            : randomBytes(Number(input.NumberOfBytes ?? (input.KeySpec === 'AES_128' ? 16 : 32)));
        const blob = this.#seal(key, plaintext, context);
        if (operation === 'Encrypt')
          return { KeyId: key.arn, CiphertextBlob: blob.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
        return {
          KeyId: key.arn,
          CiphertextBlob: blob.toString('base64'),
          ...(operation === 'GenerateDataKey' ? { Plaintext: plaintext.toString('base64') } : {}),
        };
      }
      case 'Decrypt': {
        const blob = b64(input.CiphertextBlob, 'CiphertextBlob');
        const keyId = blob.subarray(0, 36).toString('ascii');
        const { key } = this.#key(keyId);
        if (input.KeyId !== undefined && this.#key(String(input.KeyId)).key !== key) {
          throw new AwsError(
            'IncorrectKeyException',
            'The key ID in the request does not identify a CMK that can perform this operation.',
          );
        }
        const context = (input.EncryptionContext ?? {}) as Record<string, string>;
        await this.#authorizeKey(request, operation, key, undefined, this.#contextKeys(context));
        try {
          const iv = blob.subarray(36, 48);
          const tag = blob.subarray(48, 64);
          const decipher = createDecipheriv('aes-256-gcm', key.secret!, iv);
          decipher.setAAD(contextAad(context));
          decipher.setAuthTag(tag);
          const plaintext = Buffer.concat([decipher.update(blob.subarray(64)), decipher.final()]);
          return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
        } catch {
          throw new AwsError('InvalidCiphertextException', '');
        }
      }
      case 'CreateKey': {
        const tags = (input.Tags ?? []) as { TagKey: string; TagValue: string }[];
        const context = {
          ...(input.KeySpec ? { 'kms:KeySpec': String(input.KeySpec) } : {}),
          ...(input.KeyUsage ? { 'kms:KeyUsage': String(input.KeyUsage) } : {}),
          ...Object.fromEntries(tags.map((t) => [`aws:RequestTag/${t.TagKey}`, t.TagValue])),
          ...(tags.length > 0 ? { 'aws:TagKeys': tags.map((t) => t.TagKey) } : {}),
        };
        // KMS: a CreateKey with Tags needs kms:TagResource as well.
        for (const action of tags.length > 0 ? ['kms:CreateKey', 'kms:TagResource'] : ['kms:CreateKey']) {
          await authorize(
            this.core,
            'kms',
            { code: 'AccessDeniedException', status: 400 },
            request.caller,
            action,
            '*',
            { context },
          );
        }
        const key = this.createKey({
          ...(input.KeySpec ? { KeySpec: String(input.KeySpec) } : {}),
          ...(input.KeyUsage ? { KeyUsage: String(input.KeyUsage) } : {}),
          ...(input.Policy ? { KeyPolicy: JSON.parse(String(input.Policy)) as Json } : {}),
          Tags: tags.map((t) => ({ Key: t.TagKey, Value: t.TagValue })),
        });
        return {
          KeyMetadata: {
            KeyId: key.keyId,
            Arn: key.arn,
            KeySpec: key.keySpec,
            KeyUsage: key.keyUsage,
            KeyState: key.state,
            Enabled: true,
          },
        };
      }
      case 'CreateAlias': {
        const aliasName = String(input.AliasName ?? '');
        const { key } = this.#key(String(input.TargetKeyId ?? ''));
        // CreateAlias needs permission on the alias and on the key.
        await authorize(
          this.core,
          'kms',
          { code: 'AccessDeniedException', status: 400 },
          request.caller,
          'kms:CreateAlias',
          this.#aliasArn(aliasName),
        );
        await this.#authorizeKey(request, 'CreateAlias', key, undefined);
        this.createAlias(aliasName, key.keyId);
        return {};
      }
      case 'ListAliases': {
        await authorize(
          this.core,
          'kms',
          { code: 'AccessDeniedException', status: 400 },
          request.caller,
          'kms:ListAliases',
          '*',
        );
        // Pages of `Limit` (KMS: 1-100, default 50), continued with the marker of the previous page.
        const all = [...this.aliases].sort(([a], [b]) => (a < b ? -1 : 1));
        const limit = Math.min(100, Math.max(1, Number(input.Limit ?? 50)));
        const start = input.Marker ? Number(input.Marker) : 0;
        const page = all.slice(start, start + limit);
        const more = start + limit < all.length;
        return {
          Aliases: page.map(([name, keyId]) => ({
            AliasName: name,
            AliasArn: this.#aliasArn(name),
            TargetKeyId: keyId,
          })),
          Truncated: more,
          ...(more ? { NextMarker: String(start + limit) } : {}),
        };
      }
      case 'ScheduleKeyDeletion': {
        const { key, alias } = keyOf();
        await this.#authorizeKey(request, operation, key, alias);
        key.state = 'PendingDeletion';
        return { KeyId: key.arn, KeyState: key.state };
      }
      default:
        throw new AwsError('UnknownOperationException', `harness: KMS ${operation} is not implemented`);
    }
  }

  #contextKeys(context: Record<string, string>): Record<string, string | string[]> {
    return {
      ...Object.fromEntries(Object.entries(context).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
      ...(Object.keys(context).length > 0 ? { 'kms:EncryptionContextKeys': Object.keys(context) } : {}),
    };
  }

  /** Ciphertext blob: key id (36) | IV (12) | GCM tag (16) | ciphertext, the context bound as AAD. */
  #seal(key: FakeKey, plaintext: Buffer, context: Record<string, string>): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.secret!, iv);
    cipher.setAAD(contextAad(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from(key.keyId, 'ascii'), iv, cipher.getAuthTag(), body]);
  }

  /** The public key of the key behind an alias (tests verify signatures with it). */
  publicKeyOf(alias: string): KeyObject {
    return this.#key(alias).key.publicKey!;
  }

  async stop(): Promise<void> {
    await this.endpoint?.close();
  }
}

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();
