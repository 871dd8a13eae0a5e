import { describe, expect, it } from 'vitest';
import type { Decision } from '../../../lib/device/client.ts';
import { DeviceApiError, RequestNotPending } from '../../../lib/device/errors.ts';
import {
  answerFromNotification,
  issuerOfScope,
  NOTIFICATION_ACTIONS,
} from '../../../lib/web/browser/notification-actions.ts';

/** The service worker's answers to the notification's buttons, with a fake device (the SDK's `decide`). */
describe('notification actions', () => {
  const device = (answer: (txn: string, decision: Decision) => unknown) => {
    const calls: [string, Decision][] = [];
    return {
      calls,
      decide: async (txn: string, decision: Decision) => {
        calls.push([txn, decision]);
        const out = answer(txn, decision);
        if (out instanceof Error) throw out;
        return out as { txn: string; status: 'denied' | 'reported' };
      },
    };
  };

  it('offers Deny and "I didn\'t ask for this", never Approve', () => {
    expect(NOTIFICATION_ACTIONS.map((a) => a.action)).toEqual(['deny', 'report']);
    expect(NOTIFICATION_ACTIONS.map((a) => a.title)).toEqual(['Deny', "I didn't ask for this"]);
  });

  it('reports the request with the device and says so', async () => {
    const d = device((txn) => ({ txn, status: 'reported' }));
    expect(await answerFromNotification(d, { txn: 't1', action: 'report' })).toMatchObject({
      open: false,
      title: 'Reported',
    });
    expect(d.calls).toEqual([['t1', 'report']]);
  });

  it('denies the request with the device and says so', async () => {
    const d = device((txn) => ({ txn, status: 'denied' }));
    expect(await answerFromNotification(d, { txn: 't2', action: 'deny' })).toMatchObject({ title: 'Denied' });
    expect(d.calls).toEqual([['t2', 'deny']]);
  });

  it('says a request that is no longer pending is gone; opens the page for anything else', async () => {
    const gone = device(() => new RequestNotPending(409, 'request_not_pending'));
    expect(await answerFromNotification(gone, { txn: 't', action: 'deny' })).toMatchObject({
      title: 'No longer pending',
    });
    const offline = device(() => new DeviceApiError(0, 'network_error'));
    expect(await answerFromNotification(offline, { txn: 't', action: 'report' })).toEqual({ open: true });
    expect(await answerFromNotification(undefined, { txn: 't', action: 'report' })).toEqual({ open: true });
    const unused = device(() => ({}));
    expect(await answerFromNotification(unused, { txn: undefined, action: 'report' })).toEqual({ open: true });
    expect(unused.calls).toEqual([]);
  });

  it('finds the issuer from the worker scope', () => {
    expect(issuerOfScope('https://id.example.com/acme/authenticator/')).toBe('https://id.example.com/acme');
    expect(issuerOfScope('http://127.0.0.1:8787/demo/authenticator')).toBe('http://127.0.0.1:8787/demo');
  });
});
