import { secretsEqual } from '../crypto.ts';
import { InvalidToken } from '../errors.ts';
import type { RuntimeConfig } from '../ports.ts';
import { type HttpEvent, header } from './event.ts';

/**
 * Admin routes: in AWS API Gateway has already verified the caller's SigV4 signature (IAM authorizer);
 * locally the caller presents CIBA_ADMIN_TOKEN, compared in constant time.
 */
export const authorizeAdmin = (event: HttpEvent, config: RuntimeConfig): void => {
  const deny = (description: string) =>
    new InvalidToken(description, { headers: { 'WWW-Authenticate': 'Bearer realm="ciba-admin"' } });
  if (config.capabilities.iamAdminAuthorization) {
    const iam = (event.requestContext as { authorizer?: { iam?: unknown } }).authorizer?.iam;
    if (!iam) throw deny('admin requests must be signed with AWS SigV4');
    return;
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header(event, 'authorization') ?? '');
  if (!match || !config.adminToken || !secretsEqual(match[1]!, config.adminToken)) {
    throw deny('a valid admin bearer token is required');
  }
};
