import { matchesHash } from '../crypto.ts';
import type { Client } from '../model.ts';
import type { Directory } from '../ports.ts';
import { InvalidClient, InvalidRequest } from './errors.ts';

export const TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

interface Presented {
  method: 'client_secret_basic' | 'client_secret_post';
  clientId: string;
  secret: string;
}

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
const formDecode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '));

const parseBasic = (authorization: string): Presented => {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!match) throw InvalidClient('malformed Basic authorization header', true);
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw InvalidClient('malformed Basic authorization header', true);
  try {
    return {
      method: 'client_secret_basic',
      clientId: formDecode(decoded.slice(0, colon)),
      secret: formDecode(decoded.slice(colon + 1)),
    };
  } catch {
    throw InvalidClient('malformed Basic authorization header', true);
  }
};

/**
 * Authenticates the client of a token or backchannel request: exactly one method, the one the client
 * registered, and never none (public clients are refused: every CIBA request pushes to a person's phone).
 */
export const authenticateClient = async (
  directory: Directory,
  tenantId: string,
  authorization: string | undefined,
  form: Record<string, string>,
): Promise<Client> => {
  const usedBasic = authorization !== undefined && /^Basic\s/i.test(authorization);
  const methods = [usedBasic, form.client_secret !== undefined, form.client_assertion !== undefined].filter(Boolean);
  if (methods.length > 1) throw InvalidRequest('the client used more than one authentication method');
  if (form.client_assertion !== undefined || form.client_assertion_type !== undefined) {
    throw InvalidClient('client assertions are not accepted for this client', false);
  }

  let presented: Presented;
  if (usedBasic) {
    presented = parseBasic(authorization);
    if (form.client_id !== undefined && form.client_id !== presented.clientId) {
      throw InvalidRequest('client_id does not match the authenticated client');
    }
  } else if (form.client_secret !== undefined) {
    if (form.client_id === undefined) throw InvalidClient('client_id is missing', false);
    presented = { method: 'client_secret_post', clientId: form.client_id, secret: form.client_secret };
  } else {
    throw InvalidClient('client authentication is required', false);
  }

  const client = await directory.getClient(tenantId, presented.clientId);
  // The same answer for an unknown client, a wrong secret and a wrong method.
  const ok =
    client !== undefined &&
    client.tokenEndpointAuthMethod === presented.method &&
    matchesHash(presented.secret, client.secretHash);
  if (!ok || !client) throw InvalidClient('client authentication failed', usedBasic);
  return client;
};
