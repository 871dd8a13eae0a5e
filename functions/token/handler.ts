import { pollCibaGrant } from '../../lib/ciba/poll-ciba-grant.ts';
import { InvalidRequest, SlowDown, UnsupportedGrantType } from '../../lib/errors.ts';
import { readClientRequest } from '../../lib/http/client-request.ts';
import { formBody, type HttpEvent } from '../../lib/http/event.ts';
import { httpFunction } from '../../lib/http/middleware.ts';
import { json, NO_STORE } from '../../lib/http/response.ts';
import { routeTable } from '../../lib/http/route-table.ts';
import { CIBA_GRANT_TYPE, REFRESH_TOKEN_GRANT_TYPE } from '../../lib/model.ts';
import { certificateBinding } from '../../lib/oauth/fapi.ts';
import { introspectToken } from '../../lib/oauth/introspection.ts';
import { refreshTokenGrant } from '../../lib/oauth/refresh-tokens.ts';
import { revokeToken } from '../../lib/oauth/revocation.ts';
import type { Deps } from '../../lib/ports.ts';

/** The ports this function uses: its Lambda entry builds only these. */
export type TokenDeps = Pick<
  Deps,
  | 'tenants'
  | 'clients'
  | 'users'
  | 'replay'
  | 'polls'
  | 'refreshTokens'
  | 'revocations'
  | 'keys'
  | 'events'
  | 'outbound'
  | 'clock'
  | 'logger'
  | 'config'
>;

/** CIBA §11: slow_down asks the client to add 5 s to its interval; Retry-After says the same. */
const SLOW_DOWN_RETRY_AFTER_SECONDS = 5;

/**
 * A transient failure of a dependency during a CIBA poll answers `400 slow_down` with Retry-After: the one answer
 * that makes a conformant client (openid-client, RFC 6749 clients) keep polling, a little slower, where a 5xx makes
 * it give up; nothing of the request is lost (a failed redemption is restored, lib/ciba/poll-ciba-grant.ts). Every
 * other request gets the envelope's 503.
 */
const transientAnswer = (event: HttpEvent) => {
  if (event.routeKey !== 'POST /{tenant}/oauth/token') return undefined;
  let grantType: string | undefined;
  try {
    grantType = formBody(event).grant_type;
  } catch {
    return undefined;
  }
  if (grantType !== CIBA_GRANT_TYPE) return undefined;
  return new SlowDown('the service is busy: poll again after the interval', {
    headers: { 'Retry-After': String(SLOW_DOWN_RETRY_AFTER_SECONDS) },
  });
};

/**
 * POST {issuer}/oauth/token: the CIBA grant (CIBA Core §10.1, §11) and refresh_token (RFC 6749 §6); also
 * POST {issuer}/oauth/revoke (RFC 7009) and POST {issuer}/oauth/introspect (RFC 7662), which authenticate clients
 * the same way. Errors are no-store too (the envelope's default).
 */
export const createHandler = (deps: TokenDeps) =>
  httpFunction(
    deps.logger,
    routeTable<'token'>({
      'POST /{tenant}/oauth/token': async (event) => {
        const { tenant, issuer, form, certificate, client } = await readClientRequest(deps, event);
        if (form.grant_type === undefined) throw new InvalidRequest('grant_type is required');
        if (form.grant_type !== CIBA_GRANT_TYPE && form.grant_type !== REFRESH_TOKEN_GRANT_TYPE) {
          throw new UnsupportedGrantType(`grant_type ${form.grant_type} is not supported`);
        }
        const thumbprint = certificateBinding(tenant, client, certificate);
        const input = { tenant, issuer, client, form, ...(thumbprint ? { certificateThumbprint: thumbprint } : {}) };
        const tokens =
          form.grant_type === CIBA_GRANT_TYPE ? await pollCibaGrant(deps, input) : await refreshTokenGrant(deps, input);
        return json(200, tokens, NO_STORE);
      },
      'POST /{tenant}/oauth/revoke': async (event) => {
        const { tenant, issuer, form, client } = await readClientRequest(deps, event);
        await revokeToken(deps, { tenant, issuer, client, form });
        return { statusCode: 200, headers: { ...NO_STORE }, body: '' };
      },
      'POST /{tenant}/oauth/introspect': async (event) => {
        const { tenant, issuer, form, client } = await readClientRequest(deps, event);
        return json(200, await introspectToken(deps, { tenant, issuer, client, form }), NO_STORE);
      },
    }),
    { transientAnswer },
  );
