import { compactVerify, createLocalJWKSet, decodeProtectedHeader, errors } from 'jose';
import { InvalidRequest, UnknownUserId } from '../errors.ts';
import { parseJsonText } from '../json-input.ts';
import type { Client } from '../model.ts';
import type { DeviceStore, TenantStore, UserStore } from '../persistence.ts';
import type { Clock, Keys, OutboundHttp, RuntimeConfig } from '../ports.ts';
import { soleMatch } from './hint-match.ts';
import { resolveLoginHintToken } from './login-hint-token.ts';

const E164 = /^\+[1-9]\d{1,14}$/;

/** The stores a hint is looked up in. */
type HintDirectory = {
  users: Pick<UserStore, 'get' | 'findByEmail' | 'findByPhone'>;
  devices: Pick<DeviceStore, 'get'>;
};
const EMAIL = /^[^\s@]+@[^\s@]+$/;

export type Hints = { login_hint?: string; login_hint_token?: string; id_token_hint?: string };

/** CIBA §7.1/§7.2: exactly one of login_hint, login_hint_token, id_token_hint. */
export const exactlyOneHint = (form: Hints): void => {
  const n = [form.login_hint, form.login_hint_token, form.id_token_hint].filter((h) => h !== undefined).length;
  if (n === 0) throw new InvalidRequest('one of login_hint, login_hint_token or id_token_hint is required');
  if (n > 1) throw new InvalidRequest('only one of login_hint, login_hint_token or id_token_hint may be sent');
};

const parseIssSub = (hint: string): { iss: string; sub: string } | undefined => {
  let value: unknown;
  try {
    value = parseJsonText(hint, 'login_hint');
  } catch {
    // not JSON, or JSON the service refuses (hardening rule 4): falls through to invalid_request
    return undefined;
  }
  if (value && typeof value === 'object') {
    const { format, iss, sub } = value as Record<string, unknown>;
    if (format === 'iss_sub' && typeof iss === 'string' && typeof sub === 'string') return { iss, sub };
  }
  return undefined;
};

/**
 * Maps a login_hint (the formats in docs/clients.md) to a subject. Returns undefined when no user matches; the caller
 * answers unknown_user_id.
 */
const resolveLoginHint = async (
  directory: HintDirectory,
  tenantId: string,
  issuer: string,
  hint: string,
): Promise<string | undefined> => {
  if (hint.startsWith('{')) {
    const issSub = parseIssSub(hint);
    if (!issSub) throw new InvalidRequest('login_hint JSON must be {"format":"iss_sub","iss":...,"sub":...}');
    return issSub.iss === issuer ? issSub.sub : undefined;
  }
  const colon = hint.indexOf(':');
  const prefix = colon > 0 ? hint.slice(0, colon) : '';
  const value = hint.slice(colon + 1);
  switch (prefix) {
    case 'sub':
      return value;
    case 'email':
      return soleMatch(await directory.users.findByEmail(tenantId, value));
    case 'phone':
      if (!E164.test(value))
        throw new InvalidRequest('phone login_hint must be in E.164 form, e.g. phone:+15555550100');
      return soleMatch(await directory.users.findByPhone(tenantId, value));
    case 'device':
      return (await directory.devices.get(tenantId, value))?.sub;
    default: {
      // A plain user id; a bare email address or phone number is looked up as such when no sub matches. Any other
      // hint can only be a sub: whether that user exists is checked by the caller's write (admitUserRequest), so no
      // read here.
      if (!EMAIL.test(hint) && !E164.test(hint)) return hint;
      if (await directory.users.get(tenantId, hint)) return hint;
      if (EMAIL.test(hint)) return soleMatch(await directory.users.findByEmail(tenantId, hint));
      if (E164.test(hint)) return soleMatch(await directory.users.findByPhone(tenantId, hint));
      return undefined;
    }
  }
};

/** The token is not an ID token this issuer issued to this client: the only outcome answered 400. */
class InvalidIdTokenHint extends Error {}

/**
 * An ID token this tenant issued to this client (CIBA §7.1, §14): signature, `iss` and `aud` are checked;
 * an expired `exp` is accepted, as the hint only names the user. Only a token that fails these checks is
 * `invalid_request`; anything else (the tenant's keys cannot be read: KMS throttled or denied) is an unexpected
 * error that propagates, is logged and answered 500, so the alarm sees it.
 */
const resolveIdTokenHint = async (keys: Keys, tenantId: string, issuer: string, client: Client, token: string) => {
  const invalid = () =>
    new InvalidRequest('could not validate id_token_hint: it must be an ID token this issuer issued to this client');
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw invalid();
  }
  if (typeof alg !== 'string' || alg === 'none' || alg.startsWith('HS')) throw invalid();
  const jwks = createLocalJWKSet(await keys.publicJwks(tenantId));
  try {
    const { payload } = await compactVerify(token, jwks);
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss !== issuer || !aud.includes(client.clientId) || typeof claims.sub !== 'string') {
      throw new InvalidIdTokenHint();
    }
    return claims.sub;
  } catch (error) {
    // jose's errors (bad signature, no matching key, unsupported alg, malformed JWS), a payload that is not JSON,
    // or claims that do not fit: the hint is invalid. Anything else is not the hint's fault.
    if (error instanceof errors.JOSEError || error instanceof SyntaxError || error instanceof InvalidIdTokenHint) {
      throw invalid();
    }
    throw error;
  }
};

export const resolveSubject = async (
  deps: {
    users: Pick<UserStore, 'get' | 'findByEmail' | 'findByPhone'>;
    devices: Pick<DeviceStore, 'get'>;
    tenants: Pick<TenantStore, 'get'>;
    keys: Keys;
    outbound: Pick<OutboundHttp, 'request'>;
    clock?: Clock;
    config?: RuntimeConfig;
  },
  input: { tenantId: string; issuer: string; client: Client; hints: Hints },
): Promise<string> => {
  const { hints } = input;
  exactlyOneHint(hints);
  let sub: string | undefined;
  if (hints.login_hint !== undefined) {
    sub = await resolveLoginHint(deps, input.tenantId, input.issuer, hints.login_hint);
  } else if (hints.id_token_hint !== undefined) {
    sub = await resolveIdTokenHint(deps.keys, input.tenantId, input.issuer, input.client, hints.id_token_hint);
  } else {
    sub = await resolveLoginHintToken(deps, { ...input, token: hints.login_hint_token! });
  }
  if (sub === undefined || sub === '') throw new UnknownUserId('could not identify the end-user from the hint');
  return sub;
};
