import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { type LocalService, type LocalServiceOptions, startLocalService } from '../../lib/local/app.ts';
import { jsonLogger } from '../../lib/logging.ts';
import type { Clock } from '../../lib/ports.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

export interface TestService {
  url: string;
  service: LocalService;
  /** Every log line the service wrote, for secret-hygiene assertions. */
  logs: string[];
  /** The clock the service was given, if any: devices enrolled by `enrollDevice` sign their proofs with it. */
  clock?: Clock;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

/** The local service on a free port, store in memory, logs captured. */
export const startTestService = async (
  opts: {
    clock?: Clock;
    callbacks?: LocalServiceOptions['callbacks'];
    webAssetDirs?: string[];
    host?: string;
    /** CIBA_PUBLIC_URL. */
    publicUrl?: string;
    /** How long a client may take to send a request (default 10 s). */
    requestTimeoutMs?: number;
    /** A folder to persist the store in (default: memory). */
    dataDir?: string;
    /** Where embedded dynalite runs (default: in this process, over HTTP). */
    embeddedStore?: LocalServiceOptions['embeddedStore'];
    /** DYNAMODB_ENDPOINT: a store of its own instead of the embedded one. */
    dynamoDbEndpoint?: string;
    /** The port (default: a free one); a restart on the port before keeps the issuers its devices know. */
    port?: number;
  } = {},
): Promise<TestService> => {
  const logs: string[] = [];
  const service = await startLocalService({
    port: opts.port ?? 0,
    dataDir: opts.dataDir ?? 'memory',
    ...(opts.embeddedStore ? { embeddedStore: opts.embeddedStore } : {}),
    ...(opts.dynamoDbEndpoint ? { dynamoDbEndpoint: opts.dynamoDbEndpoint } : {}),
    adminToken: ADMIN_TOKEN,
    logger: jsonLogger({ level: 'debug', write: (line) => logs.push(line) }),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.callbacks ? { callbacks: opts.callbacks } : {}),
    ...(opts.webAssetDirs ? { webAssetDirs: opts.webAssetDirs } : {}),
    ...(opts.host ? { host: opts.host } : {}),
    ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
    ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
  });
  return {
    url: service.url,
    service,
    logs,
    admin: adminApi(service.url),
    stop: () => service.stop(),
    ...(opts.clock ? { clock: opts.clock } : {}),
  };
};

/** The admin API of the service at `url`, with the tests' admin token. */
export const adminApi =
  (url: string): TestService['admin'] =>
  async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };

export interface TenantFixture {
  tenant: string;
  issuer: string;
  client: { client_id: string; client_secret: string };
  /** alice's enrolled device, when the fixture was asked for one. */
  device?: TestDevice;
}

/**
 * A tenant with a poll client and the user `alice`. With `{device: true}` alice also has an enrolled device: a
 * request for a user without one is refused at once (403 access_denied, docs/clients.md).
 */
export const createTenantFixture = async (
  svc: TestService,
  tenant: string,
  settings: Record<string, unknown> = {},
  client: Record<string, unknown> = {},
  options: { device?: boolean } = {},
): Promise<TenantFixture> => {
  const t = await svc.admin('PUT', `/admin/tenants/${tenant}`, { backchannel_polling_interval: 1, ...settings });
  if (t.status !== 201) throw new Error(`tenant: ${t.status} ${JSON.stringify(t.body)}`);
  const u = await svc.admin('PUT', `/admin/tenants/${tenant}/users/alice`, {
    name: 'Alice Example',
    email: 'Alice@Example.com',
    phone_number: '+15555550100',
  });
  if (u.status !== 201) throw new Error(`user: ${u.status} ${JSON.stringify(u.body)}`);
  const c = await svc.admin('POST', `/admin/tenants/${tenant}/clients`, {
    client_name: 'Test Console',
    grant_types: [CIBA_GRANT],
    backchannel_token_delivery_mode: 'poll',
    ...client,
  });
  if (c.status !== 201) throw new Error(`client: ${c.status} ${JSON.stringify(c.body)}`);
  const fx: TenantFixture = {
    tenant,
    issuer: `${svc.url}/${tenant}`,
    client: { client_id: c.body.client_id, client_secret: c.body.client_secret },
  };
  if (options.device) fx.device = await enrollDevice(svc, fx);
  return fx;
};

/** Users with an enrolled device each (bc-authorize refuses users without one); created when they do not exist. */
export const reachableUsers = async (svc: TestService, fx: TenantFixture, ...subs: string[]): Promise<TestDevice[]> => {
  const devices: TestDevice[] = [];
  for (const sub of subs) {
    const u = await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/${encodeURIComponent(sub)}`);
    if (u.status === 404) await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/${encodeURIComponent(sub)}`, {});
    devices.push(await enrollDevice(svc, fx, sub));
  }
  return devices;
};

export const basicAuth = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A raw form POST with client_secret_basic (or no auth when `auth` is null). */
export const postForm = async (
  url: string,
  form: Record<string, string>,
  auth: { client_id: string; client_secret: string } | null,
  headers: Record<string, string> = {},
) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      ...(auth ? { Authorization: basicAuth(auth.client_id, auth.client_secret) } : {}),
      ...headers,
    },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
};

/** A device holding a P-256 key, signing RFC 9449 proofs for the device API. */
export class TestDevice {
  deviceId = '';

  private constructor(
    readonly issuer: string,
    private readonly privateKey: CryptoKey,
    readonly publicJwk: Record<string, unknown>,
    private readonly clock: Clock,
  ) {}

  /** `clock`: the time its proofs carry (the service's, when it runs on a test clock). */
  static async create(issuer: string, clock: Clock = { now: () => Date.now() }): Promise<TestDevice> {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const { kty, crv, x, y } = await exportJWK(publicKey);
    return new TestDevice(issuer, privateKey, { kty, crv, x, y }, clock);
  }

  async proof(
    htm: string,
    htu: string,
    extra: Record<string, unknown> = {},
    iat = Math.floor(this.clock.now() / 1000),
  ) {
    return new SignJWT({ htm, htu, jti: randomUUID(), ...extra })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: this.publicJwk })
      .setIssuedAt(iat)
      .sign(this.privateKey);
  }

  async call(method: string, path: string, body?: unknown, proof?: string) {
    const url = `${this.issuer}${path}`;
    const res = await fetch(url, {
      method,
      headers: {
        DPoP: proof ?? (await this.proof(method, url)),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  async enroll(ticket: string, extra: Record<string, unknown> = {}) {
    const res = await this.call('POST', '/device/enrollments', { ticket, name: 'Test phone', ...extra });
    if (res.status === 201) this.deviceId = res.body.device_id;
    return res;
  }

  pending() {
    return this.call('GET', '/device/transactions');
  }

  async decide(txn: string, decision: 'approve' | 'deny' | 'report') {
    const url = `${this.issuer}/device/transactions/${txn}`;
    return this.call(
      'POST',
      `/device/transactions/${txn}`,
      { decision },
      await this.proof('POST', url, { txn, decision }),
    );
  }
}

/** Enrolls a new device for `sub` through the admin API's ticket. */
export const enrollDevice = async (svc: TestService, fx: TenantFixture, sub = 'alice'): Promise<TestDevice> => {
  const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/${sub}/enrollment-tickets`);
  if (ticket.status !== 201) throw new Error(`ticket: ${ticket.status} ${JSON.stringify(ticket.body)}`);
  const device = await TestDevice.create(fx.issuer, svc.clock);
  const res = await device.enroll(ticket.body.ticket);
  if (res.status !== 201) throw new Error(`enroll: ${res.status} ${JSON.stringify(res.body)}`);
  return device;
};

/** Waits until the device sees a pending transaction and returns its txn. */
export const nextTxn = async (device: TestDevice): Promise<string> => {
  for (let i = 0; i < 50; i++) {
    const res = await device.pending();
    const txn = res.body?.transactions?.[0]?.txn;
    if (txn) return txn;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no pending transaction');
};
