import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { APIGatewayEventClientCertificate } from 'aws-lambda';

/** Local HTTPS listeners (by local port) and the plain host that names the issuer for requests they carry. */
const canonicalHosts = new Map<number, string>();

/**
 * The mutual-TLS part of the API Gateway request context, as API Gateway fills it for a custom domain with
 * mutual TLS: the peer certificate of the TLS connection, never anything from a header.
 */
export const clientCertificateContext = (
  req: IncomingMessage,
): { authentication?: { clientCert: APIGatewayEventClientCertificate } } => {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket)) return {};
  const cert = socket.getPeerX509Certificate();
  if (!cert) return {};
  return {
    authentication: {
      clientCert: {
        clientCertPem: cert.toString(),
        subjectDN: cert.subject.split('\n').reverse().join(','),
        issuerDN: cert.issuer.split('\n').reverse().join(','),
        serialNumber: cert.serialNumber,
        validity: { notBefore: cert.validFrom, notAfter: cert.validTo },
      },
    },
  };
};

/**
 * A request that came in on the HTTPS listener names the same issuer as the plain listener (the mTLS host is an
 * alias, RFC 8705 §5): the event's domain is the plain listener's host.
 */
export const canonicalDomainName = (req: IncomingMessage): string | undefined =>
  req.socket instanceof TLSSocket && req.socket.localPort !== undefined
    ? canonicalHosts.get(req.socket.localPort)
    : undefined;

export interface LocalTlsOptions {
  /** PEM text of the server certificate (chain), its key, and the CA(s) that issue tls_client_auth certificates. */
  cert: string;
  key: string;
  ca?: string;
  port?: number;
  host?: string;
}

/** CIBA_TLS_CERT, CIBA_TLS_KEY, CIBA_TLS_CA (file paths) and CIBA_TLS_PORT (default 8443), when set. */
export const tlsOptionsFromEnv = (env: NodeJS.ProcessEnv): LocalTlsOptions | undefined => {
  if (!env.CIBA_TLS_CERT && !env.CIBA_TLS_KEY) return undefined;
  if (!env.CIBA_TLS_CERT || !env.CIBA_TLS_KEY) throw new Error('CIBA_TLS_CERT and CIBA_TLS_KEY go together');
  const port = env.CIBA_TLS_PORT ? Number(env.CIBA_TLS_PORT) : 8443;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`CIBA_TLS_PORT must be a port number`);
  return {
    cert: readFileSync(env.CIBA_TLS_CERT, 'utf8'),
    key: readFileSync(env.CIBA_TLS_KEY, 'utf8'),
    ...(env.CIBA_TLS_CA ? { ca: readFileSync(env.CIBA_TLS_CA, 'utf8') } : {}),
    port,
  };
};

/**
 * The optional local HTTPS listener with client certificates: every certificate is requested and let through
 * (`rejectUnauthorized: false`), so that self-signed ones reach self_signed_tls_client_auth; the application checks
 * tls_client_auth certificates against the CA itself (lib/oauth/mtls.ts). Requests go to the plain server's handler.
 */
/**
 * TLS 1.2 suites allowed (FAPI 1.0 Advanced §8.5, BCP 195): ECDHE/DHE with AES-GCM only; TLS 1.3 suites are all
 * AEAD and stay on. CBC, RSA key exchange and anything without forward secrecy are refused at the handshake.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
].join(':');

export const startTlsListener = async (
  plain: Server,
  canonicalHost: string,
  options: LocalTlsOptions,
): Promise<{ server: HttpsServer; url: string }> => {
  const server = createHttpsServer({
    cert: options.cert,
    key: options.key,
    ...(options.ca ? { ca: options.ca } : {}),
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    ciphers: TLS12_CIPHERS,
    honorCipherOrder: true,
    // The plain listener's limits on slow clients (lib/local/server.ts, hardening rule 9).
    headersTimeout: plain.headersTimeout,
    requestTimeout: plain.requestTimeout,
    connectionsCheckingInterval: 1_000,
  });
  server.on('request', (req, res) => plain.emit('request', req, res));
  server.on('clientError', (error, socket) => plain.emit('clientError', error, socket));
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  canonicalHosts.set(port, canonicalHost);
  server.once('close', () => canonicalHosts.delete(port));
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return { server, url: `https://${shownHost}:${port}` };
};

/** PEM blocks of a CA bundle, one certificate each. */
export const splitPemBundle = (bundle: string): string[] =>
  bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
