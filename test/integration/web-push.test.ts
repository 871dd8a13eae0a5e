import { createECDH, randomBytes } from 'node:crypto';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webPush from 'web-push';
import { GuardedOutboundHttp } from '../../lib/adapters/guarded-outbound-http.ts';
import { WebPushDeviceNotifier } from '../../lib/adapters/web-push-device-notifier.ts';
import { DEFAULT_TENANT_SETTINGS, type DeviceSummary } from '../../lib/model.ts';
import type { DeviceNotification } from '../../lib/ports.ts';
import { TestPki } from '../helpers/strong-auth.ts';

/**
 * The default Web Push sender (the web-push library, loaded on first use, encrypts and signs; the guarded outbound
 * client sends) against a local push service over HTTPS: what a real push service receives (RFC 8030 headers,
 * RFC 8291 aes128gcm body, RFC 8292 VAPID), how its answers reach the notifier, and that the push endpoint passes
 * the outbound guard (hardening rule 3).
 */
describe('Web Push through the web-push library', () => {
  const received: { path: string; headers: Record<string, string | string[] | undefined>; bytes: number }[] = [];
  let answer = 201;
  let server: Server;
  let origin: string;
  let outbound: GuardedOutboundHttp;
  const vapid = webPush.generateVAPIDKeys();
  const browser = createECDH('prime256v1');
  browser.generateKeys();

  beforeAll(async () => {
    const pki = await TestPki.create();
    outbound = new GuardedOutboundHttp({ trustedCa: pki.ca.cert });
    server = createHttpsServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, bytes });
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const notifier = (developmentMode = true) =>
    new WebPushDeviceNotifier({
      next: { notify: async () => ({}) },
      tenants: {
        get: async () => ({
          tenantId: 't',
          createdAt: 0,
          updatedAt: 0,
          settings: {
            ...DEFAULT_TENANT_SETTINGS,
            // The push service listens on loopback: reachable in development mode only.
            developmentMode,
            webPush: {
              subject: 'mailto:ops@example.com',
              vapidPublicKey: vapid.publicKey,
              vapidPrivateKey: vapid.privateKey,
            },
          },
        }),
      },
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      now: () => 1_000,
      outbound,
    });
  const device = (path: string): DeviceSummary => ({
    deviceId: 'd',
    name: 'Browser',
    createdAt: 0,
    push: {
      type: 'webpush',
      subscription: {
        endpoint: `${origin}${path}`,
        keys: { p256dh: browser.getPublicKey('base64url'), auth: randomBytes(16).toString('base64url') },
      },
    },
  });
  const notification: DeviceNotification = {
    tenantId: 't',
    txn: 'x',
    title: 'Approve?',
    body: 'Hi',
    expiresAt: 301_000,
  };

  it('sends an encrypted message with a VAPID token for the push service origin', async () => {
    answer = 201;
    expect(await notifier().notify(device('/push/one'), notification)).toEqual({});
    const [request] = received.splice(0);
    expect(request?.path).toBe('/push/one');
    expect(request?.headers['content-encoding']).toBe('aes128gcm');
    expect(request?.headers.ttl).toBe('300');
    expect(request?.headers.urgency).toBe('high');
    expect(request?.bytes).toBeGreaterThan(86); // RFC 8188 header (86 bytes with a P-256 key id) + ciphertext
    const auth = /^vapid t=([^,]+), k=(.+)$/.exec(String(request?.headers.authorization));
    expect(auth?.[2]).toBe(vapid.publicKey);
    const point = Buffer.from(vapid.publicKey, 'base64url');
    const key = await importJWK({
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
      alg: 'ES256',
    });
    expect(decodeProtectedHeader(auth![1]!).alg).toBe('ES256');
    const { payload } = await jwtVerify(auth![1]!, key, { audience: origin });
    expect(payload.sub).toBe('mailto:ops@example.com');
  });

  it('disables the channel when the push service says the subscription is gone (410)', async () => {
    answer = 410;
    expect(await notifier().notify(device('/push/gone'), notification)).toEqual({ disabled: true });
    expect(received.splice(0).map((r) => r.path)).toEqual(['/push/gone']);
  });

  it('refuses a push endpoint on loopback outside development mode, without connecting', async () => {
    answer = 201;
    expect(await notifier(false).notify(device('/push/refused'), notification)).toEqual({});
    expect(received.splice(0)).toEqual([]);
  });
});
