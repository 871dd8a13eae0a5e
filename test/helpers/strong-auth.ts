import { randomUUID, webcrypto } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
// @peculiar/x509 needs the Reflect metadata polyfill loaded first (its README).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { type LocalService, startLocalService } from '../../lib/local/app.ts';
import { jsonLogger } from '../../lib/logging.ts';
import type { Clock } from '../../lib/ports.ts';
import { ADMIN_TOKEN, type TestService } from './service.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

const pem = (label: string, der: ArrayBuffer) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`;

const exportKeyPem = async (key: webcrypto.CryptoKey) =>
  pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));

/** A certificate (PEM) and its private key (PEM), with the key pair for JWK comparisons. */
export interface CertAndKey {
  cert: string;
  key: string;
  keys: webcrypto.CryptoKeyPair;
}

const newKeys = () => webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
// A day either side: the AWS-shape harness's clock (which `Date` follows) runs ahead of the real time that TLS checks
// certificates against, by what its tests advance it.
const validity = () => ({ notBefore: new Date(Date.now() - 86_400_000), notAfter: new Date(Date.now() + 86_400_000) });

/** A test PKI: a CA, the local HTTPS listener's certificate (127.0.0.1) and issuing of client certificates. */
export class TestPki {
  private constructor(
    readonly ca: CertAndKey,
    readonly server: CertAndKey,
  ) {}

  static async create(): Promise<TestPki> {
    const caKeys = await newKeys();
    const caCert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=CIBA Test CA',
      ...validity(),
      signingAlgorithm: SIGN,
      keys: caKeys as unknown as CryptoKeyPair,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ],
    });
    const ca = { cert: caCert.toString('pem'), key: await exportKeyPem(caKeys.privateKey), keys: caKeys };
    const pki = new TestPki(ca, undefined as unknown as CertAndKey);
    const server = await pki.issue('CN=127.0.0.1', [{ type: 'ip', value: '127.0.0.1' }]);
    return new TestPki(ca, server);
  }

  /** A certificate issued by the CA. */
  async issue(
    subject: string,
    san: { type: 'dns' | 'ip' | 'email' | 'url'; value: string }[] = [],
  ): Promise<CertAndKey> {
    const keys = await newKeys();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: Buffer.from(randomUUID().replace(/-/g, '').slice(0, 16), 'hex').toString('hex'),
      subject,
      issuer: 'CN=CIBA Test CA',
      ...validity(),
      signingAlgorithm: SIGN,
      publicKey: keys.publicKey as unknown as CryptoKey,
      signingKey: this.ca.keys.privateKey as unknown as CryptoKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        ...(san.length > 0 ? [new x509.SubjectAlternativeNameExtension(san)] : []),
      ],
    });
    return { cert: cert.toString('pem'), key: await exportKeyPem(keys.privateKey), keys };
  }

  /** A self-signed certificate (self_signed_tls_client_auth) and its public key as a JWK. */
  static async selfSigned(subject: string): Promise<CertAndKey & { jwk: JWK }> {
    const keys = await newKeys();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '02',
      name: subject,
      ...validity(),
      signingAlgorithm: SIGN,
      keys: keys as unknown as CryptoKeyPair,
    });
    const jwk = (await exportJWK(keys.publicKey as unknown as CryptoKey)) as JWK;
    return { cert: cert.toString('pem'), key: await exportKeyPem(keys.privateKey), keys, jwk };
  }
}

/** The local service with its mutual-TLS listener, store in memory. */
export const startMtlsService = async (pki: TestPki, opts: { clock?: Clock } = {}) => {
  const logs: string[] = [];
  const service: LocalService = await startLocalService({
    port: 0,
    dataDir: 'memory',
    adminToken: ADMIN_TOKEN,
    logger: jsonLogger({ level: 'debug', write: (line) => logs.push(line) }),
    tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, port: 0 },
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };
  const svc: TestService & { tlsUrl: string } = {
    url: service.url,
    tlsUrl: service.tlsUrl!,
    service,
    logs,
    admin,
    stop: () => service.stop(),
  };
  return svc;
};

export interface HttpAnswer {
  status: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

/** A request over TLS, presenting `client` (certificate and key) when given; the server is trusted through the CA. */
export const tlsRequest = (
  url: string,
  input: {
    ca: string;
    client?: { cert: string; key: string };
    method?: string;
    form?: Record<string, string>;
    headers?: Record<string, string>;
  },
): Promise<HttpAnswer> =>
  new Promise((resolve, reject) => {
    const body = input.form ? new URLSearchParams(input.form).toString() : undefined;
    const req = httpsRequest(
      url,
      {
        method: input.method ?? (body !== undefined ? 'POST' : 'GET'),
        ca: input.ca,
        ...(input.client ? { cert: input.client.cert, key: input.client.key } : {}),
        agent: false,
        headers: {
          ...(body !== undefined ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
          ...input.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });

/** A client's key pair, its public JWK (with kid and alg) for registration. */
export interface ClientKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export const clientKey = async (alg = 'ES256'): Promise<ClientKey> => {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { alg, kid, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
};

/** Signs claims as a client JWT, with standard defaults that a test overrides (`undefined` removes one). */
export const signClientJwt = async (
  key: ClientKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> => {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { iat: now, nbf: now, exp: now + 300, jti: randomUUID(), ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
};

/** A private_key_jwt client assertion (iss = sub = client_id, aud = the issuer unless overridden). */
export const clientAssertion = (
  key: ClientKey,
  clientId: string,
  aud: string | string[],
  extra: Record<string, unknown> = {},
) => signClientJwt(key, { iss: clientId, sub: clientId, aud, nbf: undefined, ...extra });

export const assertionForm = async (
  key: ClientKey,
  clientId: string,
  aud: string,
  extra: Record<string, unknown> = {},
) => ({
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  client_assertion: await clientAssertion(key, clientId, aud, extra),
});

/** An unsigned JWT (`alg: none`). */
export const unsignedJwt = (claims: Record<string, unknown>) =>
  `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
