import { decodeJwt } from 'jose';
import * as z from 'zod';
import { cancelRequest } from '../ciba/cancel-request.ts';
import { pollCibaGrant, txnOf } from '../ciba/poll-ciba-grant.ts';
import { AdmissionRefused, reportShieldSeconds } from '../ciba/report-shield.ts';
import { startBackchannelAuthentication } from '../ciba/start-backchannel-authentication.ts';
import { AccessDenied, NotFound, WireError } from '../errors.ts';
import { type HttpEvent, header } from '../http/event.ts';
import type { Client, Tenant } from '../model.ts';
import { renderDetailDisplays } from '../oauth/display-template.ts';
import type { Deps } from '../ports.ts';

/** The header a console request must carry: a cross-site form or a simple request cannot set it (CSRF). */
export const CONSOLE_HEADER = 'x-ciba-console';

/** The registered authorization_details type the console's "A payment" sends (lib/local/seed.ts registers it). */
export const CONSOLE_PAYMENT_TYPE = 'payment_initiation';

export const ConsoleSendBody = z.strictObject({
  login_hint: z.string().trim().min(1).max(512),
  binding_message: z.string().max(1024).optional(),
  scope: z.string().max(256).optional(),
  /** A payment to confirm instead of the customer's identity alone: sent as a `payment_initiation` detail. */
  payment: z
    .strictObject({
      amount: z.string().trim().min(1).max(32),
      currency: z.string().trim().min(1).max(8),
      payee: z.string().trim().min(1).max(140),
      reference: z.string().trim().max(140).optional(),
    })
    .optional(),
});

export const ConsolePollBody = z.strictObject({ auth_req_id: z.string().min(1).max(256) });

/** Cancel: the operator stops waiting; the request is denied if still pending. */
export const ConsoleCancelBody = ConsolePollBody;

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

/** What the console's operations use: every port but those of tenant provisioning and device reports. */
type ConsoleDeps = Omit<Deps, 'platforms' | 'keysets' | 'shields'>;

/** What the console's page needs to word itself: the tenant's binding mode, its report shield, a payment type. */
export const consoleSettings = (tenant: Tenant) => ({
  bindingMode: tenant.settings.bindingCodeConfirmation ? ('type' as const) : ('compare' as const),
  reportShieldSeconds: reportShieldSeconds(tenant.settings),
  payments: Object.hasOwn(tenant.settings.authorizationDetailsTypes ?? {}, CONSOLE_PAYMENT_TYPE),
});

/**
 * Send: a backchannel request as the console's client, server side (the browser never holds its secret). The answer
 * says what the customer's screen shows (its kind and the rendered payment), and, for a refusal the operator can act
 * on, why: `no_device` (enroll the customer's phone first, or use another channel) or `shielded` (the customer
 * reported this console).
 */
export const consoleSend = async (
  deps: ConsoleDeps,
  input: { tenant: Tenant; issuer: string; client: Client; body: z.infer<typeof ConsoleSendBody> },
) => {
  const { body, tenant } = input;
  const form: Record<string, string> = {
    scope: ['openid', ...(body.scope ?? '').split(/\s+/).filter((s) => s && s !== 'openid')].join(' '),
    login_hint: body.login_hint,
  };
  if (body.binding_message) form.binding_message = body.binding_message;
  const details = body.payment && [
    {
      type: CONSOLE_PAYMENT_TYPE,
      instructedAmount: { amount: body.payment.amount, currency: body.payment.currency },
      creditorName: body.payment.payee,
      ...(body.payment.reference ? { remittanceInformation: body.payment.reference } : {}),
    },
  ];
  if (details) form.authorization_details = JSON.stringify(details);
  try {
    const ack = await startBackchannelAuthentication(deps, { ...input, form });
    return {
      status: 'sent' as const,
      ...ack,
      kind: details ? ('transaction' as const) : ('identity_check' as const),
      ...(details ? { display: renderDetailDisplays(details, tenant.settings.authorizationDetailsTypes ?? {}) } : {}),
    };
  } catch (error) {
    if (error instanceof AdmissionRefused) {
      return {
        status: 'error' as const,
        ...error.toJSON(),
        ...(error.refusal.refused === 'shielded'
          ? { reason: 'shielded' as const, until: Math.floor(error.refusal.until / 1000) }
          : { reason: 'no_device' as const }),
      };
    }
    if (error instanceof WireError && error.status < 500) return { status: 'error' as const, ...error.toJSON() };
    throw error;
  }
};

/** Cancel: the console stops waiting; a request still pending is denied, so the customer's phone stops showing it. */
export const consoleCancel = async (
  deps: ConsoleDeps,
  input: { tenant: Tenant; client: Client; body: z.infer<typeof ConsoleCancelBody> },
) => {
  try {
    return await cancelRequest(deps, { tenant: input.tenant, client: input.client, authReqId: input.body.auth_req_id });
  } catch (error) {
    if (error instanceof WireError && error.status < 500) return { state: 'error' as const, ...error.toJSON() };
    throw error;
  }
};

/** One poll of the token endpoint as the console's client; the console sees the ID token's claims, not the tokens. */
export const consolePoll = async (
  deps: ConsoleDeps,
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
      case 'access_denied': {
        // Denied, or reported ("I didn't ask for this"): the request says which.
        const txn = txnOf(input.body.auth_req_id);
        const request = txn ? await deps.requests.get(txn) : undefined;
        return { status: request?.status === 'reported' ? ('reported' as const) : ('denied' as const) };
      }
      case 'expired_token':
        return { status: 'expired' as const };
      default:
        return { status: 'error' as const, ...error.toJSON() };
    }
  }
};
