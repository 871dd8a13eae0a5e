import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, Provider } from '@smithy/types';
import type { Authorizer, OutgoingRequest } from './http.ts';

/** The region of an `https://{id}.execute-api.{region}.amazonaws.com` URL, if it is one. */
export const regionFromUrl = (url: string): string | undefined =>
  /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(new URL(url).hostname)?.[1];

export interface SigV4Options {
  region: string;
  credentials: AwsCredentialIdentity | Provider<AwsCredentialIdentity>;
  service?: string;
}

/** Signs a request with SigV4 and returns the headers to send (`authorization`, `x-amz-date`, ...; no `host`). */
export const signRequest = async (request: OutgoingRequest, options: SigV4Options): Promise<Record<string, string>> => {
  const url = new URL(request.url);
  const signer = new SignatureV4({
    service: options.service ?? 'execute-api',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
  });
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const headers: Record<string, string> = { ...request.headers, host: url.host };
  const signed = await signer.sign({
    method: request.method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query,
    headers,
    ...(request.body !== undefined ? { body: request.body } : {}),
  });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) {
    if (k.toLowerCase() !== 'host') out[k] = v;
  }
  return out;
};

export const sigV4 =
  (options: SigV4Options): Authorizer =>
  (request) =>
    signRequest(request, options);
