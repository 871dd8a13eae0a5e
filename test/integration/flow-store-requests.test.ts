import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countDynamoDbRequests } from '../../lib/adapters/dynamodb/index.ts';
import { ADMISSION_SHARDS, LEASE_MAX } from '../../lib/ciba/tenant-admission.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  enrollDevice,
  postForm,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';

/**
 * The DynamoDB requests one poll-mode flow costs (issue 8: at most 10, everything included), counted on the store's
 * client, per step. A count, not a timing: a change that adds a round trip shows here. docs/performance.md explains
 * each request.
 */
describe('DynamoDB requests of a poll-mode flow', () => {
  let svc: TestService;
  let fx: TenantFixture;
  const devices: TestDevice[] = [];
  let requests: ReturnType<typeof countDynamoDbRequests>;
  // A clock that stands still in the middle of a minute: no user's rate window rolls over during the test (that costs
  // two requests more, once a minute per user). The devices sign with it too (below).
  const frozen = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;

  beforeAll(async () => {
    svc = await startTestService({ clock: { now: () => frozen } });
    // Limits far away, as the benchmark's: the process leases LEASE_MAX requests in each admission write.
    fx = await createTenantFixture(svc, 'flow-count', {
      user_rate_limit_per_minute: 100,
      client_rate_limit_per_minute: 1_000_000,
      tenant_rate_limit_per_minute: 1_000_000,
      max_pending_requests: 10_000_000,
    });
    for (const sub of ['bob', 'carol']) {
      expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/${sub}`, { name: sub })).status).toBe(201);
      const device = await enrollDevice(svc, fx, sub);
      // Its proofs carry the frozen time: with the real one, a run longer than 30 s could drift past the 60 s skew.
      const proof = device.proof.bind(device);
      device.proof = (htm, htu, extra = {}, iat = Math.floor(frozen / 1000)) => proof(htm, htu, extra, iat);
      devices.push(device);
    }
    // The tenant's counter shards: a shard's first request ever creates its item (three requests more: the write that
    // finds no item, its read and the read of the layout before's item), so each is created first, by a request for a user who does not exist (refused,
    // the pending slot given back). Each request takes the next shard; a new minute or window costs nothing more.
    for (let i = 0; i < ADMISSION_SHARDS; i++) {
      const res = await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'nobody' }, fx.client);
      expect(res.body).toMatchObject({ error: 'unknown_user_id' });
    }
    requests = countDynamoDbRequests(svc.service.dynamoDb);
  });
  afterAll(() => svc.stop());

  /** One flow with one pending poll; the store requests of each step. */
  const flow = async (sub: string, device: TestDevice) => {
    const counts: Record<string, number> = {};
    const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
      requests.reset();
      const result = await run();
      counts[name] = requests.count;
      return result;
    };
    const message = `Count ${sub}`;
    const ack = await step('bc-authorize', () =>
      postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: sub, binding_message: message }, fx.client),
    );
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    const poll = () =>
      postForm(`${fx.issuer}/oauth/token`, { grant_type: CIBA_GRANT, auth_req_id: ack.body.auth_req_id }, fx.client);
    const list = await step('device list', () => device.pending());
    const txn = list.body.transactions.find((t: { binding_message: string }) => t.binding_message === message).txn;
    expect((await step('pending poll', poll)).body.error).toBe('authorization_pending');
    expect((await step('device approve', () => device.decide(txn, 'approve'))).status).toBe(200);
    const tokens = await step('redeeming poll', poll);
    expect(tokens.status).toBe(200);
    expect(tokens.body.id_token).toBeTypeOf('string');
    return counts;
  };

  it('costs 9 requests when its admission writes, 8 when the process admits it from its lease (once in LEASE_MAX), also for a user who asks again', async () => {
    await flow('bob', devices[0]!); // loads the signing key
    const flows: Record<string, number>[] = [];
    for (let i = 0; i < 2 * LEASE_MAX; i++) flows.push(await flow(i % 2 ? 'carol' : 'bob', devices[i % 2]!));
    for (const counts of flows) {
      expect(counts).toEqual({
        // the tenant's counter shard (client, tenant, pending; LEASE_MAX requests at once, or none from the lease) +
        // the user's rate window and record + the request
        'bc-authorize': counts['bc-authorize'] === 3 ? 3 : 2,
        'device list': 2, // the device with its proof's jti + the pending-by-user query
        'pending poll': 1, // the poll, recorded conditionally
        'device approve': 2, // the device, read (a plain decision's proof jti is not recorded: docs/device-api.md) + the conditional decision
        'redeeming poll': 1, // the poll that redeems the grant in the same write
      });
    }
    // One admission write per LEASE_MAX flows: 9 requests for that flow, 8 for the others.
    expect(flows.filter((counts) => counts['bc-authorize'] === 3)).toHaveLength(2);
    const total = flows.flatMap((counts) => Object.values(counts)).reduce((a, b) => a + b, 0);
    expect(total).toBe(2 * LEASE_MAX * 8 + 2);
  });
});
