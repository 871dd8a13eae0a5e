/**
 * SECURITY.md hardening rule 8: the Host header decides nothing a stranger controls. Without CIBA_PUBLIC_URL the
 * issuer (discovery, DPoP `htu`, enrollment URIs) comes from the Host header only when it names this server: a
 * loopback name or address with the port the request came in on. Any other Host is 421 and changes nothing.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  createTenantFixture,
  enrollDevice,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';

/** A request with the Host header given (fetch does not let a caller choose it). */
const send = (
  url: string,
  host: string,
  { method = 'GET', headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {},
) =>
  new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }>(
    (resolve, reject) => {
      const req = request(url, { method, headers: { ...headers, Host: host } }, (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }),
        );
      });
      req.on('error', reject);
      req.end(body);
    },
  );

describe('the Host header', () => {
  let svc: TestService;
  let fx: TenantFixture;
  let device: TestDevice;
  let port: string;
  beforeAll(async () => {
    svc = await startTestService();
    fx = await createTenantFixture(svc, 'hosts');
    device = await enrollDevice(svc, fx);
    port = new URL(svc.url).port;
  });
  afterAll(() => svc.stop());
  const discovery = () => `${svc.url}/hosts/.well-known/openid-configuration`;

  it.each(['evil.example', 'evil.example:PORT', '127.0.0.1:1', '127.0.0.2:PORT', 'localhost.evil.example:PORT'])(
    'refuses %s with 421 and a JSON error',
    async (host) => {
      const res = await send(discovery(), host.replace('PORT', port));
      expect(res.status).toBe(421);
      expect(res.body).toMatchObject({ error: 'invalid_request' });
      expect(res.headers.connection).toBe('close');
    },
  );

  it('accepts the loopback names with the listening port, each its own issuer, and says discovery varies by Host', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
      const res = await send(discovery(), host);
      expect(res.status).toBe(200);
      expect(res.body.issuer).toBe(`http://${host.toLowerCase()}/hosts`);
      expect(res.headers.vary).toBe('Host');
    }
  });

  it('is not poisoned by a foreign Host: discovery (cached 300 s) is never answered with the URLs of a stranger', async () => {
    const foreign = await send(discovery(), 'evil.example');
    expect(foreign.status).toBe(421);
    expect(JSON.stringify(foreign.body)).not.toContain('evil.example');
    // The cacheable answer says it depends on Host, so a shared cache keeps one per host.
    const res = await fetch(discovery());
    const doc = (await res.json()) as Record<string, unknown>;
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.headers.get('vary')).toBe('Host');
    for (const value of Object.values(doc).filter((v): v is string => typeof v === 'string' && v.includes('://'))) {
      expect(value.startsWith(`${svc.url}/hosts`), value).toBe(true);
    }
  });

  it('refuses a DPoP proof for a foreign htu, whether the Host names the stranger or this server', async () => {
    const foreign = 'http://evil.example/hosts/device/transactions';
    const viaForeignHost = await send(`${svc.url}/hosts/device/transactions`, 'evil.example', {
      headers: { DPoP: await device.proof('GET', foreign) },
    });
    expect(viaForeignHost.status).toBe(421);
    const viaOwnHost = await send(`${svc.url}/hosts/device/transactions`, `127.0.0.1:${port}`, {
      headers: { DPoP: await device.proof('GET', foreign) },
    });
    expect(viaOwnHost.status).toBe(401);
    expect(viaOwnHost.body.error).toBe('invalid_dpop_proof');
    // The same proof for the server's own URL is accepted.
    const own = await send(`${svc.url}/hosts/device/transactions`, `127.0.0.1:${port}`, {
      headers: { DPoP: await device.proof('GET', `${svc.url}/hosts/device/transactions`) },
    });
    expect(own.status).toBe(200);
  });

  it('gives no enrollment URI for a foreign Host', async () => {
    const res = await send(`${svc.url}/admin/tenants/hosts/users/alice/enrollment-tickets`, 'evil.example', {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(421);
    const ok = await svc.admin('POST', '/admin/tenants/hosts/users/alice/enrollment-tickets');
    expect(ok.body.enrollment_uri.startsWith(`${svc.url}/hosts/`)).toBe(true);
  });
});

describe('the Host header behind CIBA_PUBLIC_URL', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ publicUrl: 'https://id.example.com' });
    await createTenantFixture(svc, 'public');
  });
  afterAll(() => svc.stop());

  it('takes the issuer from CIBA_PUBLIC_URL whatever Host the proxy passes on', async () => {
    const url = `${svc.url}/public/.well-known/openid-configuration`;
    for (const host of ['id.example.com', new URL(svc.url).host, 'ciba-upstream:8787', 'evil.example']) {
      const res = await send(url, host);
      expect(res.status).toBe(200);
      expect(res.body.issuer).toBe('https://id.example.com/public');
      expect(res.headers.vary).toBeUndefined();
    }
  });
});
