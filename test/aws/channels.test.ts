import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

  const decide = (tenant: string, link: string, decision: string) =>
    fetch(`${shape.issuer(tenant)}/approve/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ link, decision }),
    }).then(async (res) => ({ status: res.status, body: await res.json() }));

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
});
