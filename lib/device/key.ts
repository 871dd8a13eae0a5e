import { calculateJwkThumbprint, type JWK } from 'jose';

/** The public part of a P-256 key, exactly the members a DPoP `jwk` header and RFC 7638 use. */
export interface PublicEcJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** A private P-256 JWK as WebCrypto exports it (the public members plus `d`). */
export interface PrivateEcJwk extends PublicEcJwk {
  d: string;
}

const ALGORITHM: EcKeyImportParams = { name: 'ECDSA', namedCurve: 'P-256' };

const subtle = (): SubtleCrypto => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (globalThis.crypto.subtle) is not available: use a secure context or Node 20+');
  return s;
};

const toPublicJwk = (jwk: JsonWebKey): PublicEcJwk => {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new TypeError('expected a P-256 EC key');
  }
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
};

/**
 * A device's P-256 signing key. The RFC 7638 thumbprint of its public key is the `device_id` the
 * service knows it by.
 */
export class DeviceKey {
  private constructor(
    readonly privateKey: CryptoKey,
    readonly publicJwk: PublicEcJwk,
    /** The RFC 7638 SHA-256 thumbprint of `publicJwk`: the device id. */
    readonly thumbprint: string,
  ) {}

  /** The device id (the key's RFC 7638 thumbprint). */
  get deviceId(): string {
    return this.thumbprint;
  }

  /** Whether `exportPrivateJwk()` works (Node key files); browser keys stay non-extractable. */
  get extractable(): boolean {
    return this.privateKey.extractable;
  }

  /**
   * Generates a new key pair. Keep `extractable` false (the default) in the browser, where the
   * CryptoKey itself is stored in IndexedDB; Node needs true to save the key to a file.
   */
  static async generate(options: { extractable?: boolean } = {}): Promise<DeviceKey> {
    const pair = (await subtle().generateKey(ALGORITHM, options.extractable ?? false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    return DeviceKey.fromCryptoKeyPair(pair);
  }

  /** Wraps an existing key pair (for example one loaded from IndexedDB). */
  static async fromCryptoKeyPair(pair: CryptoKeyPair): Promise<DeviceKey> {
    const publicJwk = toPublicJwk(await subtle().exportKey('jwk', pair.publicKey));
    return new DeviceKey(pair.privateKey, publicJwk, await calculateJwkThumbprint(publicJwk as JWK, 'sha256'));
  }

  /** Imports a private JWK (as written by `exportPrivateJwk`). */
  static async fromPrivateJwk(jwk: PrivateEcJwk, options: { extractable?: boolean } = {}): Promise<DeviceKey> {
    const publicJwk = toPublicJwk(jwk);
    if (typeof jwk.d !== 'string') throw new TypeError('expected a private key (missing d)');
    const privateKey = await subtle().importKey(
      'jwk',
      { ...publicJwk, d: jwk.d, ext: options.extractable ?? true },
      ALGORITHM,
      options.extractable ?? true,
      ['sign'],
    );
    return new DeviceKey(privateKey, publicJwk, await calculateJwkThumbprint(publicJwk as JWK, 'sha256'));
  }

  /** The private JWK (kty, crv, x, y, d); fails for non-extractable keys. */
  async exportPrivateJwk(): Promise<PrivateEcJwk> {
    const jwk = await subtle().exportKey('jwk', this.privateKey);
    if (typeof jwk.d !== 'string') throw new Error('the private key did not export');
    return { ...toPublicJwk(jwk), d: jwk.d };
  }
}
