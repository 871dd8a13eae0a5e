import { describe, expect, it } from 'vitest';
import { bindingCodeAttemptsLeft, bindingCodeMatches, normalizeBindingCode } from '../../../lib/ciba/binding-code.ts';
import { confirmApproval } from '../../../lib/ciba/confirm-approval.ts';
import { relyingPartyOf } from '../../../lib/ciba/passkey.ts';
import type { WireError } from '../../../lib/errors.ts';
import { silentLogger } from '../../../lib/logging.ts';
import {
  type AuthRequest,
  DEFAULT_TENANT_SETTINGS,
  type DecisionEvidence,
  type Device,
  type Tenant,
} from '../../../lib/model.ts';
import { memoryStore } from '../../helpers/memory-store.ts';

describe('binding code comparison', () => {
  it.each([
    ['4F-22', '4F-22', true],
    ['4f22', '4F-22', true],
    [' 4f 22 ', '4F-22', true],
    ['４Ｆ－２２', '4F-22', true], // full-width, as some phone keyboards type it
    ['code 4f-22', 'Code 4F-22', true],
    ['品川 42', '品川-42', true],
    ['4F-23', '4F-22', false],
    ['4F2', '4F-22', false],
    ['', '4F-22', false],
    ['--', '-', false], // nothing to compare is never a match
  ])('%j against %j is %s', (typed, message, expected) => {
    expect(bindingCodeMatches(typed, message)).toBe(expected);
  });

  it('keeps only letters and digits, case-folded', () => {
    expect(normalizeBindingCode('Pay 12.50 EUR!')).toBe('pay1250eur');
  });

  it('counts down the attempts left and never below zero', () => {
    expect([0, 1, 2, 3, 4].map((n) => bindingCodeAttemptsLeft(n))).toEqual([3, 2, 1, 0, 0]);
  });
});

/** The in-memory stores (test/helpers/memory-store.ts) holding `request`; the decisions written, as they were asked. */
const fakeDeps = (request: AuthRequest) => {
  const decisions: { status: string; evidence: DecisionEvidence }[] = [];
  const store = memoryStore();
  store.state.requests.set(request.txn, structuredClone(request));
  const decide = store.decisions.decide;
  store.decisions.decide = async (txn, owner, status, evidence, now) => {
    const decided = await decide(txn, owner, status, evidence, now);
    if (decided !== 'conflict') decisions.push({ status, evidence });
    return decided;
  };
  const deps: Parameters<typeof confirmApproval>[0] = {
    ...store,
    clock: { now: () => 1_000_000 },
    logger: silentLogger,
  };
  const current = async () => (await store.requests.get(request.txn))!;
  return { deps, decisions, current, store };
};

describe('confirmApproval with binding-code confirmation', () => {
  const tenant: Tenant = {
    tenantId: 't',
    settings: { ...DEFAULT_TENANT_SETTINGS, bindingCodeConfirmation: true },
    createdAt: 0,
    updatedAt: 0,
  };
  const device = { tenantId: 't', deviceId: 'd', sub: 'alice' } as Device;
  const context = { tenant, rp: relyingPartyOf('http://localhost:8787') };
  const newRequest = (): AuthRequest =>
    ({
      txn: 'x'.repeat(22),
      tenantId: 't',
      sub: 'alice',
      clientId: 'c',
      status: 'pending',
      bindingMessage: '4F-22',
      deliveryMode: 'poll',
      expiresAt: 2_000_000,
    }) as AuthRequest;
  const refusal = (answer: Promise<unknown>): Promise<WireError> =>
    answer.then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: WireError) => error,
    );
  const confirm = (deps: Parameters<typeof confirmApproval>[0], bindingCode: string | undefined) =>
    confirmApproval(deps, { device, txn: 'x'.repeat(22), context, bindingCode, webauthn: undefined, proof: 'jws' });

  it('accepts the right code without counting', async () => {
    const { deps, current } = fakeDeps(newRequest());
    await expect(confirm(deps, '4f 22')).resolves.toEqual({});
    expect((await current()).bindingCodeAttempts).toBeUndefined();
  });

  it('refuses a missing code as invalid_request, uncounted', async () => {
    const { deps, current } = fakeDeps(newRequest());
    await expect(confirm(deps, undefined)).rejects.toMatchObject({ error: 'invalid_request' });
    expect((await current()).bindingCodeAttempts).toBeUndefined();
  });

  it('counts each wrong code and denies the request at the third, with the reason as evidence', async () => {
    const { deps, decisions, current } = fakeDeps(newRequest());
    await expect(confirm(deps, 'AA-11')).rejects.toMatchObject({ error: 'invalid_binding_code', status: 400 });
    const second = await refusal(confirm(deps, 'AA-11'));
    expect(second.message).toMatch(/1 attempt left/);
    // Machine-readable, so that no device has to read the description.
    expect(second.toJSON()).toMatchObject({ attempts_left: 1, status: 'pending' });
    expect((await current()).status).toBe('pending');
    const third = await refusal(confirm(deps, 'AA-11'));
    expect(third.message).toMatch(/denied after 3 wrong codes/);
    expect(third.toJSON()).toMatchObject({ error: 'invalid_binding_code', attempts_left: 0, status: 'denied' });
    expect((await current()).status).toBe('denied');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]!.evidence).toMatchObject({ decision: 'deny', deviceId: 'd', reason: '3 wrong binding codes' });
    // The denial's Request Decided event follows from the stored decision (its carrier publishes it, not this code).
    expect(decisions[0]!.status).toBe('denied');
  });

  it('does not claim the denial when another decision landed between the third wrong code and its denial', async () => {
    const request = newRequest();
    request.bindingCodeAttempts = 2;
    const { deps, decisions, store } = fakeDeps(request);
    const count = store.decisions.countBindingCodeMismatch;
    store.decisions.countBindingCodeMismatch = async (...args) => {
      const counted = await count(...args);
      store.state.requests.get(request.txn)!.status = 'approved'; // another device approved meanwhile
      return counted;
    };
    const error = await refusal(confirm(deps, 'AA-11'));
    expect(error.toJSON()).toMatchObject({ error: 'invalid_binding_code', attempts_left: 0 });
    expect(error.toJSON()).not.toHaveProperty('status');
    expect(decisions).toHaveLength(0);
  });

  it('does not ask for a code on tenants without confirmation or requests without a message', async () => {
    const request = newRequest();
    delete request.bindingMessage;
    const { deps } = fakeDeps(request);
    await expect(confirm(deps, undefined)).resolves.toEqual({});
  });
});
