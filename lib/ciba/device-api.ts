import * as z from 'zod';
import { displayString } from '../display-string.ts';
import { Conflict, InvalidDpopProof, InvalidRequest, NotFound, RequestNotPending } from '../errors.ts';
import type { AuthRequest, Device, DevicePush, DeviceSummary, DeviceTransaction, Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';
import { confirmApproval, type DecisionContext, shapeForDevice } from './confirm-approval.ts';
import { requestState, toDeviceTransaction } from './device-transactions.ts';
import { ticketKey } from './enrollment-ticket.ts';
import { publishDecision } from './publish-decision.ts';
import { shieldAfterReport } from './report-shield.ts';
import { consumeProof, type VerifiedProof } from './verify-device-proof.ts';

/** A browser PushSubscription (`subscription.toJSON()`); the endpoint is checked in `checkPushChannel`. */
const WebPushSubscriptionSchema = z.object({
  endpoint: z.url({ protocol: /^https?$/ }).max(2048),
  expirationTime: z.number().nullable().optional(),
  keys: z.strictObject({ p256dh: z.string().min(1).max(256), auth: z.string().min(1).max(64) }),
});

const PushSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('webhook'), url: z.url({ protocol: /^https?$/ }).max(2048) }),
  z.strictObject({ type: z.enum(['apns', 'apns_sandbox', 'fcm']), token: z.string().min(1).max(4096) }),
  z.strictObject({ type: z.literal('webpush'), subscription: WebPushSubscriptionSchema }),
]);

export const EnrollmentBody = z.strictObject({
  ticket: z.string().min(1).max(256),
  // Hardening rules 5 and 10: shown to the user and the operator, written to logs.
  name: displayString(64).optional(),
  push: PushSchema.optional(),
});

export const DecisionBody = z.strictObject({
  /** `report`: "I did not ask for this": a denial that also shields the user from the client (report-shield.ts). */
  decision: z.enum(['approve', 'deny', 'report']),
  /** Binding-code confirmation: the code the consumption device shows, as the user typed it. */
  binding_code: z.string().max(256).optional(),
  /** User verification: the WebAuthn assertion (`PublicKeyCredential.toJSON()`) over the transaction's challenge. */
  webauthn: z.record(z.string(), z.unknown()).optional(),
});

/** PUT {issuer}/device/push: replaces the device's push channel. */
export const DevicePushBody = z.strictObject({ push: PushSchema });

/**
 * Push services a web push subscription may name in AWS (the service POSTs to the endpoint, so it must not be an
 * arbitrary URL): Google (Chrome, Edge on Android), Mozilla, Microsoft, Apple.
 */
const WEB_PUSH_HOSTS = [
  /^fcm\.googleapis\.com$/,
  /(^|\.)push\.services\.mozilla\.com$/,
  /\.notify\.windows\.com$/,
  /\.push\.apple\.com$/,
];

/**
 * Hardening rule 3: a device's push channel is a URL the service will call, so it passes the same URL policy as
 * every outbound call (lib/adapters/guarded-outbound-http.ts) before anything is stored or spent: https only, no loopback or
 * non-global address, unless the tenant is in development mode. Webhooks exist in local mode only; in AWS a Web Push
 * endpoint must also belong to a known push service. Every refusal is 400 invalid_request.
 */
export const checkPushChannel = (
  deps: Pick<Deps, 'outbound' | 'config'>,
  push: DevicePush | undefined,
  tenant: Tenant,
): void => {
  const { capabilities } = deps.config;
  const allowPrivateNetwork = tenant.settings.developmentMode;
  if (push?.type === 'webhook') {
    if (!capabilities.webhookPush) throw new InvalidRequest('webhook push is available in local mode only');
    const problem = deps.outbound.refusal(push.url, { allowPrivateNetwork, name: 'the webhook url' });
    if (problem) throw new InvalidRequest(problem);
  }
  if (push?.type === 'webpush') {
    const endpoint = push.subscription.endpoint;
    const problem = deps.outbound.refusal(endpoint, { allowPrivateNetwork, name: 'the web push endpoint' });
    if (problem) throw new InvalidRequest(problem);
    if (
      capabilities.knownWebPushServicesOnly &&
      !WEB_PUSH_HOSTS.some((host) => host.test(new URL(endpoint).hostname))
    ) {
      throw new InvalidRequest('the web push endpoint is not a known push service');
    }
  }
};

/**
 * Enrolls the key that signed the proof as a device of the ticket's user. The ticket is single use;
 * a key can be enrolled once.
 */
export const enrollDevice = async (
  deps: Pick<Deps, 'devices' | 'tickets' | 'replay' | 'notifier' | 'clock' | 'logger' | 'config' | 'outbound'>,
  input: { tenant: Tenant; body: z.infer<typeof EnrollmentBody>; proof: VerifiedProof },
): Promise<{ device_id: string }> => {
  const { tenant, body, proof } = input;
  const tenantId = tenant.tenantId;
  // Before the proof or the ticket is spent: a refused channel leaves the ticket usable.
  checkPushChannel(deps, body.push, tenant);
  if (await deps.devices.get(tenantId, proof.thumbprint)) throw new Conflict('this key is already enrolled');
  await consumeProof(deps, proof);
  const now = deps.clock.now();
  const owner = await deps.tickets.consume(ticketKey(tenant, body.ticket), now);
  if (!owner || owner.tenantId !== tenantId)
    throw new InvalidRequest('the enrollment ticket is unknown, used or expired');

  let push: DevicePush | undefined = body.push;
  if (push && push.type !== 'webhook' && push.type !== 'webpush' && deps.notifier.register)
    push = await deps.notifier.register(tenantId, proof.thumbprint, push);
  const device: Device = {
    tenantId,
    deviceId: proof.thumbprint,
    sub: owner.sub,
    name: body.name ?? 'Device',
    publicJwk: { kty: 'EC', crv: 'P-256', x: proof.jwk.x, y: proof.jwk.y },
    createdAt: now,
    ...(push ? { push } : {}),
  };
  const summary = { deviceId: device.deviceId, name: device.name, createdAt: now, ...(push ? { push } : {}) };
  if ((await addDevice(deps, device, summary)) !== 'ok') throw new Conflict('this key is already enrolled');
  deps.logger.info('device enrolled', { tenant: tenantId, sub: owner.sub, device_id: device.deviceId });
  return { device_id: device.deviceId };
};

/**
 * Creates the device (a key enrolls once) and lists it on its user. When the user is gone meanwhile, the device is
 * removed again: no orphan device that could still sign requests is left behind.
 */
export const addDevice = async (
  deps: Pick<Deps, 'devices'>,
  device: Device,
  summary: DeviceSummary,
): Promise<'ok' | 'conflict'> => {
  if ((await deps.devices.create(device)) !== 'ok') return 'conflict';
  if ((await deps.devices.listOnUser(device.tenantId, device.sub, summary)) === 'ok') return 'ok';
  await deps.devices.purge(device.tenantId, [device.deviceId]);
  return 'conflict';
};

/**
 * The user each device belongs to, as this process last saw it authenticated (a device never changes owner; a key
 * enrolled again after a deletion may, and then the early read is simply not used). Bounded like the store's hints.
 */
const deviceOwners = new Map<string, string>();
const OWNER_HINTS = 10_000;
const ownerKey = (tenantId: string, deviceId: string) => `${tenantId}\u0000${deviceId}`;

/** The early read of a device's list: the pending requests of the user this process last saw owning the device. */
export interface PendingPrefetch {
  sub: string;
  pending: AuthRequest[];
}

/**
 * Starts the pending-list query for the device's last known owner while the proof's write is under way
 * (authenticateDevice's `alongside`); undefined when this process has not seen the device. Nothing read here is
 * shown unless the device then authenticates as that owner's (listPendingTransactions checks).
 */
export const prefetchPending = (
  deps: Pick<Deps, 'requests' | 'clock'>,
  tenantId: string,
  deviceId: string,
): Promise<PendingPrefetch> | undefined => {
  const sub = deviceOwners.get(ownerKey(tenantId, deviceId));
  if (sub === undefined) return undefined;
  return deps.requests.listPending(tenantId, sub, deps.clock.now()).then((pending) => ({ sub, pending }));
};

export const listPendingTransactions = async (
  deps: Pick<Deps, 'requests' | 'clients' | 'clock'>,
  device: Device,
  context?: DecisionContext,
  prefetched?: Promise<PendingPrefetch>,
): Promise<{ transactions: DeviceTransaction[] }> => {
  if (deviceOwners.size >= OWNER_HINTS) deviceOwners.clear();
  deviceOwners.set(ownerKey(device.tenantId, device.deviceId), device.sub);
  const early = await prefetched?.catch(() => undefined);
  const now = deps.clock.now();
  const listed =
    early?.sub === device.sub ? early.pending : await deps.requests.listPending(device.tenantId, device.sub, now);
  const pending = listed.filter(
    // Expiry as of now (the early read ran a moment before); the decision's write checks it again.
    // Hardening rule 7: requests of a deleted tenant stay unseen by the devices of one created again under its id.
    (r) => r.expiresAt > now && (context === undefined || r.tenantGeneration === context.tenant.generation),
  );
  return {
    transactions: await Promise.all(
      pending.map(async (r) => shapeForDevice(await toDeviceTransaction(deps.clients, r), r, device, context)),
    ),
  };
};

/** A transaction of this device's user, or 404 for an unknown or foreign one (indistinguishable). */
const ownTransaction = async (deps: Pick<Deps, 'requests'>, device: Device, txn: string): Promise<AuthRequest> => {
  const request = /^[A-Za-z0-9_-]{22}$/.test(txn) ? await deps.requests.get(txn) : undefined;
  if (!request || request.tenantId !== device.tenantId || request.sub !== device.sub) {
    throw new NotFound('no such transaction');
  }
  return request;
};

export const getConsentDetails = async (
  deps: Pick<Deps, 'requests' | 'clients' | 'clock'>,
  device: Device,
  txn: string,
  context?: DecisionContext,
): Promise<DeviceTransaction & { status: string }> => {
  const request = await ownTransaction(deps, device, txn);
  if (context !== undefined && request.tenantGeneration !== context.tenant.generation) {
    throw new NotFound('no such transaction');
  }
  const state = requestState(request, deps.clock.now());
  const view = shapeForDevice(await toDeviceTransaction(deps.clients, request), request, device, context);
  return { ...view, status: state === 'redeemed' ? 'approved' : state };
};

const STATUS_OF = { approve: 'approved', deny: 'denied', report: 'reported' } as const;

/**
 * pending → approved | denied | reported, once. The same decision again answers the same; a different one, or
 * any decision on an expired or finished request, is 409 request_not_pending. The signed proof is
 * kept as evidence. A report also shields the user from the client (lib/ciba/report-shield.ts).
 */
export const recordDeviceDecision = async (
  deps: Pick<Deps, 'requests' | 'decisions' | 'passkeys' | 'shields' | 'events' | 'scheduler' | 'clock' | 'logger'>,
  input: {
    device: Device;
    txn: string;
    decision: keyof typeof STATUS_OF;
    proof: VerifiedProof;
    /** The tenant and origin, for binding-code confirmation and user verification (absent: neither applies). */
    context?: DecisionContext;
    bindingCode?: string;
    webauthn?: unknown;
  },
): Promise<{ txn: string; status: (typeof STATUS_OF)[keyof typeof STATUS_OF] }> => {
  const { device, txn, decision, proof } = input;
  // Hardening rule 11: the proof names the transaction and the decision it signs, so the stored evidence proves
  // what the device decided (a proof does not sign the body).
  if (proof.claims.txn !== txn) {
    throw new InvalidDpopProof(
      proof.claims.txn === undefined ? 'the proof must carry the txn claim' : 'the proof names another transaction',
    );
  }
  if (proof.claims.decision !== decision) {
    throw new InvalidDpopProof(
      proof.claims.decision === undefined
        ? 'the proof must carry the decision claim'
        : 'the proof names another decision',
    );
  }
  const status = STATUS_OF[decision];
  const confirmed =
    decision === 'approve' && input.context
      ? await confirmApproval(deps, {
          device,
          txn,
          context: input.context,
          bindingCode: input.bindingCode,
          webauthn: input.webauthn,
          proof: proof.proof,
        })
      : {};
  const now = deps.clock.now();
  const result = await deps.decisions.decide(
    txn,
    { tenantId: device.tenantId, sub: device.sub },
    status,
    { proof: proof.proof, deviceId: device.deviceId, decision, receivedAt: now, ...confirmed },
    now,
  );
  if (result === 'conflict') {
    const request = await ownTransaction(deps, device, txn);
    if (request.status !== status) throw new RequestNotPending('the request is no longer pending');
    // The same report again: its shield may not have been written (a failure after the decision); the same one is.
    if (status === 'reported') {
      await shieldAfterReport(deps, { tenant: input.context?.tenant, request, reportedAt: request.decidedAt ?? now });
    }
    // The same decision again, and its callback never started: publish its event again. The stored decision's event
    // (docs/events.md) normally has started it, or is about to (a duplicate is harmless: the callback function is
    // idempotent); this is the safety net for an event that was lost (a stream record its consumer gave up on).
    if (request.deliveryMode !== 'poll' && !request.callback) {
      await publishDecision(deps, request, status, request.decidedAt ?? now);
    }
    return { txn, status };
  }
  deps.logger.info('device decision', { tenant: device.tenantId, txn, status, device_id: device.deviceId });
  if (status === 'reported')
    await shieldAfterReport(deps, { tenant: input.context?.tenant, request: result, reportedAt: now });
  // Its `Request Decided` event follows from the stored decision, off this request's path (docs/events.md): the
  // table's stream in AWS, the decision feed locally (lib/local/decision-feed.ts).
  return { txn, status };
};
