import { calculateJwkThumbprint, decodeJwt, EmbeddedJWK, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../lib/cli/main.ts';
import { testContext } from './context.ts';
import { type RecordedRequest, startFakeServer } from './fake-server.ts';

/** Just enough of the service, in memory, for one poll flow. */
const fakeService = async (options: { deny?: boolean } = {}) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const devices = new Map<string, string>(); // device_id -> sub
  const tickets = new Map<string, string>(); // ticket -> sub
  const clients = new Map<string, string>(); // client_id -> secret
  const requests = new Map<string, { sub: string; clientId: string; binding: string; status: string }>();
  const deleted: string[] = [];
  let n = 0;
  const server = await startFakeServer(async (req: RecordedRequest) => {
    const issuer = `${server.url}/demo`;
    const path = req.url;
    const body = req.body && req.headers['content-type'] === 'application/json' ? JSON.parse(req.body) : {};
    const form = Object.fromEntries(new URLSearchParams(req.body));
    const device = async () => {
      const { payload, protectedHeader } = await jwtVerify(req.headers['dpop'] as string, EmbeddedJWK, {
        typ: 'dpop+jwt',
      });
      if (payload.htu !== `${server.url}${path}` || payload.htm !== req.method) throw new Error('htu/htm');
      return { id: await calculateJwkThumbprint(protectedHeader.jwk!, 'sha256'), payload };
    };
    if (path === '/demo/.well-known/openid-configuration') {
      return {
        status: 200,
        body: {
          issuer,
          token_endpoint: `${issuer}/oauth/token`,
          backchannel_authentication_endpoint: `${issuer}/bc-authorize`,
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          grant_types_supported: ['urn:openid:params:grant-type:ciba'],
        },
      };
    }
    if (path === '/demo/.well-known/jwks.json') return { status: 200, body: { keys: [jwk] } };
    if (path.startsWith('/admin/')) {
      if (req.headers['authorization'] !== 'Bearer adm') return { status: 401, body: { error: 'unauthorized' } };
      if (req.method === 'DELETE') {
        deleted.push(path);
        return { status: 204 };
      }
      if (path.endsWith('/clients')) {
        clients.set(`c${++n}`, 'sec');
        return { status: 201, body: { client_id: `c${n}`, client_secret: 'sec' } };
      }
      const ticketFor = /\/users\/([^/]+)\/enrollment-tickets$/.exec(path);
      if (ticketFor) {
        tickets.set(`t${++n}`, ticketFor[1]!);
        return { status: 201, body: { ticket: `t${n}`, expires_in: 600, enrollment_uri: 'x' } };
      }
      return { status: 201, body: {} };
    }
    if (path === '/demo/device/enrollments') {
      const d = await device();
      devices.set(d.id, tickets.get(body.ticket)!);
      return { status: 201, body: { device_id: d.id } };
    }
    if (path === '/demo/device/transactions') {
      const d = await device();
      const list = [...requests.entries()]
        .filter(([, r]) => r.sub === devices.get(d.id) && r.status === 'pending')
        .map(([txn, r]) => ({
          txn,
          client_id: r.clientId,
          client_name: 'smoke',
          binding_message: r.binding,
          scope: 'openid',
          created_at: 0,
          expires_at: 0,
        }));
      return { status: 200, body: { transactions: list } };
    }
    if (path.startsWith('/demo/device/transactions/') && req.method === 'POST') {
      const d = await device();
      const txn = path.split('/').pop()!;
      if (d.payload['txn'] !== txn || d.payload['decision'] !== body.decision)
        return { status: 401, body: { error: 'invalid_dpop_proof' } };
      const decision = options.deny ? 'deny' : body.decision;
      requests.get(txn)!.status = decision === 'approve' ? 'approved' : 'denied';
      return { status: 200, body: { txn, status: requests.get(txn)!.status } };
    }
    const [id, secret] = Buffer.from(String(req.headers['authorization']).slice(6), 'base64').toString().split(':');
    if (!id || clients.get(id) !== secret) return { status: 401, body: { error: 'invalid_client' } };
    if (path === '/demo/bc-authorize') {
      // The hint names the user: login_hint, or the sub of an id_token_hint or login_hint_token.
      const hinted = form['id_token_hint'] ?? form['login_hint_token'];
      requests.set(`r${++n}`, {
        sub: form['login_hint'] ?? String(decodeJwt(hinted!).sub),
        clientId: id,
        binding: form['binding_message']!,
        status: 'pending',
      });
      return { status: 200, body: { auth_req_id: `r${n}`, expires_in: 120, interval: 1 } };
    }
    if (path === '/demo/oauth/token') {
      const r = requests.get(form['auth_req_id']!);
      if (!r) return { status: 400, body: { error: 'invalid_grant' } };
      if (r.status === 'pending') return { status: 400, body: { error: 'authorization_pending' } };
      if (r.status === 'denied') return { status: 400, body: { error: 'access_denied' } };
      requests.delete(form['auth_req_id']!);
      const idToken = await new SignJWT({ sub: r.sub })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience(id)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      return { status: 200, body: { access_token: 'at', token_type: 'Bearer', expires_in: 300, id_token: idToken } };
    }
    return { status: 404, body: { error: 'not_found' } };
  });
  return { server, deleted };
};

describe('ciba smoke', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('passes every step of the poll flows (each hint, a denial) and cleans up what it created', async () => {
    const { server, deleted } = await fakeService();
    close = server.close;
    const t = testContext({ env: { CIBA_ADMIN_TOKEN: 'adm' } });
    const code = await runCli(['--base-url', server.url, 'smoke'], t.ctx);
    expect(t.stdout()).not.toContain('FAIL');
    expect(t.stdout()).toContain('PASS replayed auth_req_id is refused');
    expect(code).toBe(0);
    for (const step of [
      'discovery',
      'enroll device',
      'login_hint: approve on the device',
      'login_hint: redeem tokens',
      'login_hint: verify ID token',
      'id_token_hint: verify ID token',
      'login_hint_token: the denial reaches the client',
      'delete client',
      'revoke device',
      'delete user',
    ]) {
      expect(t.stdout()).toContain(`PASS ${step}`);
    }
    expect(t.stdout()).toContain('SKIP ping');
    expect(deleted).toEqual([
      expect.stringMatching(/^\/admin\/tenants\/demo\/users\/ciba-smoke\/devices\//),
      expect.stringMatching(/^\/admin\/tenants\/demo\/clients\/c\d+$/),
      '/admin/tenants/demo/users/ciba-smoke',
    ]);
  });

  it('reports the failing step, still cleans up, and exits 1', async () => {
    const { server, deleted } = await fakeService({ deny: true });
    close = server.close;
    const t = testContext({ env: { CIBA_ADMIN_TOKEN: 'adm' } });
    const code = await runCli(['--base-url', server.url, '--json', 'smoke'], t.ctx);
    expect(code).toBe(1);
    const report = JSON.parse(t.stdout());
    expect(report.result).toBe('FAIL');
    expect(report.steps.find((s: { ok: boolean }) => !s.ok).step).toBe('login_hint: approve on the device');
    expect(deleted).toHaveLength(3);
  });
});
