import { InvalidBindingCode, InvalidRequest, NotFound, RequestNotPending } from '../errors.ts';
import {
  type AuthRequest,
  BINDING_CODE_MAX_ATTEMPTS,
  type DecisionEvidence,
  type Device,
  type DeviceTransaction,
  type Tenant,
} from '../model.ts';
import type { Deps } from '../ports.ts';
import { bindingCodeAttemptsLeft, bindingCodeMatches } from './binding-code.ts';
import { approvalRequestOptions, passkeyRequired, type RelyingParty, verifyApprovalAssertion } from './passkey.ts';

/** What the device API needs to know about the tenant and the caller's origin to shape and check a decision. */
export interface DecisionContext {
  tenant: Tenant;
  rp: RelyingParty;
}

export const bindingCodeRequired = (tenant: Tenant, request: Pick<AuthRequest, 'bindingMessage'>): boolean =>
  tenant.settings.bindingCodeConfirmation === true && request.bindingMessage !== undefined;

/**
 * Whether an approval carries more than its signed proof: a binding code or a passkey assertion in the body, which the
 * proof does not sign. Only then can a replayed decision proof do something its first use did not (count wrong codes),
 * so only then must the decision spend the proof's `jti` (lib/http/device-request.ts, docs/device-api.md).
 */
export const approvalNeedsConfirmation = (tenant: Tenant): boolean =>
  tenant.settings.bindingCodeConfirmation === true || passkeyRequired(tenant);

/**
 * The device's view under the tenant's confirmation rules. With binding-code confirmation the binding message is
 * withheld (number matching: the user must read it on the consumption device, not here); with user verification
 * the view carries the WebAuthn options for this transaction.
 */
export const shapeForDevice = (
  view: DeviceTransaction,
  request: AuthRequest,
  device: Device,
  context: DecisionContext | undefined,
): DeviceTransaction => {
  if (!context) return view;
  let shaped = view;
  if (bindingCodeRequired(context.tenant, request)) {
    const { binding_message: _withheld, ...rest } = shaped;
    shaped = { ...rest, binding_code_required: true };
  }
  if (passkeyRequired(context.tenant)) {
    shaped = { ...shaped, webauthn: approvalRequestOptions(device, request.txn, context.rp) };
  }
  return shaped;
};

/**
 * Checks what an approval must carry beyond the signed proof: the binding code (counted when wrong; the last
 * allowed mistake denies the request) and the passkey assertion. Returns what the evidence records.
 */
export const confirmApproval = async (
  deps: Pick<Deps, 'requests' | 'decisions' | 'passkeys' | 'clock' | 'logger'>,
  input: {
    device: Device;
    txn: string;
    context: DecisionContext;
    bindingCode: string | undefined;
    webauthn: unknown;
    proof: string;
  },
): Promise<{ userVerified?: boolean; assertion?: string }> => {
  const { device, txn, context } = input;
  // Nothing to confirm beyond the proof: no read (the decision's conditional write checks owner, state and expiry).
  if (!approvalNeedsConfirmation(context.tenant)) return {};
  const request = await deps.requests.get(txn);
  if (!request || request.tenantId !== device.tenantId || request.sub !== device.sub) {
    throw new NotFound('no such transaction');
  }
  const now = deps.clock.now();
  if (request.status !== 'pending' || request.expiresAt <= now) {
    // The same approval again answers the same (recordDeviceDecision sees the conflict and decides).
    return {};
  }
  if (bindingCodeRequired(context.tenant, request)) {
    if (input.bindingCode === undefined) throw new InvalidRequest('binding_code is required by this tenant');
    if (!bindingCodeMatches(input.bindingCode, request.bindingMessage!)) {
      await countMismatch(deps, {
        owner: { tenantId: device.tenantId, sub: device.sub },
        txn,
        now,
        by: { proof: input.proof, deviceId: device.deviceId },
      });
    }
  }
  if (passkeyRequired(context.tenant)) {
    const assertion = await verifyApprovalAssertion(deps, {
      device,
      txn,
      rp: context.rp,
      assertion: input.webauthn,
    });
    return { userVerified: true, assertion };
  }
  return {};
};

/**
 * Counts a wrong binding code (the device's or an approval link's: `by` says which, for the evidence); the last allowed
 * mistake denies the request. Always throws: invalid_binding_code with the attempts left, or request_not_pending.
 */
export const countMismatch = async (
  deps: Pick<Deps, 'requests' | 'decisions' | 'passkeys' | 'clock' | 'logger'>,
  input: {
    owner: { tenantId: string; sub: string };
    txn: string;
    now: number;
    by: Pick<DecisionEvidence, 'proof' | 'deviceId' | 'channel'>;
  },
): Promise<never> => {
  const { owner, txn, now, by } = input;
  const counted = await deps.decisions.countBindingCodeMismatch(txn, owner, now);
  if (counted === 'conflict') throw new RequestNotPending('the request is no longer pending');
  const attempts = counted.bindingCodeAttempts ?? 1;
  const left = bindingCodeAttemptsLeft(attempts);
  deps.logger.warn('binding code mismatch', {
    tenant: owner.tenantId,
    txn,
    ...(by.deviceId ? { device_id: by.deviceId } : { channel: by.channel }),
    attempts,
  });
  if (left > 0) {
    throw new InvalidBindingCode(
      `the code does not match the one shown on the other screen; ${left} attempt${left === 1 ? '' : 's'} left`,
    ).withFields({ attempts_left: left, status: 'pending' });
  }
  const denied = await deps.decisions.decide(
    txn,
    owner,
    'denied',
    {
      ...by,
      decision: 'deny',
      receivedAt: now,
      reason: `${BINDING_CODE_MAX_ATTEMPTS} wrong binding codes`,
    },
    now,
  );
  // The denial's `Request Decided` event follows from the stored decision (docs/events.md).
  if (denied !== 'conflict') {
    deps.logger.warn('request denied after wrong binding codes', { tenant: owner.tenantId, txn });
  }
  // `status` as a deny answers it, so the device shows the outcome without reading the description; absent when
  // another decision got there first (the request is no longer pending either way).
  throw new InvalidBindingCode(
    `the code does not match the one shown on the other screen; the request was denied after ${BINDING_CODE_MAX_ATTEMPTS} wrong codes`,
  ).withFields(denied === 'conflict' ? { attempts_left: 0 } : { attempts_left: 0, status: 'denied' });
};
