import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * SigV4 verification for the harness's fake endpoints (and the API's IAM authorizer): the request is signed again
 * with the secret of the access key it names, by the SDK's own signer, and the signatures must match. That is how a
 * fake learns who called (the function's role) and proves the bundle signed for the right service and region.
 */

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface IncomingSignedRequest {
  method: string;
  /** The path as received (still percent-encoded) and the raw query string. */
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Why a signature is refused, with the AWS error code each service answers. */
export class SignatureError extends Error {
  constructor(
    readonly code:
      | 'MissingAuthenticationToken'
      | 'UnrecognizedClientException'
      | 'InvalidSignatureException'
      | 'SignatureDoesNotMatch',
    message: string,
  ) {
    super(message);
  }
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

const header = (headers: IncomingSignedRequest['headers'], name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** `x-amz-date` (`20260102T030405Z`) as epoch ms. */
const amzDate = (value: string): number =>
  Date.UTC(
    Number(value.slice(0, 4)),
    Number(value.slice(4, 6)) - 1,
    Number(value.slice(6, 8)),
    Number(value.slice(9, 11)),
    Number(value.slice(11, 13)),
    Number(value.slice(13, 15)),
  );

/**
 * Verifies the request's SigV4 signature and returns the access key it was signed with. `lookup` gives the
 * credentials of a known access key. AWS refuses a request more than 15 minutes off its clock.
 */
export const verifySigV4 = async (
  request: IncomingSignedRequest,
  expected: { service: string; region: string; now: number },
  lookup: (accessKeyId: string) => Credentials | undefined,
): Promise<Credentials> => {
  const authorization = header(request.headers, 'authorization');
  if (!authorization) throw new SignatureError('MissingAuthenticationToken', 'Missing Authentication Token');
  const m = AUTH.exec(authorization);
  if (!m) throw new SignatureError('InvalidSignatureException', 'Authorization header is not a SigV4 signature');
  const [, accessKeyId, day, region, service, signedHeaders, signature] = m as unknown as string[];
  const credentials = lookup(accessKeyId!);
  if (!credentials) {
    throw new SignatureError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (credentials.sessionToken && header(request.headers, 'x-amz-security-token') !== credentials.sessionToken) {
    throw new SignatureError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (service !== expected.service || region !== expected.region) {
    throw new SignatureError(
      'InvalidSignatureException',
      `Credential should be scoped to a valid region and service: expected ${expected.region}/${expected.service}, got ${region}/${service}`,
    );
  }
  const date = header(request.headers, 'x-amz-date');
  if (!date?.startsWith(day!))
    throw new SignatureError(
      'InvalidSignatureException',
      'x-amz-date is missing or does not match the credential scope',
    );
  const signedAt = amzDate(date);
  if (Math.abs(signedAt - expected.now) > 15 * 60_000) {
    throw new SignatureError(
      'InvalidSignatureException',
      'Signature expired: the request time is more than 15 minutes from the server time',
    );
  }
  const names = signedHeaders!.split(';');
  if (!names.includes('host')) throw new SignatureError('InvalidSignatureException', "'Host' must be a signed header");
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = header(request.headers, name);
    if (value === undefined) throw new SignatureError('InvalidSignatureException', `signed header ${name} is missing`);
    headers[name] = value;
  }
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(request.query)) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const signer = new SignatureV4({ service: service!, region: region!, credentials, sha256: Sha256 });
  const host = headers.host!;
  const resigned = await signer.sign(
    {
      method: request.method,
      protocol: 'https:',
      hostname: host.replace(/:\d+$/, ''),
      path: request.path,
      query,
      headers,
      body: request.body.length > 0 ? request.body : undefined,
    },
    { signingDate: new Date(signedAt) },
  );
  const again = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers.authorization))?.[1];
  if (again !== signature) {
    throw new SignatureError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return credentials;
};
