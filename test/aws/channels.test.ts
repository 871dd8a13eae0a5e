import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.ts';
import { type Shape, startShape } from './harness.ts';
import { variantAssembly } from './synth.ts';

/**
 * Approval links on the AWS shape (docs/channels.md): bc-authorize sends the link with SES SendEmail from the
 * deployment's verified identity (`ciba:emailFrom`) and with SNS Publish to a phone number (`ciba:smsSenderId`),
 * each with the function's own role; the approval page's decision runs in the web function; the client's poll gets
 * tokens with the link's acr. Every AWS call is checked against the deployed IAM policies (no denial).
 */
describe('approval links on the AWS shape', () => {
  let shape: Shape;

  beforeAll(async () => {
    const dir = await variantAssembly({ 'ciba:emailFrom': 'no-reply@bank.example', 'ciba:smsSenderId': 'MYBANK' });
    shape = await startShape({ dir });
    shape.cloud.ses.verify('bank.example');
    shape.cloud.ses.verify('dana@example.com');
    shape.cloud.sns.verifiedPhones.add('+15555550123');
  }, 300_000);
  afterAll(() => shape?.stop());
  afterEach(() => shape.cloud.expectNoDenials());

  const call = (tenant: string, path: 'view' | 'decide', body: Record<string, unknown>) =>
    fetch(`${shape.issuer(tenant)}/approve/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (res) => ({ status: res.status, body: await res.json() }));
  const decide = (tenant: string, link: string, decision: string) => call(tenant, 'decide', { link, decision });

  it('sends by SES and SNS SMS, and a link approval gives tokens with its acr', async () => {
    const tenant = await shape.admin('PUT', '/admin/tenants/linkbank', {
      display_name: 'Link Bank',
      channels: ['email', 'sms'],
    });
    expect(tenant.status).toBe(201);
    expect((await shape.admin('PUT', '/admin/tenants/linkbank/users/dana', { email: 'dana@example.com' })).status).toBe(
      201,
    );
    expect(
      (await shape.admin('PUT', '/admin/tenants/linkbank/users/eve', { phone_number: '+15555550123' })).status,
    ).toBe(201);
    const registered = await shape.registerClient('linkbank');
    const rp = await shape.relyingParty('linkbank', registered);
    expect(rp.serverMetadata().acr_values_supported).toEqual(
      expect.arrayContaining(['urn:ciba-service:acr:email-link', 'urn:ciba-service:acr:sms-link']),
    );

    const ack = await client.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: 'dana' });
    expect(shape.cloud.ses.sent).toHaveLength(1);
    const [mail] = shape.cloud.ses.sent;
    expect(mail).toMatchObject({ from: 'no-reply@bank.example', to: ['dana@example.com'] });
    expect(mail!.subject).toBe('Link Bank: Harness client asks you to confirm');
    const link = /\/approve#([A-Za-z0-9_-]{43})/.exec(mail!.text)![1]!;
    const page = await fetch(`${shape.issuer('linkbank')}/approve`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await decide('linkbank', link, 'approve')).toEqual({ status: 200, body: { state: 'approved' } });
    const tokens = await client.pollBackchannelAuthenticationGrant(rp, ack);
    expect(decodeJwt(tokens.id_token!).acr).toBe('urn:ciba-service:acr:email-link');
    expect((await decide('linkbank', link, 'deny')).status).toBe(409);

    await client.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: 'eve' });
    expect(shape.cloud.sns.texts).toHaveLength(1);
    const [text] = shape.cloud.sns.texts;
    expect(text).toMatchObject({
      phoneNumber: '+15555550123',
      attributes: { 'AWS.SNS.SMS.SMSType': 'Transactional', 'AWS.SNS.SMS.SenderID': 'MYBANK' },
    });
    expect(text!.message).toContain('Link Bank: Harness client asks you to confirm. Open ');
    const smsLink = /\/approve#([A-Za-z0-9_-]{43})/.exec(text!.message)![1]!;
    expect(await decide('linkbank', smsLink, 'deny')).toEqual({ status: 200, body: { state: 'denied' } });
  });

  it("approves a link with the user's passkey where the tenant requires one: view and decision with their roles", async () => {
    expect(
      (
        await shape.admin('PUT', '/admin/tenants/keybank', {
          display_name: 'Key Bank',
          channels: ['email'],
          user_verification: 'passkey',
        })
      ).status,
    ).toBe(201);
    shape.cloud.ses.verify('fay@example.com');
    // fay registered a passkey on her device; the link is sent by email (the tenant's only channel).
    const device = await shape.enrolledDevice('keybank', 'fay');
    const authenticator = new SoftwareAuthenticator(new URL(shape.issuer('keybank')).origin);
    const options = (await device.passkeyRegistrationOptions()) as { challenge: string; rp: { id?: string } };
    await device.registerPasskey(authenticator.create(options));
    const rp = await shape.relyingParty('keybank', await shape.registerClient('keybank'));
    const ack = await client.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: 'fay' });
    const mail = shape.cloud.ses.sent.find((m) => m.to.includes('fay@example.com'))!;
    const link = /\/approve#([A-Za-z0-9_-]{43})/.exec(mail.text)![1]!;

    // The consent function reads fay's passkeys from the directory with its role.
    const view = await call('keybank', 'view', { link });
    expect(view.body).toMatchObject({ state: 'pending', can_approve: true });
    expect(view.body.webauthn.allowCredentials).toEqual([
      expect.objectContaining({ id: authenticator.credentialId.toString('base64url') }),
    ]);
    expect((await decide('keybank', link, 'approve')).body.error).toBe('user_verification_required');
    const webauthn = authenticator.get(view.body.webauthn);
    expect(await call('keybank', 'decide', { link, decision: 'approve', webauthn })).toEqual({
      status: 200,
      body: { state: 'approved' },
    });
    const tokens = await client.pollBackchannelAuthenticationGrant(rp, ack);
    expect(decodeJwt(tokens.id_token!).acr).toBe('urn:ciba-service:acr:email-link');
  });

  it('falls back from an unanswered push to email through the scheduler and the callback function, once', async () => {
    expect(
      (
        await shape.admin('PUT', '/admin/tenants/fallbackbank', {
          channels: ['device', 'email'],
          channel_fallback_seconds: 60,
        })
      ).status,
    ).toBe(201);
    const device = await shape.enrolledDevice('fallbackbank', 'dana');
    const registered = await shape.registerClient('fallbackbank');
    const rp = await shape.relyingParty('fallbackbank', registered);
    const sent = shape.cloud.ses.sent.length;
    const ack = await client.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: 'dana' });
    await shape.cloud.settle();
    expect(shape.cloud.ses.sent).toHaveLength(sent);
    await shape.cloud.advance(61_000);
    await shape.cloud.settle();
    expect(shape.cloud.ses.sent).toHaveLength(sent + 1);
    const link = /\/approve#([A-Za-z0-9_-]{43})/.exec(shape.cloud.ses.sent.at(-1)!.text)![1]!;
    const [tx] = await device.pending();
    expect(await device.decide(tx!.txn, 'approve')).toEqual({ txn: tx!.txn, status: 'approved' });
    expect(await decide('fallbackbank', link, 'deny')).toMatchObject({ status: 409, body: { state: 'approved' } });
    const tokens = await client.pollBackchannelAuthenticationGrant(rp, ack);
    expect(decodeJwt(tokens.id_token!).acr).toBeUndefined();
    await shape.cloud.advance(10 * 60_000);
    await shape.cloud.settle();
    expect(shape.cloud.ses.sent).toHaveLength(sent + 1);
  });

  it('withdraws the fallback of a request decided in time: the events function deletes its schedule, nothing runs', async () => {
    // The tenant of the test before, as it left it (or created here when this test runs alone).
    const put = await shape.admin('PUT', '/admin/tenants/fallbackbank', {
      channels: ['device', 'email'],
      channel_fallback_seconds: 60,
    });
    expect([200, 201]).toContain(put.status);
    const device = await shape.enrolledDevice('fallbackbank', 'erik');
    const rp = await shape.relyingParty('fallbackbank', await shape.registerClient('fallbackbank'));
    const sent = shape.cloud.ses.sent.length;
    const ack = await client.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: 'erik' });
    const [tx] = await device.pending();
    const timer = [...shape.cloud.scheduler.schedules.values()].find(
      (s) => s.name.startsWith('channel-fallback-') && JSON.stringify(s.input).includes(tx!.txn),
    );
    expect(timer?.createdBy).toBe(shape.cloud.fn('bc-authorize').name);
    const since = shape.cloud.calls.length;
    expect(await device.decide(tx!.txn, 'approve')).toEqual({ txn: tx!.txn, status: 'approved' });
    await shape.cloud.settle();
    expect(
      shape.cloud.calls
        .slice(since)
        .filter((c) => c.service === 'scheduler')
        .map((c) => [c.function, c.action, c.resource, c.outcome]),
    ).toEqual([[shape.cloud.fn('events').name, 'scheduler:DeleteSchedule', timer!.arn, 'ok']]);
    const fired = shape.cloud.scheduler.fired.length;
    await shape.cloud.advance(61_000);
    await shape.cloud.settle();
    expect(shape.cloud.scheduler.fired).toHaveLength(fired);
    expect(shape.cloud.ses.sent).toHaveLength(sent);
    expect((await client.pollBackchannelAuthenticationGrant(rp, ack)).id_token).toBeDefined();
  });
});
