/**
 * SECURITY.md hardening rule 12, user codes: stored as HMACs under a per-tenant secret (the tenant's HMAC key), never a
 * bare hash; a code stored before as a bare SHA-256 keeps working and is rewritten. (Push-mode token responses, the
 * rule's other half, are tested where they wait: test/e2e/callback-flow.test.ts "rule 12".)
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect-error.ts';
import {
  CIBA_GRANT,
  createTenantFixture,
  postForm,
  reachableUsers,
  startTestService,
  type TenantFixture,
  type TestService,
} from '../helpers/service.ts';
import { scanTables } from '../resilience/faults.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc?.stop());

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('base64url');
const userItem = async (tenant: string, sub: string) =>
  (await scanTables(svc)).get(`ciba-directory|T#${tenant}#USER#${sub}|USER#${sub}`)!;

/** A tenant whose client sends user codes, and alice with the code 4242. */
const withCodes = async (tenant: string) => {
  const fx = await createTenantFixture(svc, tenant, { user_rate_limit_per_minute: 100 }, {}, { device: true });
  const c = await svc.admin('POST', `/admin/tenants/${tenant}/clients`, {
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: 'poll',
    backchannel_user_code_parameter: true,
  });
  expect(c.status).toBe(201);
  expect((await svc.admin('PUT', `/admin/tenants/${tenant}/users/alice`, { user_code: '4242' })).status).toBe(200);
  const client = { client_id: c.body.client_id as string, client_secret: c.body.client_secret as string };
  const ask = (userCode: string, sub = 'alice') =>
    postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: sub, user_code: userCode }, client);
  return { fx, ask };
};

describe('hardening rule 12: user codes at rest are keyed', () => {
  let one: { fx: TenantFixture; ask: (code: string, sub?: string) => ReturnType<typeof postForm> };

  beforeAll(async () => {
    one = await withCodes('codes-one');
  });

  it('stores a user code as an HMAC under the tenant key: not its SHA-256, and different per user and tenant', async () => {
    await withCodes('codes-two');
    expect((await svc.admin('PUT', '/admin/tenants/codes-one/users/bob', { user_code: '4242' })).status).toBe(201);
    await reachableUsers(svc, one.fx, 'bob');
    const items = [
      await userItem('codes-one', 'alice'),
      await userItem('codes-one', 'bob'),
      await userItem('codes-two', 'alice'),
    ];
    const macs = items.map((item) => item.user_code_mac as string);
    for (const item of items) {
      expect(item).not.toHaveProperty('user_code_hash');
      expect(JSON.stringify(item)).not.toContain(sha256('4242'));
      expect(JSON.stringify(item)).not.toContain('4242');
    }
    // The MAC key's id, then the MAC (lib/keyset.ts withKeyId).
    for (const mac of macs) expect(mac).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(new Set(macs).size).toBe(3);
    expect((await svc.admin('GET', '/admin/tenants/codes-one/users/alice')).body.has_user_code).toBe(true);

    expect((await one.ask('4242')).status).toBe(200);
    expectError(await one.ask('4243'), 400, 'invalid_user_code');
    expect((await one.ask('4242', 'bob')).status).toBe(200);
  });

  it('keeps a user code stored as a bare SHA-256 working, and rewrites it as an HMAC on its first use', async () => {
    // A user as stored before rule 12.
    const store = svc.service.deps.users;
    const user = (await store.get('codes-one', 'carol')) ?? undefined;
    expect(user).toBeUndefined();
    expect((await svc.admin('PUT', '/admin/tenants/codes-one/users/carol', { name: 'Carol' })).status).toBe(201);
    await reachableUsers(svc, one.fx, 'carol');
    const created = (await store.get('codes-one', 'carol'))!;
    expect(await store.save({ ...created, userCodeHash: sha256('7777') }, created.updatedAt)).toBe('ok');
    expect(await userItem('codes-one', 'carol')).toMatchObject({ user_code_hash: sha256('7777') });

    expectError(await one.ask('0000', 'carol'), 400, 'invalid_user_code');
    expect(await userItem('codes-one', 'carol')).toMatchObject({ user_code_hash: sha256('7777') });
    expect((await one.ask('7777', 'carol')).status).toBe(200);
    const rewritten = await userItem('codes-one', 'carol');
    expect(rewritten).not.toHaveProperty('user_code_hash');
    expect(rewritten.user_code_mac).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect((await one.ask('7777', 'carol')).status).toBe(200);
    expectError(await one.ask('7778', 'carol'), 400, 'invalid_user_code');
  });
});
