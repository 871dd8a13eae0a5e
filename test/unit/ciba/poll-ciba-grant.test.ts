import { beforeEach, describe, expect, it } from 'vitest';
import { pollCibaGrant, SLOW_DOWN_STEP_SECONDS } from '../../../lib/ciba/poll-ciba-grant.ts';
import { OAuthError } from '../../../lib/errors.ts';
import { silentLogger } from '../../../lib/logging.ts';
import {
  type AuthRequest,
  CIBA_GRANT_TYPE,
  type Client,
  DEFAULT_TENANT_SETTINGS,
  type Tenant,
} from '../../../lib/model.ts';
import type { CibaEvent, Deps, Keys } from '../../../lib/ports.ts';
import { fakeKeys } from '../../helpers/memory-keys.ts';
import { type MemoryState, memoryStore } from '../../helpers/memory-store.ts';

const T0 = 1_800_000_000_000;
const TXN = 'A'.repeat(22);
const AUTH_REQ_ID = `${TXN}.${'s'.repeat(27)}`;

const tenant: Tenant = { tenantId: 'acme', settings: { ...DEFAULT_TENANT_SETTINGS }, createdAt: 0, updatedAt: 0 };
const client: Client = {
  tenantId: 'acme',
  clientId: 'console',
  clientName: 'Console',
  secretHash: 'x',
  tokenEndpointAuthMethod: 'client_secret_basic',
  grantTypes: [CIBA_GRANT_TYPE],
  backchannelTokenDeliveryMode: 'poll',
  backchannelUserCodeParameter: false,
  createdAt: 0,
};

class FakeClock {
  constructor(public t: number) {}
  now = () => this.t;
  advance(seconds: number) {
    this.t += seconds * 1000;
  }
}

describe('pollCibaGrant (CIBA §10.1, §11) with in-memory ports and a fake clock', () => {
  /** The in-memory stores' records (test/helpers/memory-store.ts). */
  let ledger: MemoryState;
  let clock: FakeClock;
  let events: CibaEvent[];
  let failSigning: boolean;
  let deps: Pick<Deps, 'polls' | 'refreshTokens' | 'keys' | 'events' | 'clock' | 'logger'>;

  const request = (overrides: Partial<AuthRequest> = {}): AuthRequest => {
    const r: AuthRequest = {
      txn: TXN,
      authReqId: AUTH_REQ_ID,
      tenantId: 'acme',
      clientId: 'console',
      sub: 'alice',
      claims: { sub: 'alice' },
      scope: 'openid',
      deliveryMode: 'poll',
      status: 'pending',
      createdAt: T0,
      expiresAt: T0 + 300_000,
      interval: 5,
      ...overrides,
    };
    ledger.requests.set(r.txn, r);
    return r;
  };

  const poll = async (
    form: Record<string, string> = { auth_req_id: AUTH_REQ_ID },
    as: Client = client,
    at: Tenant = tenant,
  ) => {
    try {
      return await pollCibaGrant(deps, { tenant: at, issuer: `https://as.example/${at.tenantId}`, client: as, form });
    } catch (error) {
      if (error instanceof OAuthError) return error;
      throw error;
    }
  };
  const expectError = (result: unknown, error: string, status = 400) => {
    expect(result).toBeInstanceOf(OAuthError);
    expect((result as OAuthError).error).toBe(error);
    expect((result as OAuthError).status).toBe(status);
    return result as OAuthError;
  };

  beforeEach(() => {
    const store = memoryStore();
    ledger = store.state;
    clock = new FakeClock(T0);
    events = [];
    failSigning = false;
    const keys: Keys = fakeKeys({
      async sign(_tenantId, alg, header, payload) {
        if (failSigning) throw new Error('KMS unavailable');
        return `${alg}.${JSON.stringify(header)}.${JSON.stringify(payload)}`;
      },
      async publicJwks() {
        return { keys: [] };
      },
    });
    deps = {
      polls: store.polls,
      refreshTokens: store.refreshTokens,
      keys,
      events: { publish: async (e) => void events.push(...e) },
      clock,
      logger: silentLogger,
    };
  });

  it('answers authorization_pending while the user has not decided', async () => {
    request();
    expectError(await poll(), 'authorization_pending');
    expect(ledger.requests.get(TXN)!.lastPolledAt).toBe(T0);
  });

  it('never answers slow_down to the first poll, however soon after the request', async () => {
    request({ interval: 60 });
    expectError(await poll(), 'authorization_pending');
  });

  it('answers slow_down with Retry-After = interval + 5 to a poll inside the interval, and raises the stored interval by 5', async () => {
    request();
    expectError(await poll(), 'authorization_pending');
    clock.advance(2);
    const slow = expectError(await poll(), 'slow_down');
    expect(slow.headers['Retry-After']).toBe(String(5 + SLOW_DOWN_STEP_SECONDS));
    expect(ledger.requests.get(TXN)!.interval).toBe(10);
  });

  it('answers authorization_pending once the raised interval has passed since the last poll, and slow_down before', async () => {
    request();
    await poll();
    clock.advance(1);
    expectError(await poll(), 'slow_down');
    // The raised interval (10 s) counts from the slow_down poll.
    clock.advance(9);
    expectError(await poll(), 'slow_down');
    expect(ledger.requests.get(TXN)!.interval).toBe(15);
    clock.advance(15);
    expectError(await poll(), 'authorization_pending');
    expect(ledger.requests.get(TXN)!.interval).toBe(15);
  });

  it('counts a poll up to 250 ms early as on time (network jitter), and 300 ms early as too fast', async () => {
    request();
    await poll();
    clock.t += 4_800;
    expectError(await poll(), 'authorization_pending');
    clock.t += 4_700;
    expectError(await poll(), 'slow_down');
  });

  it('answers expired_token after expiry, also to a request that was never polled', async () => {
    request({ expiresAt: T0 + 10_000 });
    clock.advance(10);
    expectError(await poll(), 'expired_token');
    clock.advance(1);
    expectError(await poll(), 'expired_token');
  });

  it('answers access_denied with status 400 at the token endpoint when the user denied', async () => {
    request({ status: 'denied', decidedAt: T0 });
    const denied = expectError(await poll(), 'access_denied', 400);
    expect(denied.status).toBe(400);
  });

  it('issues tokens once for an approved request, then invalid_grant', async () => {
    request({ status: 'approved', grantPending: true, decidedAt: T0, authTime: T0 });
    const tokens = await poll();
    expect(tokens).not.toBeInstanceOf(OAuthError);
    expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'openid' });
    expect(events.map((e) => e.type)).toHaveLength(1);
    expect(ledger.requests.get(TXN)!.grantPending).toBeUndefined();
    expectError(await poll(), 'invalid_grant');
  });

  it('issues tokens for an approved request even when polled inside the interval (no slow_down then)', async () => {
    request({ lastPolledAt: T0, status: 'approved', grantPending: true, decidedAt: T0 });
    clock.advance(1);
    expect(await poll()).not.toBeInstanceOf(OAuthError);
  });

  it('answers expired_token to an approved request redeemed after expiry', async () => {
    request({ status: 'approved', grantPending: true, expiresAt: T0 + 1000 });
    clock.advance(2);
    expectError(await poll(), 'expired_token');
  });

  it('restores the grant when minting fails, so that the next poll redeems it', async () => {
    request({ status: 'approved', grantPending: true, decidedAt: T0 });
    failSigning = true;
    await expect(
      pollCibaGrant(deps, { tenant, issuer: 'https://as.example/acme', client, form: { auth_req_id: AUTH_REQ_ID } }),
    ).rejects.toThrow('KMS unavailable');
    expect(ledger.requests.get(TXN)!.grantPending).toBe(true);
    expect(events).toEqual([]);
    failSigning = false;
    expect(await poll()).not.toBeInstanceOf(OAuthError);
    expect(ledger.requests.get(TXN)!.grantPending).toBeUndefined();
  });

  it("answers invalid_grant alike to malformed, unknown, another client's and another tenant's auth_req_id", async () => {
    request({ status: 'approved', grantPending: true });
    const answers = [
      await poll({ auth_req_id: 'garbage' }),
      await poll({ auth_req_id: `${'B'.repeat(22)}.${'s'.repeat(27)}` }),
      await poll({ auth_req_id: `${TXN}.${'t'.repeat(27)}` }),
      await poll({ auth_req_id: AUTH_REQ_ID }, { ...client, clientId: 'other' }),
      // Another tenant's client that chose the same client_id.
      await poll({ auth_req_id: AUTH_REQ_ID }, { ...client, tenantId: 'other' }, { ...tenant, tenantId: 'other' }),
    ];
    for (const a of answers) expectError(a, 'invalid_grant');
    expect(new Set(answers.map((a) => JSON.stringify((a as OAuthError).toJSON()))).size).toBe(1);
    // None of them touched the request.
    expect(ledger.requests.get(TXN)).toMatchObject({ grantPending: true });
    expect(ledger.requests.get(TXN)!.lastPolledAt).toBeUndefined();
  });

  it('answers invalid_request without auth_req_id, and unauthorized_client for a client without the grant or in push mode', async () => {
    request();
    expectError(await poll({}), 'invalid_request');
    expectError(await poll(undefined, { ...client, grantTypes: ['refresh_token'] }), 'unauthorized_client');
    expectError(await poll(undefined, { ...client, backchannelTokenDeliveryMode: 'push' }), 'unauthorized_client');
    expect(ledger.requests.get(TXN)!.lastPolledAt).toBeUndefined();
  });
});
