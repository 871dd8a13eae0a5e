import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMISSION_SHARDS } from '../../lib/ciba/tenant-admission.ts';
import type { DeviceClient } from '../../lib/device/index.ts';
import { CIBA_GRANT, pushedTxn, type Shape, startShape } from './harness.ts';

/**
 * The benchmark's device-shape flow (docs/performance.md "AWS terms per flow") on the AWS shape: the AWS calls the
 * deployed bundles make per step, warm, with a wrapped key and one push, are the ones `npm run bench` counts in local
 * mode (`aws_calls_per_flow`: DynamoDB 9, EventBridge 3, SNS 1, KMS 0), so the cost model is fed by what the
 * deployed code does.
 */
describe('the benchmark flow on the AWS shape: AWS calls per step', () => {
  let shape: Shape;
  let registered: { client_id: string; client_secret: string };
  let device: DeviceClient;

  beforeAll(async () => {
    shape = await startShape();
    registered = await shape.registerClient('acme');
    device = await shape.enrolledDevice('acme', 'alice', { type: 'fcm', token: 'fcm-alice' });
  }, 300_000);
  afterAll(() => shape?.stop());
  afterEach(() => shape.cloud.expectNoDenials());

  const form = (path: string, params: Record<string, string>) =>
    fetch(`${shape.issuer('acme')}${path}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${Buffer.from(`${registered.client_id}:${registered.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams(params).toString(),
    });

  /** The successful AWS calls a step makes, by service (`dynamodb: 3`...). */
  const callsOf = async (step: () => Promise<unknown>): Promise<Record<string, number>> => {
    const start = shape.cloud.calls.length;
    await step();
    const counts: Record<string, number> = {};
    for (const c of shape.cloud.calls.slice(start)) {
      if (c.outcome === 'ok') counts[c.service] = (counts[c.service] ?? 0) + 1;
    }
    return counts;
  };

  const flow = async () => {
    const steps: Record<string, Record<string, number>> = {};
    let authReqId = '';
    steps['bc-authorize'] = await callsOf(async () => {
      const res = await form('/bc-authorize', { scope: 'openid', login_hint: 'alice', binding_message: 'Bench' });
      expect(res.status).toBe(200);
      authReqId = ((await res.json()) as { auth_req_id: string }).auth_req_id;
    });
    const txn = pushedTxn(shape.cloud, 'fcm-alice');
    steps['device list'] = await callsOf(async () => {
      expect((await device.pending()).map((t) => t.txn)).toContain(txn);
    });
    const poll = () => form('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: authReqId });
    steps['token pending'] = await callsOf(async () => {
      const res = await poll();
      expect(await res.json()).toMatchObject({ error: 'authorization_pending' });
    });
    steps['device decision'] = await callsOf(async () => {
      expect(await device.decide(txn, 'approve')).toEqual({ txn, status: 'approved' });
    });
    steps['token redeem'] = await callsOf(async () => {
      const res = await poll();
      expect(res.status).toBe(200);
    });
    return steps;
  };

  it('makes the calls the benchmark counts: 9 DynamoDB requests, 3 events, 1 push, no KMS call', async () => {
    await flow(); // cold starts: the tenant's key opened (KMS Decrypt), settings cached
    // The tenant's counter shards: a shard's first request ever creates its item (the write that finds none, its read,
    // the read of the layout before's item, the creation), so each is created first, by a request for a user who does
    // not exist (refused, the pending slot given back). Each request of an instance takes the next shard.
    for (let i = 0; i < ADMISSION_SHARDS; i++) {
      const res = await form('/bc-authorize', { scope: 'openid', login_hint: 'nobody', binding_message: 'Bench' });
      expect(await res.json()).toMatchObject({ error: 'unknown_user_id' });
    }
    const steps = await flow();
    expect(steps).toEqual({
      'bc-authorize': { dynamodb: 3, sns: 1, events: 1 },
      'device list': { dynamodb: 2 },
      'token pending': { dynamodb: 1 },
      'device decision': { dynamodb: 2, events: 1 },
      'token redeem': { dynamodb: 1, events: 1 },
    });
  }, 120_000);
});
