import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceNotification, EventBus } from '../../lib/ports.ts';
import {
  createTenantFixture,
  enrollDevice,
  postForm,
  startTestService,
  type TenantFixture,
  type TestService,
} from '../helpers/service.ts';

/** Resolves when `signal` is called, or with false after `ms`. */
const waitFor = (ms: number) => {
  let signal!: () => void;
  const seen = new Promise<boolean>((resolve) => {
    signal = () => resolve(true);
    setTimeout(() => resolve(false), ms).unref();
  });
  return { seen, signal };
};

describe('bc-authorize: the device push and the Request Created event', () => {
  let svc: TestService;
  let fx: TenantFixture;
  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'side-effects');
    await enrollDevice(svc, fx);
  });
  afterAll(() => svc.stop());

  it('are sent side by side, and the answer waits for both', async () => {
    const { notifier, events } = svc.service.deps;
    const notify = notifier.notify.bind(notifier);
    const publish = events.publish.bind(events);
    const published = waitFor(2_000);
    const notified = waitFor(2_000);
    const order: string[] = [];
    // Each side waits until the other has started: sequential sends would have the first one time out.
    notifier.notify = async (device, message: DeviceNotification) => {
      notified.signal();
      const sawEvent = await published.seen;
      order.push(`push done (event started first: ${sawEvent})`);
      return notify(device, message);
    };
    events.publish = (async (list) => {
      published.signal();
      const sawPush = await notified.seen;
      order.push(`event done (push started first: ${sawPush})`);
      return publish(list);
    }) as EventBus['publish'];
    try {
      const res = await postForm(
        `${fx.issuer}/bc-authorize`,
        { scope: 'openid', login_hint: 'alice', binding_message: 'Side by side' },
        fx.client,
      );
      expect(res.status).toBe(200);
      expect(order.sort()).toEqual(['event done (push started first: true)', 'push done (event started first: true)']);
    } finally {
      notifier.notify = notify;
      events.publish = publish;
    }
  });
});
