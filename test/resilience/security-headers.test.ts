/**
 * Security headers on every response (issue 7): every route of lib/http/routes.ts, called as a client would (with
 * real ids, so most answer 2xx) and as an attacker would (no credentials), plus the local server's own answers
 * (404, 405, 413, malformed path, health) and load shedding at the in-flight limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../lib/http/routes.ts';
import { startLocalService } from '../../lib/local/app.ts';
import { silentLogger } from '../../lib/logging.ts';
import { expectError } from '../helpers/expect-error.ts';
import {
  ADMIN_TOKEN,
  basicAuth,
  createTenantFixture,
  enrollDevice,
  nextTxn,
  postForm,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';

let svc: TestService;
let fx: TenantFixture;
let device: TestDevice;
let txn: string;
let authReqId: string;

beforeAll(async () => {
  svc = await startTestService();
  fx = await createTenantFixture(svc, 'headers', { user_rate_limit_per_minute: 1000 });
  device = await enrollDevice(svc, fx);
  authReqId = (await postForm(`${fx.issuer}/bc-authorize`, { scope: 'openid', login_hint: 'alice' }, fx.client)).body
    .auth_req_id;
  txn = await nextTxn(device);
}, 60_000);
afterAll(() => svc?.stop());

/** What every response must carry, and what each kind of response must carry besides. */
const checkHeaders = (label: string, res: Response) => {
  const h = res.headers;
  expect(h.get('x-content-type-options'), label).toBe('nosniff');
  expect(h.get('referrer-policy'), label).toBe('no-referrer');
  const cache = h.get('cache-control') ?? '';
  expect(cache, `${label}: Cache-Control`).not.toBe('');
  const type = h.get('content-type') ?? '';
  if (type.startsWith('text/html')) {
    const csp = h.get('content-security-policy') ?? '';
    expect(csp, label).toContain("default-src 'none'");
    expect(csp, label).toContain("frame-ancestors 'none'");
    expect(csp, label).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(h.get('x-frame-options'), label).toBe('DENY');
  }
  // Anything that is not a public document or a static asset (the service worker is one) is never stored by a cache.
  const publicDoc = /\/\.well-known\/|\/assets\/|manifest\.webmanifest|\/authenticator\/sw\.js/.test(label);
  if (!publicDoc && !type.startsWith('text/html')) expect(cache, label).toContain('no-store');
  if (res.status >= 400) expect(type, label).toMatch(/^application\/json/);
};

describe('security headers', () => {
  it('are on every response of every route, with and without credentials', async () => {
    const fill = (path: string) =>
      path
        .replace('{tenant}', fx.tenant)
        .replace('{txn}', txn)
        .replace('{client_id}', fx.client.client_id)
        .replace('{sub}', 'alice')
        .replace('{device_id}', device.deviceId)
        .replace('{auth_req_id}', authReqId)
        .replace('{file}', 'style.css');
    const seen: string[] = [];
    for (const route of ROUTES) {
      // Deleting would remove the fixture the next routes need: those are called without credentials only.
      const destructive = route.method === 'DELETE';
      const url = `${svc.url}${fill(route.path)}`;
      for (const withCredentials of destructive ? [false] : [true, false]) {
        const headers: Record<string, string> = {};
        if (withCredentials) {
          if (route.admin) headers.Authorization = `Bearer ${ADMIN_TOKEN}`;
          else if (route.fn === 'device' || route.fn === 'consent')
            headers.DPoP = await device.proof(route.method, url);
          else headers.Authorization = basicAuth(fx.client.client_id, fx.client.client_secret);
        }
        const body =
          route.method === 'GET' || route.method === 'DELETE'
            ? undefined
            : route.fn === 'token' || route.fn === 'bc-authorize'
              ? 'grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&auth_req_id=x'
              : '{}';
        if (body !== undefined) {
          headers['Content-Type'] = body.startsWith('{') ? 'application/json' : 'application/x-www-form-urlencoded';
        }
        const res = await fetch(url, { method: route.method, headers, ...(body !== undefined ? { body } : {}) });
        await res.arrayBuffer();
        const label = `${route.method} ${route.path} ${withCredentials ? 'authenticated' : 'anonymous'} -> ${res.status}`;
        checkHeaders(label, res);
        seen.push(label);
      }
    }
    // Both a success and a refusal of each kind were seen.
    expect(seen.some((l) => /well-known.* -> 200/.test(l))).toBe(true);
    expect(seen.some((l) => /authenticator.* -> 200/.test(l))).toBe(true);
    expect(seen.some((l) => /device\/transactions.* authenticated -> 200/.test(l))).toBe(true);
    expect(seen.some((l) => /admin.* anonymous -> 401/.test(l))).toBe(true);
  });

  it("are on the local server's own answers: 404, 405, 413, a malformed path and health", async () => {
    const cases: [string, RequestInit][] = [
      [`${svc.url}/nowhere/at/all`, {}],
      [`${fx.issuer}/bc-authorize`, { method: 'GET' }],
      [
        `${fx.issuer}/bc-authorize`,
        {
          method: 'POST',
          body: 'a='.padEnd(70_000, 'b'),
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        },
      ],
      [`${fx.issuer}/device/transactions/%E0%A4%A`, {}],
      [`${svc.url}/health`, {}],
    ];
    for (const [url, init] of cases) {
      const res = await fetch(url, init);
      await res.arrayBuffer();
      checkHeaders(`${init.method ?? 'GET'} ${url} -> ${res.status}`, res);
    }
  });
});

describe('load shedding', () => {
  it('answers 503 temporarily_unavailable with Retry-After beyond the in-flight limit, and serves what it accepted', async () => {
    const service = await startLocalService({
      port: 0,
      dataDir: 'memory',
      adminToken: ADMIN_TOKEN,
      logger: silentLogger,
      maxInFlight: 1,
    });
    try {
      // One request holds the only slot: its handler waits for the store (a request whose body is still on the way
      // holds no slot: test/resilience/slow-clients.test.ts).
      const admin = { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
      const created = await fetch(`${service.url}/admin/tenants/shed`, { method: 'PUT', headers: admin, body: '{}' });
      expect(created.status).toBe(201);
      const store = service.deps.users;
      const saveUser = store.save.bind(store);
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered!: () => void;
      const arrived = new Promise<void>((resolve) => {
        entered = resolve;
      });
      store.save = async (...args) => {
        entered();
        await released;
        return saveUser(...args);
      };
      const heldAnswer = fetch(`${service.url}/admin/tenants/shed/users/alice`, {
        method: 'PUT',
        headers: admin,
        body: '{"name": "Alice"}',
      }).then((res) => res.status);
      await arrived;
      const shed = await fetch(`${service.url}/admin/tenants/shed`, {
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const text = await shed.text();
      expectError(
        { status: shed.status, body: JSON.parse(text), headers: shed.headers },
        503,
        'temporarily_unavailable',
      );
      expect(shed.headers.get('retry-after')).toBe('1');
      // Health checks are not API calls: they still answer.
      expect((await fetch(`${service.url}/health`)).status).toBe(200);
      release();
      expect(await heldAnswer).toBe(201);
      const after = await fetch(`${service.url}/admin/tenants/shed`, {
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(after.status).toBe(200);
    } finally {
      await service.stop();
    }
  });
});
