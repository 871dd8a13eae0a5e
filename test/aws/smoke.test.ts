import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../lib/cli/main.ts';
import { testContext } from '../unit/cli/context.ts';
import { Receiver, type Shape, startShape } from './harness.ts';

/** `ciba smoke --aws` against the deployed shape: every step passes, and what it created is gone afterwards. */
describe('ciba smoke --aws on the AWS shape', () => {
  let shape: Shape;
  let receiver: Receiver;

  beforeAll(async () => {
    shape = await startShape();
    receiver = await Receiver.start(shape.cloud, shape.pki, 'hooks.example.com');
  }, 300_000);
  afterAll(async () => {
    await receiver?.stop();
    await shape?.stop();
  });

  it('passes poll with each hint, refresh, revocation, a denial, ping and push, and cleans up after itself', async () => {
    const endpoint = receiver.endpoint();
    const t = testContext({
      awsCredentials: () => shape.operator,
      // Waits let the deployment's background work (callbacks) finish instead of sleeping.
      sleep: () => shape.cloud.settle(),
      now: () => Date.now(),
    });
    const code = await runCli(
      [
        '--base-url',
        shape.cloud.baseUrl,
        '--tenant',
        'acme',
        '--aws',
        '--region',
        'eu-west-1',
        'smoke',
        '--notification-endpoint',
        endpoint,
      ],
      t.ctx,
    );
    expect(t.stdout()).not.toContain('FAIL');
    expect(code).toBe(0);
    for (const step of [
      'login_hint: verify ID token',
      'refresh token',
      'introspect access token',
      'revoke refresh token',
      'id_token_hint: verify ID token',
      'login_hint_token: the denial reaches the client',
      'ping: the callback is delivered',
      'ping: redeem tokens',
      'push: the callback is delivered',
    ]) {
      expect(t.stdout()).toContain(`PASS ${step}`);
    }
    expect(receiver.at(endpoint)).toHaveLength(2);
    // Every decision's event came from the ledger stream's consumer, none from the functions that decided; only the
    // ping and push decisions were put on the bus (the deployment's own rule takes them; no rule takes a poll's).
    const decided = shape.cloud.eventbridge.events.filter((e) => e.event['detail-type'] === 'CIBA Request Decided');
    expect(decided.length).toBeGreaterThanOrEqual(2);
    expect(new Set(decided.map((e) => (e.event.detail as { delivery_mode?: string }).delivery_mode))).toEqual(
      new Set(['ping', 'push']),
    );
    expect(new Set(decided.map((e) => e.function))).toEqual(new Set([shape.cloud.fn('events').name]));
    shape.cloud.expectNoDenials();

    // Its clients, its device and its user are gone.
    const clientIds = [...t.stdout().matchAll(/PASS (?:ping: |push: )?create client(?: \(([^)]+)\))?/g)]
      .map((m) => m[1])
      .filter(Boolean);
    for (const id of clientIds) {
      expect((await shape.admin('GET', `/admin/tenants/acme/clients/${id}`)).status).toBe(404);
    }
    expect((await shape.admin('GET', '/admin/tenants/acme/users/ciba-smoke')).status).toBe(404);
    expect(t.stdout()).toMatch(/PASS delete user/);
    expect(t.stdout()).not.toMatch(/kept ciba-smoke/);
  });
});
