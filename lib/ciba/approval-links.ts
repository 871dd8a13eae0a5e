import * as z from 'zod';
import { randomToken, sha256 } from '../crypto.ts';
import { InvalidRequest, NotFound, RequestNotPending, UserVerificationRequired } from '../errors.ts';
import type { AuthRequest, Client, DeviceTransaction, LinkChannel, Tenant, User } from '../model.ts';
import type { Deps } from '../ports.ts';
import { bindingCodeMatches } from './binding-code.ts';
import { LINK_CHANNEL_CLAIM, smsDailyLimit } from './channels.ts';
import { bindingCodeRequired, countMismatch } from './confirm-approval.ts';
import { requestState, toDeviceTransaction } from './device-transactions.ts';
import {
  linkApprovalChallenge,
  linkApprovalRequestOptions,
  passkeyRequired,
  type RelyingParty,
  userPasskeyDevices,
  verifyLinkApprovalAssertion,
} from './passkey.ts';
import { reportShieldSeconds, shieldAfterReport } from './report-shield.ts';

/**
 * One-time approval links (docs/channels.md): a user without the app is sent `{issuer}/approve#{secret}` by email or
 * text message. The secret is 256 bits from the CSPRNG; only its SHA-256 is stored, and the link dies with the
 * request. It sits in the URL's fragment, which browsers never send: the page posts it, so it reaches no access log.
 *
 * Opening the link shows the request as the authenticator does (display templates, the binding message, or a field
 * for the binding code under number matching). Where the tenant requires user verification, approving needs an
 * assertion by one of the passkeys the user registered on their devices, over a challenge bound to the link; the
 * approval still carries the link's acr (the device key did not sign it). The decision is the same conditional write as a device's, so the first
 * decision on any channel wins and the link then only shows the outcome. A link that is unknown, tampered with, of
 * another tenant or of a request that no longer exists is one answer: 404 not_found.
 */

/** The approval page's calls: the link's secret (from the URL fragment) travels in the body, never in a URL. */
export const ApproveViewBody = z.strictObject({ link: z.string().min(1).max(100) });
export const ApproveDecideBody = z.strictObject({
  link: z.string().min(1).max(100),
  decision: z.enum(['approve', 'deny', 'report']),
  binding_code: z.string().min(1).max(100).optional(),
  /** Where the tenant requires user verification: the assertion (`PublicKeyCredential.toJSON()`) over the view's challenge. */
  webauthn: z.record(z.string(), z.unknown()).optional(),
});

/** The secret's size in bytes: 256 bits (at least 128 are required). */
const SECRET_BYTES = 32;
const NO_LINK = 'no such approval link';
/** What the evidence keeps of a user agent. */
const MAX_USER_AGENT = 512;

export const approvalLinkUrl = (issuer: string, secret: string): string => `${issuer}/approve#${secret}`;

/** The message of a link: names the tenant and the client, carries no token, says what to do if it was not them. */
export const linkMessage = (
  channel: LinkChannel,
  input: { tenantName: string; clientName: string; url: string; expiresAt: number },
): { subject: string; text: string } => {
  const until = new Date(input.expiresAt).toISOString().replace('T', ' ').slice(0, 16);
  const subject = `${input.tenantName}: ${input.clientName} asks you to confirm`;
  if (channel === 'sms') {
    return { subject, text: `${input.tenantName}: ${input.clientName} asks you to confirm. Open ${input.url}` };
  }
  return {
    subject,
    text: [
      `${input.clientName} asks you to confirm a request with ${input.tenantName}.`,
      '',
      `Open this link to see it, then approve or deny it: ${input.url}`,
      '',
      `The link works once and expires at ${until} UTC. If you did not ask for this, open it and choose "I didn't ask for this".`,
    ].join('\n'),
  };
};

/** What sending an approval link uses. */
export type ApprovalLinkDeps = Pick<Deps, 'links' | 'sender' | 'clock' | 'logger'>;

/**
 * What one process knows of the tenants' daily caps of text messages: per tenant, a UTC day and a cap it saw reached
 * that day. A day's count only grows, so any cap up to that one stays reached for the rest of the day: a link past it
 * is refused without a write (docs/deploy.md "Capacity"). A higher cap (the tenant's setting raised) or another day
 * asks the store again. One entry per tenant.
 */
export type TextCapMemory = Map<string, { day: string; cap: number }>;
export const textCapMemory = (): TextCapMemory => new Map();

/** This process's memory of each store (a Lambda instance's, or the local server's): what one store counted. */
const processTextCaps = new WeakMap<ApprovalLinkDeps['links'], TextCapMemory>();
const memoryOf = (links: ApprovalLinkDeps['links']): TextCapMemory => {
  const known = processTextCaps.get(links);
  if (known) return known;
  const memory = textCapMemory();
  processTextCaps.set(links, memory);
  return memory;
};
/** Tenants the memory keeps before it forgets them all. */
const TEXT_CAP_ENTRIES = 10_000;

const smsDay = (now: number) => new Date(now).toISOString().slice(0, 10);

const textCapReached = (
  deps: ApprovalLinkDeps,
  tenant: Tenant,
  request: AuthRequest,
  memory: TextCapMemory,
  day: string,
  cap: number,
): false => {
  if (memory.size >= TEXT_CAP_ENTRIES && !memory.has(tenant.tenantId)) memory.clear();
  memory.set(tenant.tenantId, { day, cap });
  deps.logger.warn('approval link not sent: the daily SMS limit is reached', {
    tenant: tenant.tenantId,
    txn: request.txn,
    metric: 'SmsDailyLimitReached',
  });
  return false;
};

/**
 * Sends the request by a link channel, once per request and channel. False when the user has no contact for it or the
 * channel was already used; a failed send is logged, never thrown (the request stands, and the client may poll).
 */
export const sendApprovalLink = async (
  deps: ApprovalLinkDeps,
  input: {
    tenant: Tenant;
    client: Pick<Client, 'clientId' | 'clientName'>;
    user: User;
    request: AuthRequest;
    channel: LinkChannel;
  },
  memory: TextCapMemory = memoryOf(deps.links),
): Promise<boolean> => {
  const { tenant, user, request, channel } = input;
  const to = user.claims[LINK_CHANNEL_CLAIM[channel]];
  if (typeof to !== 'string') return false;
  const day = smsDay(deps.clock.now());
  const cap = smsDailyLimit(tenant.settings);
  if (channel === 'sms') {
    // Known reached in this process: refused before any write (no link, no mark, no count).
    const known = memory.get(tenant.tenantId);
    if (known && known.day === day && cap <= known.cap) return textCapReached(deps, tenant, request, memory, day, cap);
  }
  const secret = randomToken(SECRET_BYTES);
  const issued = await deps.links.issue({
    hash: sha256(secret),
    tenantId: tenant.tenantId,
    txn: request.txn,
    sub: request.sub,
    channel,
    createdAt: deps.clock.now(),
    expiresAt: request.expiresAt,
  });
  if (issued !== 'ok') {
    // Once per request and channel: a fallback timer delivered again (or set again after a restart) sends nothing.
    deps.logger.info('approval link not sent: already sent by this channel', {
      tenant: tenant.tenantId,
      txn: request.txn,
      channel,
    });
    return false;
  }
  // Cost protection: the tenant's daily cap of text messages, counted once the channel is marked sent for this request
  // (so a timer delivered again, or set again after a restart, counts nothing) and before anything is sent. A link
  // held back by the cap is never sent: its secret is forgotten, and the channel stays used for this request.
  if (channel === 'sms' && !(await deps.links.countText(tenant.tenantId, day, cap))) {
    return textCapReached(deps, tenant, request, memory, day, cap);
  }
  const message = linkMessage(channel, {
    tenantName: tenant.settings.displayName || tenant.tenantId,
    clientName: input.client.clientName || input.client.clientId,
    url: approvalLinkUrl(request.issuer ?? '', secret),
    expiresAt: request.expiresAt,
  });
  try {
    await deps.sender.send({ channel, to, tenantId: tenant.tenantId, txn: request.txn, ...message });
    // Never the link: it is the secret.
    deps.logger.info('approval link sent', { tenant: tenant.tenantId, txn: request.txn, channel });
    return true;
  } catch (error) {
    deps.logger.error('approval link could not be sent', { tenant: tenant.tenantId, txn: request.txn, channel, error });
    return false;
  }
};

/** The request behind a link of this tenant, or 404 alike for every link that is not one. */
const linkedRequest = async (
  deps: Pick<Deps, 'requests' | 'links'>,
  tenant: Tenant,
  secret: string,
): Promise<{ request: AuthRequest; channel: LinkChannel; hash: string }> => {
  const link = /^[A-Za-z0-9_-]{43}$/.test(secret) ? await deps.links.find(sha256(secret)) : undefined;
  if (!link || link.tenantId !== tenant.tenantId) throw new NotFound(NO_LINK);
  const request = await deps.requests.get(link.txn);
  if (
    !request ||
    request.tenantId !== tenant.tenantId ||
    request.sub !== link.sub ||
    request.tenantGeneration !== tenant.generation
  ) {
    throw new NotFound(NO_LINK);
  }
  return { request, channel: link.channel, hash: link.hash };
};

export type LinkState = 'pending' | 'approved' | 'denied' | 'reported' | 'expired';

/** What the approval page shows: the request as the authenticator shows it, its state and what is allowed. */
export interface LinkView extends Omit<DeviceTransaction, 'txn'> {
  tenant_name: string;
  state: LinkState;
  channel: LinkChannel;
  /**
   * False when the tenant requires a passkey and the user has registered none: only deny and report are offered.
   * Where a passkey is required and the user has one, `webauthn` carries the options to approve with it.
   */
  can_approve: boolean;
  /** How long a report keeps the client from asking again (the card says so). */
  report_shield_seconds: number;
}

const stateOf = (request: AuthRequest, now: number): LinkState => {
  const state = requestState(request, now);
  return state === 'redeemed' ? 'approved' : state;
};

export const openApprovalLink = async (
  deps: Pick<Deps, 'requests' | 'links' | 'clients' | 'users' | 'devices' | 'clock'>,
  input: { tenant: Tenant; secret: string; rp: RelyingParty },
): Promise<LinkView> => {
  const { tenant } = input;
  const { request, channel, hash } = await linkedRequest(deps, tenant, input.secret);
  const { txn: _txn, webauthn: _webauthn, ...view } = await toDeviceTransaction(deps.clients, request);
  const state = stateOf(request, deps.clock.now());
  // Number matching: the code is typed, never shown here. After a decision only the outcome is shown.
  const { binding_message: _withheld, ...rest } = view;
  const shown =
    state !== 'pending'
      ? {
          client_id: view.client_id,
          client_name: view.client_name,
          scope: view.scope,
          kind: view.kind,
          created_at: view.created_at,
          expires_at: view.expires_at,
        }
      : bindingCodeRequired(tenant, request)
        ? { ...rest, binding_code_required: true }
        : view;
  // User verification: the user's passkeys, asked over this link's challenge (read only while it can be approved).
  const passkeys =
    state === 'pending' && passkeyRequired(tenant)
      ? await userPasskeyDevices(deps, tenant.tenantId, request.sub)
      : undefined;
  return {
    ...shown,
    ...(passkeys?.length
      ? {
          webauthn: linkApprovalRequestOptions(
            passkeys,
            linkApprovalChallenge(tenant.tenantId, request.txn, hash),
            input.rp,
          ),
        }
      : {}),
    tenant_name: tenant.settings.displayName || tenant.tenantId,
    state,
    channel,
    can_approve: !passkeyRequired(tenant) || (passkeys?.length ?? 0) > 0,
    report_shield_seconds: reportShieldSeconds(tenant.settings),
  };
};

const STATUS_OF = { approve: 'approved', deny: 'denied', report: 'reported' } as const;

/**
 * A decision through a link: the same conditional write as a device's (pending, unexpired, this tenant and user), so
 * the first decision on any channel wins; afterwards the link answers 409 request_not_pending and changes nothing.
 * The evidence records the channel, the time, the browser's user agent and its address as the edge saw it.
 */
export const decideByLink = async (
  deps: Pick<
    Deps,
    'requests' | 'decisions' | 'users' | 'devices' | 'passkeys' | 'links' | 'shields' | 'events' | 'clock' | 'logger'
  >,
  input: {
    tenant: Tenant;
    secret: string;
    rp: RelyingParty;
    decision: keyof typeof STATUS_OF;
    bindingCode?: string;
    webauthn?: unknown;
    userAgent?: string;
    sourceIp?: string;
  },
): Promise<{ state: LinkState }> => {
  const { tenant, decision } = input;
  const { request, channel, hash } = await linkedRequest(deps, tenant, input.secret);
  const now = deps.clock.now();
  if (request.status !== 'pending' || request.expiresAt <= now) {
    throw new RequestNotPending('the request is no longer pending').withFields({ state: stateOf(request, now) });
  }
  const owner = { tenantId: request.tenantId, sub: request.sub };
  let verified: { assertion: string; deviceId: string } | undefined;
  if (decision === 'approve') {
    if (passkeyRequired(tenant) && input.webauthn === undefined) {
      throw new UserVerificationRequired('this tenant requires a passkey: approving needs its assertion (webauthn)');
    }
    if (bindingCodeRequired(tenant, request)) {
      if (input.bindingCode === undefined) throw new InvalidRequest('binding_code is required by this tenant');
      if (!bindingCodeMatches(input.bindingCode, request.bindingMessage!)) {
        await countMismatch(deps, { owner, txn: request.txn, now, by: { channel } });
      }
    }
    if (passkeyRequired(tenant)) {
      verified = await verifyLinkApprovalAssertion(deps, {
        ...owner,
        challenge: linkApprovalChallenge(tenant.tenantId, request.txn, hash),
        rp: input.rp,
        assertion: input.webauthn,
      });
    }
  }
  const status = STATUS_OF[decision];
  const result = await deps.decisions.decide(
    request.txn,
    owner,
    status,
    {
      decision,
      receivedAt: now,
      channel,
      ...(verified ? { userVerified: true, assertion: verified.assertion, passkeyDeviceId: verified.deviceId } : {}),
      ...(input.userAgent ? { userAgent: input.userAgent.slice(0, MAX_USER_AGENT) } : {}),
      ...(input.sourceIp ? { sourceIp: input.sourceIp } : {}),
    },
    now,
  );
  if (result === 'conflict') {
    const after = (await deps.requests.get(request.txn)) ?? request;
    throw new RequestNotPending('the request is no longer pending').withFields({ state: stateOf(after, now) });
  }
  deps.logger.info('approval link decision', { tenant: tenant.tenantId, txn: request.txn, status, channel });
  if (status === 'reported') await shieldAfterReport(deps, { tenant, request: result, reportedAt: now });
  // Its `Request Decided` event follows from the stored decision (docs/events.md), off this request's path.
  return { state: status };
};
