import { CIBA_GRANT_TYPE } from '../model.ts';
import { type ClientSigner, clientAssertionParams, signRequestObject } from './client-jwt.ts';
import type { CliContext } from './context.ts';
import { ApiError, type Authorizer, apiErrorOf, request, send } from './http.ts';

export interface Discovery {
  issuer: string;
  token_endpoint: string;
  backchannel_authentication_endpoint: string;
  jwks_uri: string;
  [k: string]: unknown;
}

export const discover = async (ctx: Pick<CliContext, 'fetch'>, issuer: string): Promise<Discovery> => {
  const d = await request<Discovery>(ctx, `${issuer}/.well-known/openid-configuration`);
  for (const field of ['token_endpoint', 'backchannel_authentication_endpoint', 'jwks_uri'] as const) {
    if (typeof d?.[field] !== 'string') throw new ApiError(200, 'invalid_discovery', `discovery has no ${field}`);
  }
  return d;
};

/** RFC 6749 §2.3.1: form-urlencode id and secret, then Basic. */
export const basicAuthorization = (clientId: string, clientSecret: string): string => {
  const enc = (s: string) => new URLSearchParams({ v: s }).toString().slice(2);
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
};

export type ClientAuthMethod = 'basic' | 'post' | 'private_key_jwt';

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  method: ClientAuthMethod;
  /** private_key_jwt and signed requests: the client's private key. */
  signer?: ClientSigner;
  /** The issuer: the audience of assertions and request objects. */
  issuer?: string;
  /** Send the authentication request as a signed request object (CIBA §7.1.1). */
  signedRequest?: boolean;
}

/** withClientAuth, or a fresh private_key_jwt assertion (audience: the issuer) for every request. */
export const authenticatedForm = async (
  form: URLSearchParams,
  c: ClientCredentials,
): Promise<{ form: URLSearchParams; auth?: Authorizer }> => {
  if (c.method !== 'private_key_jwt') return withClientAuth(form, c);
  if (!c.signer || !c.issuer) throw new ApiError(0, 'invalid_option', 'private_key_jwt needs a key and the issuer');
  const f = new URLSearchParams(form);
  for (const [k, v] of Object.entries(await clientAssertionParams(c.signer, c.clientId, c.issuer))) f.set(k, v);
  return { form: f };
};

/** Adds client authentication: a Basic header, or client_id/client_secret in the form. */
export const withClientAuth = (
  form: URLSearchParams,
  c: ClientCredentials,
): { form: URLSearchParams; auth?: Authorizer } => {
  if (c.method === 'post') {
    const f = new URLSearchParams(form);
    f.set('client_id', c.clientId);
    f.set('client_secret', c.clientSecret);
    return { form: f };
  }
  const header = basicAuthorization(c.clientId, c.clientSecret);
  return { form, auth: async () => ({ authorization: header }) };
};

export interface BackchannelAck {
  auth_req_id: string;
  expires_in: number;
  interval?: number;
}

export interface AuthorizeParams {
  scope: string;
  login_hint?: string;
  /** CIBA §7.1: an ID token this issuer gave the client, naming the user. */
  id_token_hint?: string;
  /** CIBA §7.1: a JWT naming the user (this service: signed by the client's registered key). */
  login_hint_token?: string;
  binding_message?: string;
  acr_values?: string;
  user_code?: string;
  requested_expiry?: number;
  /** RFC 9396: a JSON array, as text. */
  authorization_details?: string;
  /** Ping and push clients (CIBA §7.1): the bearer token the service presents at the notification endpoint. */
  client_notification_token?: string;
}

export const buildAuthorizeForm = (p: AuthorizeParams): URLSearchParams => {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) if (v !== undefined) form.set(k, String(v));
  return form;
};

export const startBackchannel = async (
  ctx: Pick<CliContext, 'fetch'>,
  endpoint: string,
  credentials: ClientCredentials,
  params: AuthorizeParams,
): Promise<BackchannelAck> => {
  let body = buildAuthorizeForm(params);
  if (credentials.signedRequest) {
    if (!credentials.signer || !credentials.issuer) {
      throw new ApiError(0, 'invalid_option', 'a signed request needs the client key (--key-file)');
    }
    const jwt = await signRequestObject(credentials.signer, credentials.clientId, credentials.issuer, { ...params });
    body = new URLSearchParams({ request: jwt });
  }
  const { form, auth } = await authenticatedForm(body, credentials);
  const ack = await request<BackchannelAck>(ctx, endpoint, { form, ...(auth ? { auth } : {}) });
  if (typeof ack?.auth_req_id !== 'string') throw new ApiError(200, 'unexpected_response', 'no auth_req_id');
  return ack;
};

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  id_token?: string;
  refresh_token?: string;
  scope?: string;
  [k: string]: unknown;
}

export type PollOutcome =
  | { kind: 'tokens'; tokens: TokenResponse }
  | { kind: 'access_denied' | 'expired_token'; description?: string };

export interface PollOptions {
  tokenEndpoint: string;
  credentials: ClientCredentials;
  authReqId: string;
  /** Seconds between polls (the acknowledgement's `interval`, default 5). */
  interval?: number;
  /** Seconds from now until the request expires (the acknowledgement's `expires_in`). */
  expiresIn: number;
  /** Called before each wait with the interval in seconds and the expiry (epoch ms). */
  onWait?: (state: { interval: number; expiresAt: number; polls: number }) => void;
}

/** Grace after `expires_in` before the loop gives up without the server saying `expired_token`. */
const EXPIRY_GRACE_MS = 30_000;

/**
 * Polls the token endpoint (CIBA Core §10.1) until tokens, `access_denied` or `expired_token`: waits
 * `interval` before every poll, and adds 5 s on `slow_down` (or waits `Retry-After` when longer).
 * Any other error throws an ApiError.
 */
export const pollForTokens = async (
  ctx: Pick<CliContext, 'fetch' | 'sleep' | 'now'>,
  o: PollOptions,
): Promise<PollOutcome> => {
  let interval = o.interval && o.interval > 0 ? o.interval : 5;
  let wait = interval;
  const expiresAt = ctx.now() + o.expiresIn * 1000;
  const base = new URLSearchParams({ grant_type: CIBA_GRANT_TYPE, auth_req_id: o.authReqId });
  for (let polls = 0; ; polls++) {
    if (ctx.now() > expiresAt + EXPIRY_GRACE_MS) return { kind: 'expired_token', description: 'the request expired' };
    o.onWait?.({ interval: wait, expiresAt, polls });
    await ctx.sleep(wait * 1000);
    const { form, auth } = await authenticatedForm(base, o.credentials);
    const answer = await send<Record<string, unknown>>(ctx, o.tokenEndpoint, { form, ...(auth ? { auth } : {}) });
    if (answer.status === 200 && typeof answer.body?.['access_token'] === 'string') {
      return { kind: 'tokens', tokens: answer.body as TokenResponse };
    }
    const error = apiErrorOf(answer);
    switch (error.error) {
      case 'authorization_pending':
        wait = interval;
        break;
      case 'slow_down': {
        interval += 5;
        const retryAfter = Number(answer.headers.get('retry-after'));
        wait = Number.isFinite(retryAfter) && retryAfter > interval ? retryAfter : interval;
        break;
      }
      case 'access_denied':
      case 'expired_token':
        return { kind: error.error, ...(error.description !== undefined ? { description: error.description } : {}) };
      default:
        throw error;
    }
  }
};
