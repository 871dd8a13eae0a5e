import { createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestPki } from './strong-auth.ts';

/** A browser's side of a Web Push subscription: its ECDH key and auth secret, and the service endpoint. */
export interface BrowserSubscription {
  subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
  /** Decrypts a message sent to this subscription (RFC 8291, aes128gcm), as the browser does. */
  decrypt(body: Buffer): string;
}

export interface ReceivedPush {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A push service on loopback over HTTPS (certificate from the test PKI) that keeps every message it is sent, and
 * browser subscriptions whose messages the test can decrypt: what a notification really carried.
 */
export class TestPushService {
  readonly received: ReceivedPush[] = [];

  private constructor(
    private readonly server: Server,
    readonly origin: string,
  ) {}

  static async start(pki: TestPki): Promise<TestPushService> {
    const server = createServer({ cert: pki.server.cert, key: pki.server.key });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const service = new TestPushService(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        service.received.push({ path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(201).end();
      });
    });
    return service;
  }

  subscribe(path: string): BrowserSubscription {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    const uaPublic = ecdh.getPublicKey();
    return {
      subscription: {
        endpoint: `${this.origin}${path}`,
        keys: { p256dh: uaPublic.toString('base64url'), auth: auth.toString('base64url') },
      },
      decrypt: (body) => {
        // RFC 8188 header: salt (16), record size (4), key id length (1), key id (the sender's public key).
        const salt = body.subarray(0, 16);
        const idLength = body[20]!;
        const asPublic = body.subarray(21, 21 + idLength);
        const ciphertext = body.subarray(21 + idLength);
        const secret = ecdh.computeSecret(asPublic);
        const info = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
        const ikm = Buffer.from(hkdfSync('sha256', secret, auth, info, 32));
        const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
        const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
        const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
        decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
        const padded = Buffer.concat([
          decipher.update(ciphertext.subarray(0, ciphertext.length - 16)),
          decipher.final(),
        ]);
        // The last record ends with the delimiter 0x02 and zero padding.
        return padded.subarray(0, padded.lastIndexOf(2)).toString('utf8');
      },
    };
  }

  at(path: string): ReceivedPush[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
