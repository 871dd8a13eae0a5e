import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackReceiver, eventually } from '../helpers/callback-receiver.ts';
import { TestPushService } from '../helpers/push-service.ts';
import {
  createTenantFixture,
  enrollDevice,
  postForm,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';
import { TestPki } from '../helpers/strong-auth.ts';

const CODE = '4F-22';

/**
 * Hardening rule 2: with binding-code confirmation the user must read the code on the consumption device and type
 * it on the authenticator. Every notification channel is captured where it arrives (the device webhook's receiver,
 * the push service, decrypted as the browser would, the local live-event stream, the notifier's log line) and none
 * carries the code or the message; it still says who asks. SNS mobile push: test/unit/ciba/notify-devices.test.ts.
 */
describe('hardening rule 2: notifications do not give the binding code away', () => {
  let svc: TestService;
  let receiver: CallbackReceiver;
  let pushService: TestPushService;

  beforeAll(async () => {
    const pki = await TestPki.create();
    pushService = await TestPushService.start(pki);
    receiver = await CallbackReceiver.start();
    svc = await startTestService({ callbacks: { outbound: { trustedCa: pki.ca.cert } } });
  });
  afterAll(async () => {
    await svc?.stop();
    await receiver?.stop();
    await pushService?.stop();
  });

  const tenantWith = (tenant: string, settings: Record<string, unknown>) =>
    createTenantFixture(svc, tenant, {
      display_name: 'ACME Bank',
      // Loopback receivers (webhook, push service) are allowed in development mode only.
      development_mode: true,
      web_push: { subject: 'mailto:ops@example.com' },
      ...settings,
    });

  /** Opens the device's live-event stream (local mode) and resolves with the first transaction event's data. */
  const firstLiveEvent = async (fx: TenantFixture, device: TestDevice) => {
    const url = `${fx.issuer}/device/events`;
    const controller = new AbortController();
    const res = await fetch(url, { headers: { DPoP: await device.proof('GET', url) }, signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    return {
      event: (async () => {
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) throw new Error('the event stream ended');
          buffer += value;
          const match = /event: transaction\ndata: (.*)\n\n/.exec(buffer);
          if (match) {
            controller.abort();
            return match[1]!;
          }
        }
      })(),
    };
  };

  const start = (fx: TenantFixture, bindingMessage: string) =>
    postForm(
      `${fx.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', binding_message: bindingMessage },
      fx.client,
    );

  it('the webhook, Web Push, live-event and log notifications say who asks and carry no code', async () => {
    const fx = await tenantWith('notify-code', { binding_code_confirmation: true });
    const hooked = await enrollDevice(svc, fx);
    expect(
      (await hooked.call('PUT', '/device/push', { push: { type: 'webhook', url: receiver.endpoint('/code') } })).status,
    ).toBe(200);
    const browser = pushService.subscribe('/push/code');
    const pushed = await enrollDevice(svc, fx);
    expect(
      (await pushed.call('PUT', '/device/push', { push: { type: 'webpush', subscription: browser.subscription } }))
        .status,
    ).toBe(200);
    const live = await firstLiveEvent(fx, hooked);

    const ack = await start(fx, `Code ${CODE}`);
    expect(ack.status).toBe(200);

    const [hook] = await receiver.waitFor('/code', 1);
    const [push] = await eventually(async () =>
      pushService.at('/push/code').length ? pushService.at('/push/code') : undefined,
    );
    const webPush = browser.decrypt(push!.body);
    const liveEvent = await live.event;
    const logLines = svc.logs.filter((line) => line.includes('push to device'));
    expect(logLines.length).toBeGreaterThanOrEqual(2);

    for (const [channel, text] of [
      ['device webhook', hook!.body],
      ['Web Push', webPush],
      ['live event', liveEvent],
      ...logLines.map((line) => ['log', line]),
    ] as const) {
      expect(text, channel).not.toContain(CODE);
      expect(text, channel).not.toContain('Code ');
    }
    for (const text of [hook!.body, webPush]) {
      const shown = JSON.parse(text);
      expect(shown.title).toBe('ACME Bank: approve Test Console?');
      expect(shown.body).not.toContain(CODE);
    }
    // The device still gets the request, and the code is asked for there.
    const details = (await hooked.pending()).body.transactions[0];
    expect(details).toMatchObject({ binding_code_required: true });
    expect(details.binding_message).toBeUndefined();
  });

  it('without binding-code confirmation the notification shows the binding message (the control)', async () => {
    const fx = await tenantWith('notify-plain', {});
    const hooked = await enrollDevice(svc, fx);
    await hooked.call('PUT', '/device/push', { push: { type: 'webhook', url: receiver.endpoint('/plain') } });
    expect((await start(fx, `Code ${CODE}`)).status).toBe(200);
    const [hook] = await receiver.waitFor('/plain', 1);
    expect(JSON.parse(hook!.body)).toMatchObject({ title: 'ACME Bank: approve Test Console?', body: `Code ${CODE}` });
  });
});
