import { decodeJwt } from 'jose';
import * as z from 'zod';
import { pollCibaGrant } from '../ciba/poll-ciba-grant.ts';
import { startBackchannelAuthentication } from '../ciba/start-backchannel-authentication.ts';
import { AccessDenied, NotFound, WireError } from '../errors.ts';
import { type HttpEvent, header } from '../http/event.ts';
import type { Client, Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';

/** The header a console request must carry: a cross-site form or a simple request cannot set it (CSRF). */
export const CONSOLE_HEADER = 'x-ciba-console';

export const ConsoleSendBody = z.strictObject({
  login_hint: z.string().trim().min(1).max(512),
  binding_message: z.string().max(1024).optional(),
  scope: z.string().max(256).optional(),
});

export const ConsolePollBody = z.strictObject({ auth_req_id: z.string().min(1).max(256) });

/**
 * The console is on in local mode (as the seeded demo client unless the tenant names another) and in AWS only
 * for tenants that set `console_client_id`. Returns the client it acts as.
 */
export const consoleClient = async (deps: Pick<Deps, 'clients' | 'config'>, tenant: Tenant): Promise<Client> => {
  const clientId = tenant.settings.consoleClientId ?? deps.config.capabilities.defaultConsoleClientId;
  const client = clientId ? await deps.clients.get(tenant.tenantId, clientId) : undefined;
  if (!client) throw new NotFound('the operator console is not enabled for this tenant');
  return client;
};

/**
 * CSRF: a console call is a JSON POST with the custom header from this very origin. Browsers send `Origin` on
 * every POST and `Sec-Fetch-Site` everywhere modern; a cross-site page could only send them with other values,
 * and setting the custom header cross-origin needs a CORS preflight that this service never grants.
 */
export const checkConsoleRequest = (event: HttpEvent, origin: string): void => {
  if (header(event, CONSOLE_HEADER) !== '1') throw new AccessDenied('console requests must carry X-CIBA-Console: 1');
  const requestOrigin = header(event, 'origin');
  if (requestOrigin !== undefined && requestOrigin !== origin) throw new AccessDenied('cross-origin console request');
  const site = header(event, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') throw new AccessDenied('cross-site console request');
};

/** Send: a backchannel request as the console's client, server side (the browser never holds its secret). */
export const consoleSend = async (
  deps: Deps,
  input: { tenant: Tenant; issuer: string; client: Client; body: z.infer<typeof ConsoleSendBody> },
) => {
  const { body } = input;
  const form: Record<string, string> = {
    scope: ['openid', ...(body.scope ?? '').split(/\s+/).filter((s) => s && s !== 'openid')].join(' '),
    login_hint: body.login_hint,
  };
  if (body.binding_message) form.binding_message = body.binding_message;
  try {
    const ack = await startBackchannelAuthentication(deps, { ...input, form });
    return { status: 'sent' as const, ...ack };
  } catch (error) {
    if (error instanceof WireError && error.status < 500) return { status: 'error' as const, ...error.toJSON() };
    throw error;
  }
};

/** One poll of the token endpoint as the console's client; the console sees the ID token's claims, not the tokens. */
export const consolePoll = async (
  deps: Deps,
  input: { tenant: Tenant; issuer: string; client: Client; body: z.infer<typeof ConsolePollBody> },
) => {
  try {
    const tokens = await pollCibaGrant(deps, {
      tenant: input.tenant,
      issuer: input.issuer,
      client: input.client,
      form: { grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: input.body.auth_req_id },
    });
    return { status: 'approved' as const, claims: decodeJwt(tokens.id_token), scope: tokens.scope };
  } catch (error) {
    if (!(error instanceof WireError) || error.status >= 500) throw error;
    switch (error.error) {
      case 'authorization_pending':
        return { status: 'pending' as const };
      case 'slow_down':
        return { status: 'pending' as const, slow_down: true };
      case 'access_denied':
        return { status: 'denied' as const };
      case 'expired_token':
        return { status: 'expired' as const };
      default:
        return { status: 'error' as const, ...error.toJSON() };
    }
  }
};
