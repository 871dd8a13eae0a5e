import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeviceClient, DeviceKey } from '../../lib/device/index.ts';
import { AwsShape } from './cloud.ts';
import { readAssembly } from './cloudformation.ts';
import { pushSecrets } from './fixtures.ts';
import { CIBA_GRANT, decidedEvents, operatorPolicy, operatorRule, pushedTxn, signedFetch } from './harness.ts';
import { bundledAssembly, releaseAssembly, variantAssembly } from './synth.ts';

/**
 * The last release before tenants became data (per-tenant KMS keys behind aliases, per-tenant rules, settings and
 * push-platform resources): a deployment made with it is upgraded to this version's templates as `cdk deploy --all`
 * does, and keeps its tenants, clients, users, devices and keys (docs/deploy.md "Upgrading").
 */
const RELEASE_BEFORE_KEYSETS = 'e002e56c3dc3f065b456d8615eee46b8caa8c0ca';

const release = await releaseAssembly(RELEASE_BEFORE_KEYSETS);

describe.skipIf(release === undefined)('upgrading a deployment of the release before keysets', () => {
  let cloud: AwsShape;
  const issuer = (tenant: string) => `${cloud.baseUrl}/${tenant}`;
  const admin = (method: string, path: string, body?: unknown) =>
    signedFetch(cloud.operator(operatorPolicy(cloud)), method, `${cloud.baseUrl}${path}`, body);
  const rp = (tenant: string, registered: { client_id: string; client_secret: string }, jwt = false) =>
    client.discovery(
      new URL(issuer(tenant)),
      registered.client_id,
      undefined,
      jwt ? client.ClientSecretJwt(registered.client_secret) : client.ClientSecretBasic(registered.client_secret),
      { execute: [client.allowInsecureRequests] },
    );
  const register = async (metadata: Record<string, unknown> = {}) => {
    const res = await admin('POST', '/admin/tenants/acme/clients', {
      client_name: 'Before the upgrade',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [CIBA_GRANT],
      backchannel_token_delivery_mode: 'poll',
      ...metadata,
    });
    if (res.status !== 201) throw new Error(`client: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { client_id: string; client_secret: string };
  };
  const approve = async (
    config: client.Configuration,
    device: DeviceClient,
    token: string,
    params: Record<string, string> = {},
  ) => {
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'olga',
      binding_message: 'upgrade',
      ...params,
    });
    await device.decide(pushedTxn(cloud, token), 'approve');
    return client.pollBackchannelAuthenticationGrant(config, ack);
  };

  // What the deployment holds before the upgrade.
  let basic: { client_id: string; client_secret: string };
  let secretJwt: { client_id: string; client_secret: string };
  let withUserCode: { client_id: string; client_secret: string };
  let device: DeviceClient;
  let oldIdToken: string;
  let legacyKid: string;

  let keptLegacyKeys: string;
  /** The ledger before the upgrade: its physical name and how many items it held. */
  let ledgerBefore: { name: string; items: number; streamArn: unknown };
  /** A request decided by the old functions between the two stacks' updates: stream on, no mapping yet. */
  let decidedBetween: string | undefined;
  const ledger = () => cloud.resourcesOf('AWS::DynamoDB::Table').find((t) => t.logicalId.startsWith('Ledger'))!;
  const itemCount = async (table: string) =>
    Number((await cloud.dynamodb.direct('Scan', { TableName: table, Select: 'COUNT' })).Count);

  beforeAll(async () => {
    // Synthesized before the cloud starts: a synthesis in this process holds its event loop (and the API's sockets).
    keptLegacyKeys = await variantAssembly({ 'ciba:legacyKeys': 'keep' });
    cloud = await AwsShape.start({ assembly: release!, secrets: pushSecrets() });
    // An operator's audit rule on the bus, which takes every event: the new release's functions put what a rule takes,
    // and with it every decision is put, as the release before put them all.
    operatorRule(cloud);
    basic = await register();
    secretJwt = await register({ token_endpoint_auth_method: 'client_secret_jwt' });
    withUserCode = await register({ backchannel_user_code_parameter: true });
    const user = await admin('PUT', '/admin/tenants/acme/users/olga', { name: 'Olga', user_code: '4711' });
    if (user.status !== 201) throw new Error(`user: ${user.status}`);
    const ticket = await admin('POST', '/admin/tenants/acme/users/olga/enrollment-tickets', {});
    device = new DeviceClient({ issuer: issuer('acme'), key: await DeviceKey.generate() });
    await device.enroll({ ticket: ticket.body.ticket, name: 'Phone', push: { type: 'fcm', token: 'fcm-olga' } });
    oldIdToken = (await approve(await rp('acme', basic), device, 'fcm-olga')).id_token!;
    legacyKid = decodeProtectedHeader(oldIdToken).kid!;
    // The jwt client and the user code work before, through the tenant's KMS HMAC key.
    await approve(await rp('acme', secretJwt, true), device, 'fcm-olga');
    cloud.expectNoDenials();
    ledgerBefore = {
      name: ledger().ref,
      items: await itemCount(ledger().ref),
      streamArn: ledger().attributes.StreamArn,
    };

    await cloud.upgrade(await bundledAssembly(), undefined, async () => {
      // The stateful stack's update gave the ledger its stream; the service stack's, with the mapping, has not run: the
      // old functions decide and publish as before, and the stream records it.
      if (ledger().attributes.StreamArn === undefined || cloud.resourcesOf('AWS::Lambda::EventSourceMapping').length)
        return;
      if (decidedBetween) return;
      await client.initiateBackchannelAuthentication(await rp('acme', basic), {
        scope: 'openid',
        login_hint: 'olga',
        binding_message: 'between the stacks',
      });
      decidedBetween = pushedTxn(cloud, 'fcm-olga');
      expect(await device.decide(decidedBetween, 'approve')).toEqual({ txn: decidedBetween, status: 'approved' });
    });
  }, 600_000);
  afterAll(() => cloud?.stop());
  afterEach(() => cloud.expectNoDenials());

  it('imports each tenant old keys before their aliases go, and drops every per-tenant resource', async () => {
    const imported = cloud.lambda.logsOf(cloud.fn('legacy-key-import').name).join('\n');
    for (const tenant of ['acme', 'bank', 'shop'])
      expect(imported).toMatch(new RegExp(`legacy keys imported.*${tenant}`));
    expect([...cloud.kms.aliases.keys()].filter((a) => a.startsWith('alias/ciba/'))).toEqual([]);
    // The old keys stay (retained), enabled: the keysets name them.
    const legacyKeys = [...cloud.kms.keys.values()].filter((k) => k.keySpec !== 'SYMMETRIC_DEFAULT');
    expect(legacyKeys.length).toBeGreaterThanOrEqual(6);
    expect(legacyKeys.every((k) => k.state === 'Enabled')).toBe(true);
    for (const type of ['Custom::CibaTenantSettings', 'Custom::CibaPushPlatform']) {
      expect(cloud.resourcesOf(type)).toEqual([]);
    }
    expect(cloud.resourcesOf('AWS::Events::Rule')).toHaveLength(1);
    expect(cloud.resourcesOf('Custom::CibaTenants')).toHaveLength(1);
  });

  it('keeps the tenants, clients, users and devices (shop too, whose old resource said destroy)', async () => {
    for (const tenant of ['acme', 'bank', 'shop'])
      expect((await admin('GET', `/admin/tenants/${tenant}`)).status).toBe(200);
    expect((await admin('GET', `/admin/tenants/acme/clients/${basic.client_id}`)).status).toBe(200);
    expect((await admin('GET', '/admin/tenants/acme/users/olga')).body).toMatchObject({ sub: 'olga', name: 'Olga' });
    expect((await admin('GET', '/admin/tenants/acme/users/olga/devices')).body.devices).toHaveLength(1);
    // Read, not written yet: still under the tenant's key, where the release before stored them (a read moves nothing).
    expect(await cloud.directoryItem('T#acme', 'USER#olga')).toMatchObject({ tenant_id: 'acme', sub: 'olga' });
    // The SNS platform applications were adopted, not deleted (the device's endpoint lives under them).
    expect([...cloud.sns.applications.values()].map((a) => `${a.platform}/${a.name}`).sort()).toEqual([
      'APNS/ciba-acme',
      'GCM/ciba-acme',
    ]);
  });

  // After the test above: its flow moves the user to the layout of per-user keys, which that test reads before.
  it('gives the ledger its stream in place (same table, its items kept); decisions then reach the bus once, from the events function', async () => {
    expect(ledgerBefore.streamArn).toBeUndefined();
    expect(ledgerBefore.items).toBeGreaterThan(0);
    expect(ledger().ref).toBe(ledgerBefore.name);
    expect(ledger().attributes.StreamArn).toMatch(new RegExp(`:table/${ledgerBefore.name}/stream/`));
    expect(await itemCount(ledger().ref)).toBeGreaterThanOrEqual(ledgerBefore.items);
    // The stream's mapping and the decision-retries queue's.
    expect(cloud.resourcesOf('AWS::Lambda::EventSourceMapping')).toHaveLength(2);
    const tokens = await approve(await rp('acme', basic), device, 'fcm-olga');
    expect(tokens.claims()?.sub).toBe('olga');
    await cloud.settle();
    expect(decidedEvents(cloud, pushedTxn(cloud, 'fcm-olga'))).toEqual([
      { function: cloud.fn('events').name, status: 'approved' },
    ]);
  });

  it('publishes a decision made before the mapping existed again, from the stream (TRIM_HORIZON: none is lost)', async () => {
    // Its old function published it; the mapping, created after it, reads the stream from its first record. A decision
    // of a new function made before the mapping was enabled is in the stream the same way, and is not lost.
    expect(decidedBetween).toBeDefined();
    await cloud.settle();
    expect(decidedEvents(cloud, decidedBetween!).map((e) => e.status)).toEqual(['approved', 'approved']);
    expect(decidedEvents(cloud, decidedBetween!).at(-1)).toEqual({
      function: cloud.fn('events').name,
      status: 'approved',
    });
  });

  it('keeps the old key published and signing until the new one is active; then the new one signs without KMS', async () => {
    const jwks = async () => createLocalJWKSet(await (await fetch(`${issuer('acme')}/.well-known/jwks.json`)).json());
    await jwtVerify(oldIdToken, await jwks(), { issuer: issuer('acme') });
    const config = await rp('acme', basic);
    const before = cloud.calls.length;
    const bridging = await approve(config, device, 'fcm-olga');
    expect(decodeProtectedHeader(bridging.id_token!).kid).toBe(legacyKid);
    expect(cloud.calls.slice(before).some((c) => c.action === 'kms:Sign')).toBe(true);
    await cloud.advance(61_000);
    const since = cloud.calls.length;
    const after = await approve(config, device, 'fcm-olga');
    expect(decodeProtectedHeader(after.id_token!).kid).not.toBe(legacyKid);
    expect(cloud.calls.slice(since).filter((c) => c.action === 'kms:Sign')).toEqual([]);
    await jwtVerify(after.id_token!, await jwks(), { issuer: issuer('acme') });
    await jwtVerify(oldIdToken, await jwks(), { currentDate: new Date(Date.now() - 120_000) });
  });

  it("moves a user and device of the layout before to their own keys on their first flow, with the functions' permissions", async () => {
    // The flows above moved the user (its rate window in bc-authorize). Their decisions only read the device (a plain
    // decision records no proof), from its legacy item; the device's list records its proof, which moves it. No call
    // was denied (afterEach).
    expect(await cloud.directoryItem(`T#acme#DEVICE#${device.deviceId}`, `DEVICE#${device.deviceId}`)).toBeUndefined();
    await device.pending();
    const sks = ['USER#olga', `DEVICE#${device.deviceId}`];
    for (const sk of sks) {
      expect(await cloud.directoryItem(`T#acme#${sk}`, sk)).toMatchObject({ tenant_id: 'acme', sub: 'olga' });
      expect(await cloud.directoryItem('T#acme', sk)).toEqual({ pk: 'T#acme', sk, moved: true });
    }
  });

  it('with ciba:legacyKeys=keep, keeps the old keys and aliases under their logical ids (no gap while old functions run)', () => {
    const kmsResources = (dir: string) => {
      const stateful = readAssembly(dir).stacks.find((st) => st.name === 'ciba-stateful')!.template.Resources;
      return Object.entries(stateful)
        .filter(([, r]) => r.Type === 'AWS::KMS::Key' || r.Type === 'AWS::KMS::Alias')
        .map(([id]) => id);
    };
    const kept = kmsResources(keptLegacyKeys);
    const before = kmsResources(release!);
    expect(before.length).toBeGreaterThan(0);
    expect(kept).toEqual(expect.arrayContaining(before));
  });

  it('keeps the client_secret_jwt secret and the user code made with the old HMAC key', async () => {
    const tokens = await approve(await rp('acme', secretJwt, true), device, 'fcm-olga');
    expect(tokens.claims()?.sub).toBe('olga');
    const config = await rp('acme', withUserCode);
    expect((await approve(config, device, 'fcm-olga', { user_code: '4711' })).claims()?.sub).toBe('olga');
    await expect(
      client.initiateBackchannelAuthentication(config, {
        scope: 'openid',
        login_hint: 'olga',
        user_code: '0000',
        binding_message: 'x',
      }),
    ).rejects.toMatchObject({ error: 'invalid_user_code' });
    // A client registered after the upgrade derives its secret from the tenant's new MAC key.
    const fresh = await register({ token_endpoint_auth_method: 'client_secret_jwt' });
    expect((await approve(await rp('acme', fresh, true), device, 'fcm-olga')).claims()?.sub).toBe('olga');
  });
});
