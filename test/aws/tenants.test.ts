import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS_TTL_MS } from '../../lib/cache.ts';
import { runCli } from '../../lib/cli/main.ts';
import { KEY_RETENTION_MS } from '../../lib/keyset.ts';
import { testContext } from '../unit/cli/context.ts';
import { pushedTxn, type Shape, startShape } from './harness.ts';
import { TENANTS_FIXTURE, variantAssembly } from './synth.ts';

/** The harness's tenants file and 997 more (every hundredth with an FCM application): 1,000 tenants. */
const thousandTenants = (): string => {
  const file = JSON.parse(readFileSync(TENANTS_FIXTURE, 'utf8')) as { tenants: Record<string, unknown>[] };
  for (let i = file.tenants.length; i < 1000; i++) {
    file.tenants.push({
      id: `t${String(i).padStart(4, '0')}`,
      settings: { display_name: `Tenant ${i}`, backchannel_polling_interval: 1, user_rate_limit_per_minute: 30 },
      ...(i % 100 === 0 ? { push: { fcm: { secret: 'ciba/acme/fcm' } } } : {}),
      on_delete: i % 2 === 0 ? 'destroy' : 'retain',
    });
  }
  const path = join(mkdtempSync(join(tmpdir(), 'ciba-1000-')), 'tenants.json');
  writeFileSync(path, JSON.stringify(file));
  return path;
};

describe('tenants at scale on the AWS shape', () => {
  let shape: Shape;
  let sub = 0;

  beforeAll(async () => {
    shape = await startShape({ dir: await variantAssembly({ 'ciba:tenants': thousandTenants() }) });
  }, 600_000);
  afterAll(() => shape?.stop());
  afterEach(() => shape.cloud.expectNoDenials());

  /** A poll flow in `tenant` (a new user with an FCM device), up to the tokens, and the issuer's JWKS after it. */
  const flow = async (tenant: string, registered?: { client_id: string; client_secret: string }) => {
    const user = `u${++sub}`;
    const rpClient = registered ?? (await shape.registerClient(tenant));
    const device = await shape.enrolledDevice(tenant, user, { type: 'fcm', token: `fcm-${tenant}-${user}` });
    const rp = await shape.relyingParty(tenant, rpClient);
    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: user,
      binding_message: `flow in ${tenant}`,
    });
    await device.decide(pushedTxn(shape.cloud, `fcm-${tenant}-${user}`), 'approve');
    const tokens = await client.pollBackchannelAuthenticationGrant(rp, ack);
    return { tokens, user, client: rpClient };
  };
  const jwksOf = async (tenant: string) =>
    createLocalJWKSet(await (await fetch(`${shape.issuer(tenant)}/.well-known/jwks.json`)).json());
  const kidOf = (jws: string) => decodeProtectedHeader(jws).kid;
  /** How many items of the directory table match `filter` (a Scan, past IAM: what the table holds). */
  const countDirectory = async (filter: string, values: Record<string, { S: string }>) => {
    const table = shape.cloud.fn('admin').environment.CIBA_DIRECTORY_TABLE!;
    let total = 0;
    let start: unknown;
    do {
      const page = await shape.cloud.dynamodb.direct('Scan', {
        TableName: table,
        Select: 'COUNT',
        FilterExpression: filter,
        ExpressionAttributeValues: values,
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
      total += Number(page.Count);
      start = page.LastEvaluatedKey;
    } while (start);
    return total;
  };
  /** PUT of a new admin API tenant whose users' devices get FCM pushes (what `flow` needs), with `settings`. */
  const createTenant = (tenant: string, settings: Record<string, unknown>) =>
    shape.admin('PUT', `/admin/tenants/${tenant}`, {
      backchannel_polling_interval: 1,
      push_credentials: { fcm: { secret: 'ciba/acme/fcm', version: '1' } },
      ...settings,
    });

  it('provisions 1,000 tenants through 10 batch resources, each with its settings and keys', async () => {
    expect(shape.cloud.resourcesOf('Custom::CibaTenants')).toHaveLength(10);
    const count = (sk: string) => countDirectory('sk = :sk', { ':sk': { S: sk } });
    expect(await count('TENANT')).toBe(1000);
    expect(await count('KEYS')).toBe(1000);
    const discovery = await (await fetch(`${shape.issuer('t0999')}/.well-known/openid-configuration`)).json();
    expect(discovery.issuer).toBe(shape.issuer('t0999'));
    expect((await (await fetch(`${shape.issuer('t0500')}/.well-known/jwks.json`)).json()).keys).toHaveLength(1);
  });

  it('runs flows in several tenants side by side, each token verifying with its own tenant keys only', async () => {
    const tenants = ['acme', 't0100', 't0500', 't0900'];
    const flows = await Promise.all(tenants.map((tenant) => flow(tenant)));
    for (const [i, tenant] of tenants.entries()) {
      const { payload } = await jwtVerify(flows[i]!.tokens.id_token!, await jwksOf(tenant), {
        issuer: shape.issuer(tenant),
      });
      expect(payload.sub).toBe(flows[i]!.user);
      const other = tenants[(i + 1) % tenants.length]!;
      await expect(jwtVerify(flows[i]!.tokens.id_token!, await jwksOf(other))).rejects.toThrow();
    }
  });

  it('makes no KMS call in a flow on warm wrapped-key functions', async () => {
    // The first flow warms the functions up: each opens the tenant's keys once (a Decrypt per key and cold start).
    const start = shape.cloud.calls.length;
    const first = await flow('t0200');
    expect(shape.cloud.calls.slice(start).filter((c) => c.action === 'kms:Decrypt').length).toBeGreaterThan(0);
    const before = shape.cloud.calls.length;
    await flow('t0200', first.client);
    const kms = shape.cloud.calls.slice(before).filter((c) => c.service === 'kms');
    expect(kms).toEqual([]);
  });

  it('creates, updates and deletes a tenant through the admin API with SigV4: keys, push platforms and all', async () => {
    const created = await createTenant('newco', { display_name: 'NewCo' });
    expect(created).toMatchObject({ status: 201, body: { issuer: shape.issuer('newco'), key_mode: 'wrapped' } });
    expect(created.body.provisioned_by).toBe('admin_api');
    expect([...shape.cloud.sns.applications.values()].map((a) => `${a.platform}/${a.name}`)).toContain(
      'GCM/ciba-newco',
    );
    const { tokens } = await flow('newco');
    await jwtVerify(tokens.id_token!, await jwksOf('newco'), { issuer: shape.issuer('newco') });

    // The same validation as the tenants file: development mode and unknown fields are refused, nothing changes.
    const refused = await shape.admin('PUT', '/admin/tenants/newco', { development_mode: true });
    expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect((await shape.admin('PUT', '/admin/tenants/newco', { colour: 'red' })).status).toBe(400);
    // A secret outside the deployment's name cannot be read: refused, nothing changes.
    const secret = await shape.admin('PUT', '/admin/tenants/newco', {
      push_credentials: { fcm: { secret: 'other/fcm', version: '1' } },
    });
    expect(secret).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(secret.body.error_description).toMatch(/other\/fcm cannot be read/);
    shape.cloud.takeDenials();

    const updated = await shape.admin('PUT', '/admin/tenants/newco', { display_name: 'NewCo Ltd' });
    expect(updated).toMatchObject({ status: 200, body: { display_name: 'NewCo Ltd' } });
    // A tenant of the tenants file is the file's.
    expect((await shape.admin('PUT', '/admin/tenants/t0010', { display_name: 'x' })).status).toBe(409);
    expect((await shape.admin('DELETE', '/admin/tenants/t0010')).status).toBe(409);

    expect((await shape.admin('DELETE', '/admin/tenants/newco')).status).toBe(204);
    expect((await shape.admin('GET', '/admin/tenants/newco')).status).toBe(404);
    expect(await shape.cloud.directoryItem('T#newco', 'KEYS')).toBeUndefined();
    expect([...shape.cloud.sns.applications.values()].map((a) => a.name)).not.toContain('ciba-newco');
  });

  it('deletes a tenant of thousands of users in steps the admin function finishes in time: 202 until the last, 204, nothing left', async () => {
    expect((await createTenant('crowd', { display_name: 'Crowd' })).status).toBe(201);
    const { user } = await flow('crowd');
    const table = shape.cloud.fn('admin').environment.CIBA_DIRECTORY_TABLE!;
    // 1,500 users more, written straight into the table as the adapter lays them out (a membership item under the
    // tenant, the user's own item under its own key): 3,000 items.
    const items = Array.from({ length: 1500 }, (_, i) => [
      { pk: { S: 'T#crowd' }, sk: { S: `USER#bulk${i}` } },
      {
        pk: { S: `T#crowd#USER#bulk${i}` },
        sk: { S: `USER#bulk${i}` },
        tenant_id: { S: 'crowd' },
        sub: { S: `bulk${i}` },
        claims: { M: {} },
        devices: { L: [] },
        created_at: { N: '1' },
        updated_at: { N: '1' },
      },
    ]).flat();
    for (let i = 0; i < items.length; i += 25) {
      await shape.cloud.dynamodb.direct('BatchWriteItem', {
        RequestItems: { [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
      });
    }
    const left = () => countDirectory('begins_with(pk, :t)', { ':t': { S: 'T#crowd' } });
    expect(await left()).toBeGreaterThan(3000);

    const first = await shape.admin('DELETE', '/admin/tenants/crowd');
    expect(first).toMatchObject({ status: 202, body: { tenant: 'crowd', status: 'deleting' } });
    // Unknown at once to the admin API; to the other functions once their settings cache (30 s) has let it go.
    expect((await shape.admin('GET', `/admin/tenants/crowd/users/${user}`)).status).toBe(404);
    await shape.cloud.advance(SETTINGS_TTL_MS + 1000);
    expect((await fetch(`${shape.issuer('crowd')}/.well-known/openid-configuration`)).status).toBe(404);
    expect((await shape.admin('PUT', '/admin/tenants/crowd', { display_name: 'Again' })).status).toBe(409);
    const statuses = [first.status];
    while (statuses.at(-1) === 202 && statuses.length < 10) {
      statuses.push((await shape.admin('DELETE', '/admin/tenants/crowd')).status);
    }
    expect(statuses).toEqual([202, 202, 202, 204]);
    expect(await left()).toBe(0);
    expect((await shape.admin('DELETE', '/admin/tenants/crowd')).status).toBe(404);
  });

  it('rotates keys through the admin API: the new key signs once active, tokens of the old one keep verifying', async () => {
    const before = await flow('t0300');
    const oldKid = kidOf(before.tokens.id_token!);
    const rotated = await shape.admin('POST', '/admin/tenants/t0300/keys/rotate', {});
    expect(rotated.status).toBe(200);
    expect(rotated.body.keys.map((k: { kid: string; status: string }) => k.status)).toEqual(['current', 'next']);
    // Published at once; signing once every function's key cache has seen it (60 s).
    expect((await (await fetch(`${shape.issuer('t0300')}/.well-known/jwks.json`)).json()).keys).toHaveLength(2);
    await shape.cloud.advance(61_000);
    const after = await flow('t0300', before.client);
    const newKid = kidOf(after.tokens.id_token!);
    expect(newKid).not.toBe(oldKid);
    expect(newKid).toBe(rotated.body.keys[1].kid);
    const jwks = await jwksOf('t0300');
    // Verified at their issue time: the old token's key is still published, the new one is too.
    await jwtVerify(before.tokens.id_token!, jwks, { currentDate: new Date(Date.now() - 61_000) });
    await jwtVerify(after.tokens.id_token!, jwks);
    // Once every token of the old key has expired, it leaves the JWKS.
    await shape.cloud.advance(KEY_RETENTION_MS);
    const later = (await (await fetch(`${shape.issuer('t0300')}/.well-known/jwks.json`)).json()).keys;
    expect(later.map((k: { kid: string }) => k.kid)).toEqual([newKid]);
  });

  it('issues verifiable tokens with a kms tenant and a wrapped tenant; the kms one signs each token in KMS', async () => {
    const vault = await createTenant('vault', { key_mode: 'kms' });
    expect(vault).toMatchObject({ status: 201, body: { key_mode: 'kms' } });
    const kmsKey = [...shape.cloud.kms.keys.values()].find((k) => k.tags['ciba:tenant'] === 'vault')!;
    expect(kmsKey).toMatchObject({
      keySpec: 'ECC_NIST_P256',
      keyUsage: 'SIGN_VERIFY',
      tags: { 'ciba:deployment': 'ciba' },
    });

    const before = shape.cloud.calls.length;
    const kms = await flow('vault');
    const signs = shape.cloud.calls.slice(before).filter((c) => c.action === 'kms:Sign');
    // The ID token and the access token.
    expect(signs.map((c) => c.resource)).toEqual([kmsKey.arn, kmsKey.arn]);
    await jwtVerify(kms.tokens.id_token!, await jwksOf('vault'), { issuer: shape.issuer('vault') });
    await jwtVerify(kms.tokens.id_token!, kmsKey.publicKey!);

    const wrapped = await flow('acme');
    await jwtVerify(wrapped.tokens.id_token!, await jwksOf('acme'), { issuer: shape.issuer('acme') });
    // The tenants file makes kms tenants too (bank: PS256 in KMS).
    const bank = (await shape.cloud.directoryItem('T#bank', 'KEYS')) as { signing: { alg: string; mode: string }[] };
    expect(bank.signing).toEqual([expect.objectContaining({ alg: 'PS256', mode: 'kms' })]);

    // Deleting the tenant schedules the deletion of its KMS key.
    expect((await shape.admin('DELETE', '/admin/tenants/vault')).status).toBe(204);
    expect(kmsKey.state).toBe('PendingDeletion');
  });

  it('rotates a kms tenant: `ciba --aws tenant rotate-keys` makes a KMS key the token function signs with, the old key verifies until it leaves and is scheduled for deletion at the next rotation', async () => {
    expect((await createTenant('kmsrot', { key_mode: 'kms' })).status).toBe(201);
    const kmsKeys = () => [...shape.cloud.kms.keys.values()].filter((k) => k.tags['ciba:tenant'] === 'kmsrot');
    const [first] = kmsKeys();
    const before = await flow('kmsrot');
    const oldKid = kidOf(before.tokens.id_token!);

    // The CLI as docs/deploy.md step 8 runs it, signing with SigV4: the admin function's own role creates and tags the
    // new KMS key (the harness evaluates CreateKey and TagResource against it; afterEach: no denial).
    const callsBefore = shape.cloud.calls.length;
    const t = testContext({ awsCredentials: () => shape.operator, now: () => Date.now() });
    const cli = (...args: string[]) =>
      runCli(
        ['--base-url', shape.cloud.baseUrl, '--tenant', 'kmsrot', '--aws', '--region', 'eu-west-1', ...args],
        t.ctx,
      );
    expect(await cli('--json', 'tenant', 'rotate-keys')).toBe(0);
    const rotated = JSON.parse(t.stdout()) as { keys: { kid: string; status: string; key_mode: string }[] };
    expect(rotated.keys.map((k) => [k.status, k.key_mode])).toEqual([
      ['current', 'kms'],
      ['next', 'kms'],
    ]);
    expect(rotated.keys[0]!.kid).toBe(oldKid);
    const made = shape.cloud.calls.slice(callsBefore).filter((c) => c.service === 'kms');
    expect(made.map((c) => c.action)).toEqual(expect.arrayContaining(['kms:CreateKey', 'kms:TagResource']));
    expect(new Set(made.map((c) => c.function))).toEqual(new Set([shape.cloud.fn('admin').name]));
    const second = kmsKeys().find((k) => k !== first)!;
    expect(second).toMatchObject({ state: 'Enabled', keyUsage: 'SIGN_VERIFY', tags: { 'ciba:deployment': 'ciba' } });

    // Once active (every function's key cache has seen it), the token function signs with the new key in KMS.
    await shape.cloud.advance(61_000);
    const signsFrom = shape.cloud.calls.length;
    const after = await flow('kmsrot', before.client);
    expect(kidOf(after.tokens.id_token!)).toBe(rotated.keys[1]!.kid);
    const signs = shape.cloud.calls.slice(signsFrom).filter((c) => c.action === 'kms:Sign');
    expect(signs.map((c) => [c.resource, c.function])).toEqual([
      [second.arn, shape.cloud.fn('token').name],
      [second.arn, shape.cloud.fn('token').name],
    ]);
    // A token the old KMS key signed still verifies against the JWKS (at its issue time), the new one too.
    const jwks = await jwksOf('kmsrot');
    await jwtVerify(before.tokens.id_token!, jwks, { currentDate: new Date(Date.now() - 61_000) });
    await jwtVerify(after.tokens.id_token!, jwks, { issuer: shape.issuer('kmsrot') });
    expect(first!.state).toBe('Enabled');

    // Once its tokens have expired the old key leaves the JWKS; the next change of the keyset drops it and schedules
    // its KMS key for deletion.
    await shape.cloud.advance(KEY_RETENTION_MS);
    const published = (await (await fetch(`${shape.issuer('kmsrot')}/.well-known/jwks.json`)).json()).keys;
    expect(published.map((k: { kid: string }) => k.kid)).toEqual([rotated.keys[1]!.kid]);
    expect(first!.state).toBe('Enabled');
    const again = await shape.admin('POST', '/admin/tenants/kmsrot/keys/rotate', {});
    expect(again.body.keys.map((k: { kid: string }) => k.kid)).not.toContain(oldKid);
    expect(first!.state).toBe('PendingDeletion');
    expect(second.state).toBe('Enabled');
    expect(shape.cloud.calls.filter((c) => c.action === 'kms:ScheduleKeyDeletion').map((c) => c.resource)).toContain(
      first!.arn,
    );
    expect((await shape.admin('DELETE', '/admin/tenants/kmsrot')).status).toBe(204);
    expect(kmsKeys().map((k) => k.state)).toEqual(['PendingDeletion', 'PendingDeletion', 'PendingDeletion']);
  });
});
