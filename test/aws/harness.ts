import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { vi } from 'vitest';
import { signRequest } from '../../lib/cli/sigv4.ts';
import { DeviceClient, DeviceKey } from '../../lib/device/index.ts';
import { TestPki } from '../helpers/strong-auth.ts';
import { AwsShape, REGION } from './cloud.ts';
import { pushSecrets } from './fixtures.ts';
import type { PolicyDocument } from './iam.ts';
import type { Credentials } from './sigv4.ts';
import { bundledAssembly } from './synth.ts';

/**
 * What the AWS-shape flows share: the deployment started on the fakes, an operator calling the admin API with SigV4
 * (the CLI's signer), relying parties (openid-client 6), devices (the device SDK), and HTTPS receivers reachable from
 * the functions through the fake internet.
 */

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

// A flow crosses several cold starts of real bundles: on a loaded 2-core machine that takes far longer than a unit
// test. These are limits against hangs, not timings.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 300_000 });

/** The operator policy docs/deploy.md gives platform teams (step 7), for this deployment's API. */
export const operatorPolicy = (cloud: AwsShape): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: 'execute-api:Invoke',
      Resource: `arn:aws:execute-api:${REGION}:${cloud.account}:${[...cloud.apis.values()][0]!.apiId}/$default/*/admin/*`,
    },
  ],
});

export interface JsonAnswer {
  status: number;
  body: any;
  headers: Headers;
}

const answer = async (res: Response): Promise<JsonAnswer> => {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, body, headers: res.headers };
};

/** An admin API call signed with SigV4 for execute-api, as `ciba --aws` signs it. */
export const signedFetch = async (
  credentials: Credentials | undefined,
  method: string,
  url: string,
  body?: unknown,
): Promise<JsonAnswer> => {
  const json = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = json ? { 'content-type': 'application/json' } : {};
  const signed = credentials
    ? await signRequest(
        { method, url, headers, ...(json !== undefined ? { body: json } : {}) },
        { region: REGION, credentials },
      )
    : headers;
  return answer(await fetch(url, { method, headers: signed, ...(json !== undefined ? { body: json } : {}) }));
};

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A client's notification endpoint (or a Web Push service): HTTPS on loopback with a certificate for its host names,
 * published on the fake internet so the functions reach it at a public address. Each path answers from its own
 * script (the last answer repeats; 204 when none).
 */
/** A receiver's answer that never comes: the request is held until the caller gives up (its response timeout). */
export const HANG = 0;

export class Receiver {
  readonly received: ReceivedRequest[] = [];
  readonly #scripts = new Map<string, number[]>();
  readonly #waiters: { path: string; count: number; resolve: () => void }[] = [];
  /** Requests held without an answer (HANG), by path, until the caller closes the connection. */
  readonly #held = new Map<string, number>();

  private constructor(
    readonly host: string,
    readonly server: Server,
  ) {}

  static async start(cloud: AwsShape, pki: TestPki, host: string): Promise<Receiver> {
    const cert = await pki.issue(`CN=${host}`, [{ type: 'dns', value: host }]);
    const server = createServer({ cert: cert.cert, key: cert.key });
    const receiver = new Receiver(host, server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const n = receiver.received.filter((r) => r.path === path).length;
        receiver.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString() });
        for (const waiter of receiver.#waiters.filter((w) => w.path === path && w.count <= n + 1)) {
          receiver.#waiters.splice(receiver.#waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
        const script = receiver.#scripts.get(path) ?? [];
        const status = script[Math.min(n, script.length - 1)] ?? 204;
        if (status === HANG) {
          receiver.#held.set(path, (receiver.#held.get(path) ?? 0) + 1);
          res.on('close', () => receiver.#held.set(path, receiver.#held.get(path)! - 1));
          return;
        }
        res.writeHead(status);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cloud.publish(host, { port: (server.address() as AddressInfo).port, ca: pki.ca.cert });
    return receiver;
  }

  /** A fresh path with its answers (statuses in turn, the last one kept; HANG never answers), as an https URL on this host. */
  endpoint(answers: number[] = []): string {
    const path = `/cb/${randomUUID()}`;
    this.#scripts.set(path, answers);
    return `https://${this.host}${path}`;
  }

  /** Resolves once `count` requests have reached the URL's path (at once if they have). */
  arrived(url: string, count = 1): Promise<void> {
    const path = new URL(url).pathname;
    if (this.received.filter((r) => r.path === path).length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ path, count, resolve }));
  }

  /** How many requests to the URL's path are held now (HANG), their connections still open. */
  holding(url: string): number {
    return this.#held.get(new URL(url).pathname) ?? 0;
  }

  at(url: string): ReceivedRequest[] {
    const path = new URL(url).pathname;
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

export interface Shape {
  cloud: AwsShape;
  operator: Credentials;
  pki: TestPki;
  admin(method: string, path: string, body?: unknown): Promise<JsonAnswer>;
  issuer(tenant: string): string;
  /** Registers a client; returns its id and secret (and the metadata given). */
  registerClient(
    tenant: string,
    metadata?: Record<string, unknown>,
  ): Promise<{ client_id: string; client_secret: string }>;
  /** A user with an enrolled device (the device SDK, DPoP-signed). */
  enrolledDevice(tenant: string, sub: string, push?: Record<string, unknown>): Promise<DeviceClient>;
  /** openid-client 6 configured for the client through discovery (plain HTTP on loopback only). */
  relyingParty(tenant: string, registered: { client_id: string; client_secret: string }): Promise<client.Configuration>;
  stop(): Promise<void>;
}

/** Starts the deployment of the cached bundled assembly (or `assembly`, a variant) with the push secrets. */
export const startShape = async (assembly?: { dir: string }): Promise<Shape> => {
  const bundled = await bundledAssembly();
  const cloud = await AwsShape.start({
    assembly: assembly?.dir ?? bundled,
    code: bundled,
    secrets: pushSecrets(),
  });
  const operator = cloud.operator(operatorPolicy(cloud));
  const pki = await TestPki.create();
  const issuer = (tenant: string) => `${cloud.baseUrl}/${tenant}`;
  const admin = (method: string, path: string, body?: unknown) =>
    signedFetch(operator, method, `${cloud.baseUrl}${path}`, body);
  return {
    cloud,
    operator,
    pki,
    admin,
    issuer,
    async registerClient(tenant, metadata = {}) {
      const res = await admin('POST', `/admin/tenants/${tenant}/clients`, {
        client_name: 'Harness client',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: [CIBA_GRANT],
        backchannel_token_delivery_mode: 'poll',
        ...metadata,
      });
      if (res.status !== 201) throw new Error(`client registration: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async enrolledDevice(tenant, sub, push) {
      const user = await admin('PUT', `/admin/tenants/${tenant}/users/${sub}`, {
        name: `User ${sub}`,
        email: `${sub}@example.com`,
      });
      if (user.status >= 300) throw new Error(`user: ${user.status} ${JSON.stringify(user.body)}`);
      const ticket = await admin('POST', `/admin/tenants/${tenant}/users/${sub}/enrollment-tickets`, {});
      if (ticket.status !== 201) throw new Error(`ticket: ${ticket.status} ${JSON.stringify(ticket.body)}`);
      const device = new DeviceClient({ issuer: issuer(tenant), key: await DeviceKey.generate() });
      await device.enroll({
        ticket: ticket.body.ticket,
        name: 'Harness phone',
        ...(push ? { push: push as never } : {}),
      });
      return device;
    },
    relyingParty: (tenant, registered) =>
      client.discovery(
        new URL(issuer(tenant)),
        registered.client_id,
        undefined,
        client.ClientSecretBasic(registered.client_secret),
        {
          execute: [client.allowInsecureRequests],
        },
      ),
    stop: () => cloud.stop(),
  };
};

/** The txn of the newest push SNS delivered to the device with this FCM token (the device reads it from its push). */
/** The `CIBA Request Decided` events put on the bus for a request, each with the function that put it. */
/**
 * An operator's rule on the deployment's bus (an audit log's: by default every event of the service), without
 * targets. The functions see it once they read the bus's rules again (`RULES_TTL_MS`: advance the clock). Returns its
 * removal.
 */
export const operatorRule = (cloud: AwsShape, pattern: Record<string, unknown> = { source: ['ciba'] }) => {
  const [bus, busArn] = [...cloud.eventbridge.buses].find(([name]) => name !== 'default')!;
  const arn = busArn.replace(/event-bus\/.*$/, `rule/${bus}/operator-audit`);
  cloud.eventbridge.createRule({ name: 'operator-audit', arn, bus, pattern, enabled: true, targets: [] });
  return () => void cloud.eventbridge.rules.delete(arn);
};

export const decidedEvents = (cloud: AwsShape, txn: string): { function?: string; status: unknown }[] =>
  cloud.eventbridge.events
    .filter(
      (e) =>
        e.event['detail-type'] === 'CIBA Request Decided' &&
        (e.event.detail as { txn?: string } | undefined)?.txn === txn,
    )
    .map((e) => ({
      ...(e.function ? { function: e.function } : {}),
      status: (e.event.detail as { status?: unknown }).status,
    }));

export const pushedTxn = (cloud: AwsShape, token: string): string => {
  const payload = cloud.sns.deliveriesTo(token).at(-1)?.payload as
    | { fcmV1Message: { message: { data: { txn: string } } } }
    | undefined;
  if (!payload) throw new Error(`no push delivered to ${token}`);
  return payload.fcmV1Message.message.data.txn;
};
