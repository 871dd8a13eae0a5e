import { createECDH, randomBytes } from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pushedTxn, Receiver, type Shape, signedFetch, startShape } from './harness.ts';
import { keptAtLevel } from './lambda.ts';
import { serviceTemplate, tenantsFile, variantAssembly } from './synth.ts';

describe("the harness's Lambda logs under the JSON format", () => {
  it('keeps what Lambda keeps at an application level: JSON lines at or above it, the rest as INFO', () => {
    expect(keptAtLevel('{"level":"INFO","message":"tenant created"}', 'INFO')).toBe(true);
    expect(keptAtLevel('{"level":"ERROR","message":"x"}', 'WARN')).toBe(true);
    expect(keptAtLevel('{"level":"CRITICAL","message":"x"}', 'ERROR')).toBe(true);
    expect(keptAtLevel('{"level":"DEBUG","message":"x"}', 'INFO')).toBe(false);
    expect(keptAtLevel('{"level":"INFO","message":"x"}', 'WARN')).toBe(false);
    // No level, or not JSON (an embedded-metric line, a plain line): INFO.
    expect(keptAtLevel('{"_aws":{},"Decided":1}', 'INFO')).toBe(true);
    expect(keptAtLevel('{"_aws":{},"Decided":1}', 'WARN')).toBe(false);
    expect(keptAtLevel('not json', 'INFO')).toBe(true);
    expect(keptAtLevel('not json', 'ERROR')).toBe(false);
  });
});

describe('the deployment on the AWS shape', () => {
  let shape: Shape;

  beforeAll(async () => {
    shape = await startShape();
  }, 300_000);
  afterAll(() => shape?.stop());
  afterEach(() => shape.cloud.expectNoDenials());

  it('creates the tenants and their push platforms through the custom resources, with the credentials from Secrets Manager', () => {
    const apps = [...shape.cloud.sns.applications.values()].map((a) => `${a.platform}/${a.name}`).sort();
    expect(apps).toEqual(['APNS/ciba-acme', 'GCM/ciba-acme']);
    const logs = shape.cloud.lambda.logsOf(shape.cloud.fn('tenant-provisioner').name).join('\n');
    expect(logs).toMatch(/tenant created.*acme/);
    // Lambda's JSON format at application level INFO (and system level WARN: no START/END/REPORT lines): Powertools
    // follows AWS_LAMBDA_LOG_LEVEL, and its info lines reach the log group as they are.
    expect(shape.cloud.fn('tenant-provisioner').logging).toEqual({ format: 'JSON', applicationLevel: 'INFO' });
    const created = shape.cloud.lambda
      .logsOf(shape.cloud.fn('tenant-provisioner').name)
      .find((line) => line.includes('tenant created'));
    expect(JSON.parse(created!)).toMatchObject({
      level: 'INFO',
      message: 'tenant created',
      service: 'ciba-tenant-provisioner',
    });
    // Only the secret's name travels in the template and the logs, never the key material.
    const everything = shape.cloud.lambda.logs.map((l) => l.line).join('\n');
    for (const secret of shape.cloud.secrets.secrets.values())
      expect(everything).not.toContain(secret.value.slice(20, 60));
  });

  it('authorizes the admin API with IAM: a signed operator passes, unsigned and unauthorized callers get 403', async () => {
    const url = `${shape.cloud.baseUrl}/admin/tenants/acme`;
    expect((await shape.admin('GET', '/admin/tenants/acme')).status).toBe(200);
    const unsigned = await signedFetch(undefined, 'GET', url);
    expect(unsigned).toMatchObject({ status: 403, body: { message: 'Forbidden' } });
    const stranger = shape.cloud.operator(
      {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'execute-api:Invoke',
            Resource: 'arn:aws:execute-api:eu-west-1:123456789012:other/*',
          },
        ],
      },
      'stranger',
    );
    const refused = await signedFetch(stranger, 'GET', url);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(
      /is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:eu-west-1:123456789012:[a-f0-9]+\/\$default\/GET\/admin\/tenants\/acme/,
    );
    shape.cloud.takeDenials();
  });

  it('answers SNS EndpointDisabled as a gone device: the push channel is marked disabled and the request still works', async () => {
    const registered = await shape.registerClient('acme');
    const device = await shape.enrolledDevice('acme', 'kate', { type: 'apns', token: 'apns-kate' });
    const endpoint = [...shape.cloud.sns.endpoints.values()].find((e) => e.attributes.Token === 'apns-kate')!;
    const rp = await shape.relyingParty('acme', registered);
    await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'kate',
      binding_message: 'first',
    });
    const [first] = shape.cloud.sns.deliveriesTo('apns-kate');
    expect(first!.payload).toMatchObject({ aps: { alert: { title: expect.any(String) } } });
    expect(first!.attributes['AWS.SNS.MOBILE.APNS.PUSH_TYPE']).toBe('alert');

    shape.cloud.sns.markUnregistered(endpoint.arn);
    const ack = await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'kate',
      binding_message: 'second',
    });
    expect(ack.auth_req_id).toBeTruthy();
    await shape.cloud.settle();
    expect((await device.profile()).push).toEqual({ type: 'apns', disabled: true });
    expect(shape.cloud.sns.deliveriesTo('apns-kate')).toHaveLength(1);
  });

  it('re-enables the disabled endpoint when the app registers the same token again, and pushes reach it', async () => {
    const registered = await shape.registerClient('acme');
    const device = await shape.enrolledDevice('acme', 'lena', { type: 'fcm', token: 'fcm-lena' });
    const endpoint = [...shape.cloud.sns.endpoints.values()].find((e) => e.attributes.Token === 'fcm-lena')!;
    const rp = await shape.relyingParty('acme', registered);
    shape.cloud.sns.markUnregistered(endpoint.arn);
    await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'lena',
      binding_message: 'gone',
    });
    await shape.cloud.settle();
    expect((await device.profile()).push).toEqual({ type: 'fcm', disabled: true });

    // The app got the same token from FCM again (reinstalled, or the token was valid after all) and registers it.
    await device.setPush({ type: 'fcm', token: 'fcm-lena' });
    expect(shape.cloud.sns.endpoints.get(endpoint.arn)?.attributes.Enabled).toBe('true');
    expect((await device.profile()).push).toEqual({ type: 'fcm', disabled: false });
    await client.initiateBackchannelAuthentication(rp, {
      scope: 'openid',
      login_hint: 'lena',
      binding_message: 'back',
    });
    await shape.cloud.settle();
    expect(shape.cloud.sns.deliveriesTo('fcm-lena')).toHaveLength(1);
  });

  it('sends Web Push with the VAPID keys the provisioner read from Secrets Manager', async () => {
    const pushService = await Receiver.start(shape.cloud, shape.pki, 'fcm.googleapis.com');
    try {
      const registered = await shape.registerClient('acme');
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const subscription = {
        endpoint: pushService.endpoint([201]).replace('/cb/', '/fcm/send/'),
        keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
      };
      await shape.enrolledDevice('acme', 'liam', { type: 'webpush', subscription });
      const rp = await shape.relyingParty('acme', registered);
      await client.initiateBackchannelAuthentication(rp, {
        scope: 'openid',
        login_hint: 'liam',
        binding_message: 'web push',
      });
      await shape.cloud.settle();
      const [pushed] = pushService.received;
      expect(pushed?.headers['content-encoding']).toBe('aes128gcm');
      const vapid = /^vapid t=([^,]+), k=(.+)$/.exec(String(pushed?.headers.authorization));
      const secret = JSON.parse(shape.cloud.secrets.secrets.get('ciba/acme/webpush')!.value) as { publicKey: string };
      expect(vapid?.[2]).toBe(secret.publicKey);
      const point = Buffer.from(secret.publicKey, 'base64url');
      const key = await importJWK(
        {
          kty: 'EC',
          crv: 'P-256',
          x: point.subarray(1, 33).toString('base64url'),
          y: point.subarray(33).toString('base64url'),
        },
        'ES256',
      );
      const { payload } = await jwtVerify(vapid![1]!, key);
      expect(payload).toMatchObject({ aud: 'https://fcm.googleapis.com', sub: 'mailto:ops@acme.example' });
      expect(decodeProtectedHeader(vapid![1]!).alg).toBe('ES256');
    } finally {
      await pushService.stop();
    }
  });

  let consoleClient: { client_id: string; client_secret: string };
  let changedTenants: string;

  it('updates and deletes tenants through the custom resources when the tenants file changes; without ciba:console a console_client_id leads to 404', async () => {
    consoleClient = await shape.registerClient('acme');
    changedTenants = tenantsFile((tenants) => {
      const acme = tenants.find((t) => t.id === 'acme')!;
      acme.settings.display_name = 'ACME renamed';
      acme.settings.console_client_id = consoleClient.client_id;
      tenants.splice(
        tenants.findIndex((t) => t.id === 'shop'),
        1,
      );
    });
    await shape.cloud.cfn.deploy(
      'ciba-service',
      serviceTemplate(await variantAssembly({ 'ciba:tenants': changedTenants })),
    );
    // Warm functions keep tenant settings for up to 30 s (lib/cache.ts).
    await shape.cloud.advance(31_000);
    const acme = (await shape.admin('GET', '/admin/tenants/acme')).body;
    expect(acme).toMatchObject({ display_name: 'ACME renamed', console_client_id: consoleClient.client_id });
    // shop's entry said on_delete: destroy.
    expect((await shape.admin('GET', '/admin/tenants/shop')).status).toBe(404);
    // The console routes do not exist: API Gateway answers, no function runs (the web role has none of their permissions).
    const page = await fetch(`${shape.issuer('acme')}/console`);
    expect(page.status).toBe(404);
    expect(await page.json()).toEqual({ message: 'Not Found' });
  }, 300_000);

  it("with ciba:console, the console routes appear and send and poll as the tenant's console client", async () => {
    const device = await shape.enrolledDevice('acme', 'mia', { type: 'fcm', token: 'fcm-mia' });
    const dir = await variantAssembly({ 'ciba:console': 'true', 'ciba:tenants': changedTenants });
    await shape.cloud.cfn.deploy('ciba-service', serviceTemplate(dir));
    const origin = new URL(shape.cloud.baseUrl).origin;
    const call = (path: string, body: unknown) =>
      fetch(`${shape.issuer('acme')}/console/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-ciba-console': '1', origin },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    expect((await fetch(`${shape.issuer('acme')}/console`)).status).toBe(200);
    const sent = await call('requests', { login_hint: 'mia', binding_message: 'from the console' });
    expect(sent).toMatchObject({ status: 200, body: { status: 'sent' } });
    await device.decide(pushedTxn(shape.cloud, 'fcm-mia'), 'approve');
    await shape.cloud.advance(2000);
    const polled = await call('poll', { auth_req_id: sent.body.auth_req_id });
    expect(polled).toMatchObject({ status: 200, body: { status: 'approved', claims: { sub: 'mia' } } });
  }, 300_000);
});
