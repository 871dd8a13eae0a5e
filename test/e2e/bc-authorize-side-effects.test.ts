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

/**
 * `signal()` marks a side as started; `seen()` resolves with true once it has (at once if it already has), or with
 * false when it has not within `ms` of the call. The wait starts when the other side starts waiting, not when the
 * test does: client authentication and the store writes before the two sends must not eat into it on a slow machine.
 */
const waitFor = (ms: number) => {
  let signal!: () => void;
  const started = new Promise<true>((resolve) => {
    signal = () => resolve(true);
  });
  const seen = () =>
    Promise.race([started, new Promise<false>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
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
    // Sent side by side, the second starts while the first waits (after at most a few store reads); sent one after
    // the other, it never does, however long the wait: a generous wait costs nothing when the test passes.
    const published = waitFor(5_000);
    const notified = waitFor(5_000);
    const order: string[] = [];
    // Each side waits until the other has started: sequential sends would have the first one time out.
    notifier.notify = async (device, message: DeviceNotification) => {
      notified.signal();
      const sawEvent = await published.seen();
      order.push(`push done (event started first: ${sawEvent})`);
      return notify(device, message);
    };
    events.publish = (async (list) => {
      published.signal();
      const sawPush = await notified.seen();
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
