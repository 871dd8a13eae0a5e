import { createHash, X509Certificate } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Client, Tenant, TlsClientAuthMatch } from '../model.ts';
import type { RuntimeConfig } from '../ports.ts';
import { type ClientKeyOptions, clientJwks } from './client-keys.ts';

/** A client certificate presented on the TLS connection, with its RFC 8705 §3.1 `x5t#S256` thumbprint. */
export interface PresentedCertificate {
  x509: X509Certificate;
  thumbprint: string;
}

/** A certificate the TLS layer handed over (lib/http/client-certificate.ts), with its thumbprint; undefined if unreadable. */
export const certificateFromPem = (pem: string | undefined): PresentedCertificate | undefined => {
  if (!pem) return undefined;
  try {
    const x509 = new X509Certificate(pem);
    return { x509, thumbprint: createHash('sha256').update(x509.raw).digest('base64url') };
  } catch {
    return undefined;
  }
};

/** The mutual-TLS base URL of a tenant: its setting, else the local HTTPS listener's. */
export const mtlsBaseUrl = (tenant: Tenant, config: Pick<RuntimeConfig, 'mtls'>): string | undefined =>
  (tenant.settings.mtlsBaseUrl ?? config.mtls?.baseUrl)?.replace(/\/+$/, '');

const ATTRIBUTE_ALIASES: Record<string, string> = {
  EMAIL: 'EMAILADDRESS',
  E: 'EMAILADDRESS',
  'EMAIL ADDRESS': 'EMAILADDRESS',
  S: 'ST',
  DC: 'DC',
};

const unescapeDn = (value: string) => value.trim().replace(/\\(.)/g, '$1');

/** RDNs as `TYPE=value` (type upper-cased, value lower-cased and unescaped) from `sep`-separated text. */
const rdns = (text: string, separator: RegExp): string[] =>
  text
    .split(separator)
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      const type = part.slice(0, eq).trim().toUpperCase();
      return `${ATTRIBUTE_ALIASES[type] ?? type}=${unescapeDn(part.slice(eq + 1)).toLowerCase()}`;
    });

/**
 * RFC 8705 §2.1.2: the registered subject DN (an RFC 4514 string, most specific RDN first) against the certificate's
 * subject (Node lists it most significant first, one RDN a line). Attribute values compare case-insensitively.
 */
export const subjectDnMatches = (registered: string, x509: X509Certificate): boolean => {
  const cert = rdns(x509.subject, /\n/);
  const wanted = rdns(registered, /(?<!\\),/);
  if (wanted.length !== cert.length) return false;
  const same = (a: string[]) => a.every((v, i) => v === cert[i]);
  return same([...wanted].reverse()) || same(wanted);
};

/** The certificate's subjectAltName entries by type (`DNS`, `URI`, `IP Address`, `email`). */
const altNames = (x509: X509Certificate): { type: string; value: string }[] => {
  const out: { type: string; value: string }[] = [];
  for (const m of (x509.subjectAltName ?? '').matchAll(/(DNS|URI|IP Address|email):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    let value = m[2]!.trim();
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    out.push({ type: m[1]!, value });
  }
  return out;
};

/** RFC 8705 §2.1.2: exactly one of the registered fields, matched against the certificate. */
export const tlsClientAuthMatches = (match: TlsClientAuthMatch, x509: X509Certificate): boolean => {
  if (match.subjectDn !== undefined) return subjectDnMatches(match.subjectDn, x509);
  const names = altNames(x509);
  const has = (type: string, wanted: string, fold: boolean) =>
    names.some((n) => n.type === type && (fold ? n.value.toLowerCase() === wanted.toLowerCase() : n.value === wanted));
  if (match.sanDns !== undefined) return has('DNS', match.sanDns, true);
  if (match.sanUri !== undefined) return has('URI', match.sanUri, false);
  if (match.sanIp !== undefined) return has('IP Address', match.sanIp, true);
  if (match.sanEmail !== undefined) return has('email', match.sanEmail, true);
  return false;
};

/**
 * tls_client_auth needs a certificate a trusted CA issued. In AWS, API Gateway's truststore validated the chain
 * before the request reached us. Locally the HTTPS listener lets every certificate through (so that self-signed
 * ones reach self_signed_tls_client_auth), and the chain is checked here against CIBA_TLS_CA, with the validity
 * period.
 */
export const issuedByTrustedCa = (x509: X509Certificate, config: RuntimeConfig, now: number): boolean => {
  if (config.capabilities.clientCertificatesVerifiedUpstream) return true;
  const validFrom = Date.parse(x509.validFrom);
  const validTo = Date.parse(x509.validTo);
  if (!(validFrom <= now && now <= validTo)) return false;
  for (const pem of config.mtls?.trustedCaPems ?? []) {
    try {
      const ca = new X509Certificate(pem);
      if (x509.checkIssued(ca) && x509.verify(ca.publicKey)) return true;
    } catch {
      // an unreadable CA certificate trusts nothing
    }
  }
  return false;
};

/** RFC 8705 §2.2: the certificate's public key is one of the client's registered keys. */
export const certificateKeyRegistered = async (
  client: Client,
  x509: X509Certificate,
  options: ClientKeyOptions,
): Promise<boolean> => {
  const presented = await calculateJwkThumbprint(x509.publicKey.export({ format: 'jwk' }) as JWK);
  const matches = async (refresh: boolean) => {
    let keys: JWK[];
    try {
      ({ keys } = await clientJwks(client, { ...options, refresh }));
    } catch {
      return false; // an unreachable or invalid jwks_uri authenticates nobody
    }
    for (const key of keys) {
      try {
        if ((await calculateJwkThumbprint(key as JWK)) === presented) return true;
      } catch {
        // a key of another type, or malformed: not this one
      }
    }
    return false;
  };
  // A key the cached set lacks may be a rotation: refresh a jwks_uri once (jose's cooldown applies).
  return (await matches(false)) || (client.jwksUri !== undefined && (await matches(true)));
};
