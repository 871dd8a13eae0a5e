import type { Command } from 'commander';
import { createRemoteJWKSet, customFetch, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { DeviceClient } from '../../device/client.ts';
import { DeviceKey } from '../../device/key.ts';
import { CIBA_GRANT_TYPE } from '../../model.ts';
import type { CliContext } from '../context.ts';
import { printJson } from '../format.ts';
import { adminAuthorizer, adminUrl, type Globals } from '../globals.ts';
import { ApiError, request, send } from '../http.ts';
import {
  type AuthorizeParams,
  type ClientCredentials,
  discover,
  pollForTokens,
  startBackchannel,
  type TokenResponse,
  withClientAuth,
} from '../oauth.ts';
import { adminApi } from './admin.ts';
import { action } from './shared.ts';

interface StepResult {
  step: string;
  ok: boolean;
  skipped?: true;
  detail?: string;
}

class StepFailed extends Error {}

const describeError = (e: unknown): string =>
  e instanceof ApiError || (e as { error?: unknown })?.error
    ? `${(e as ApiError).error}${(e as ApiError).description ? ` — ${(e as ApiError).description}` : ''}`
    : ((e as Error)?.message ?? String(e));

/** The user every smoke run signs in as: one fixed id, so runs never pile users up where users cannot be deleted. */
export const SMOKE_USER = 'ciba-smoke';

export interface SmokeOptions {
  /** An https endpoint that answers 2xx to POSTs: ping and push are then smoke-tested against it. */
  notificationEndpoint?: string;
}

/**
 * The deployed-stage smoke test, PASS/FAIL per step: poll flows with each hint the service accepts (`login_hint`,
 * `id_token_hint`, `login_hint_token`), refresh, introspection and revocation, a denial, a replayed `auth_req_id`,
 * and ping and push when given a notification endpoint (their delivery read back from the admin API's request view).
 * Everything it creates is removed at the end: its clients, its device, and its user when the deployment can delete
 * users (otherwise the fixed smoke user stays, without devices, for the next run). Returns the exit code.
 */
export const runSmoke = async (ctx: CliContext, g: Globals, options: SmokeOptions = {}): Promise<number> => {
  const results: StepResult[] = [];
  const admin = adminApi(ctx, g);
  const suffix = Math.random().toString(36).slice(2, 10);
  const sub = SMOKE_USER;
  const cleanup: { step: string; run: () => Promise<unknown> }[] = [];

  const report = (result: StepResult) => {
    results.push(result);
    if (g.json) return;
    const status = result.skipped ? 'SKIP' : result.ok ? 'PASS' : 'FAIL';
    ctx.stdout(
      `${status} ${result.step}${result.detail ? `${result.ok ? ' (' : ': '}${result.detail}${result.ok ? ')' : ''}` : ''}\n`,
    );
  };
  const step = async <T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> => {
    try {
      const value = await fn();
      const d = detail?.(value);
      report({ step: name, ok: true, ...(d ? { detail: d } : {}) });
      return value;
    } catch (e) {
      report({ step: name, ok: false, detail: describeError(e) });
      throw new StepFailed(name);
    }
  };
  const skip = (name: string, why: string) => report({ step: name, ok: true, skipped: true, detail: why });

  try {
    const d = await step(
      'discovery',
      async () => {
        const doc = await discover(ctx, g.issuer);
        if (doc.issuer !== g.issuer) throw new Error(`issuer is ${doc.issuer}, expected ${g.issuer}`);
        if (!(doc['grant_types_supported'] as string[] | undefined)?.includes(CIBA_GRANT_TYPE)) {
          throw new Error('grant_types_supported lacks the CIBA grant');
        }
        return doc;
      },
      (doc) => doc.issuer,
    );
    const existing = await send(ctx, adminUrl(g, 'users', sub), { auth: await adminAuthorizer(g, ctx) });
    const userExisted = existing.status === 200;
    await step(
      'create user',
      () => admin.put(['users', sub], { name: 'Smoke Test', email: `${sub}@example.invalid` }),
      () => (userExisted ? `${sub} (already there, reused)` : sub),
    );
    if (!userExisted) {
      cleanup.push({
        step: 'delete user',
        run: async () => {
          try {
            return await admin.delete('users', sub);
          } catch (e) {
            // A deployment without the user-deletion route answers API Gateway's 404 (no `error` member).
            if (e instanceof ApiError && (e.status === 404 || e.status === 405) && e.error === 'unexpected_response') {
              return `kept ${sub}: this deployment cannot delete users; the next run reuses it`;
            }
            throw e;
          }
        },
      });
    }

    // The client's own key signs its login_hint_token.
    const clientKey = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = { ...(await exportJWK(clientKey.publicKey)), kid: 'smoke', alg: 'ES256', use: 'sig' };
    const registered = await step(
      'create client',
      () =>
        admin.post<{ client_id: string; client_secret: string }>(['clients'], {
          client_name: `ciba smoke ${suffix}`,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: [CIBA_GRANT_TYPE, 'refresh_token'],
          backchannel_token_delivery_mode: 'poll',
          jwks: { keys: [publicJwk] },
        }),
      (c) => c.client_id,
    );
    cleanup.push({ step: 'delete client', run: () => admin.delete('clients', registered.client_id) });
    const credentials: ClientCredentials = {
      clientId: registered.client_id,
      clientSecret: registered.client_secret,
      method: 'basic',
    };
    const ticket = await step('enrollment ticket', () =>
      admin.post<{ ticket: string }>(['users', sub, 'enrollment-tickets'], {}),
    );
    const device = new DeviceClient({ issuer: g.issuer, key: await DeviceKey.generate(), fetch: ctx.fetch });
    await step(
      'enroll device',
      async () => {
        const r = await device.enroll({ ticket: ticket.ticket, name: 'ciba smoke' });
        if (r.device_id !== device.deviceId) throw new Error(`device_id ${r.device_id} is not the key thumbprint`);
        return r;
      },
      (r) => r.device_id,
    );
    cleanup.push({ step: 'revoke device', run: () => admin.delete('users', sub, 'devices', device.deviceId) });

    /** One request, decided on the device: its acknowledgement and the transaction the device saw. */
    const decided = async (
      label: string,
      c: ClientCredentials,
      params: Omit<AuthorizeParams, 'scope'>,
      decision: 'approve' | 'deny',
    ) => {
      const bindingMessage = `smoke ${label} ${suffix}`;
      const ack = await step(
        `${label}: bc-authorize`,
        () =>
          startBackchannel(ctx, d.backchannel_authentication_endpoint, c, {
            scope: 'openid profile offline_access',
            binding_message: bindingMessage,
            ...params,
          }),
        (a) => `expires_in ${a.expires_in}${a.interval !== undefined ? `, interval ${a.interval}` : ''}`,
      );
      const txn = await step(`${label}: the device sees the request`, async () => {
        for (let attempt = 0; attempt < 10; attempt++) {
          const t = (await device.pending()).find((x) => x.binding_message === bindingMessage);
          if (t) {
            if (t.client_id !== c.clientId) throw new Error(`client_id ${t.client_id} is not ours`);
            return t.txn;
          }
          await ctx.sleep(500);
        }
        throw new Error('no pending transaction with our binding message');
      });
      await step(`${label}: ${decision} on the device`, async () => {
        const r = await device.decide(txn, decision);
        if (r.status !== (decision === 'approve' ? 'approved' : 'denied')) throw new Error(`status ${r.status}`);
        return r;
      });
      return ack;
    };
    const redeem = (
      label: string,
      c: ClientCredentials,
      ack: { auth_req_id: string; interval?: number; expires_in: number },
    ) =>
      step(
        `${label}: redeem tokens`,
        async (): Promise<TokenResponse> => {
          const outcome = await pollForTokens(ctx, {
            tokenEndpoint: d.token_endpoint,
            credentials: c,
            authReqId: ack.auth_req_id,
            ...(ack.interval !== undefined ? { interval: ack.interval } : {}),
            expiresIn: ack.expires_in,
          });
          if (outcome.kind !== 'tokens')
            throw new Error(`${outcome.kind}${outcome.description ? ` — ${outcome.description}` : ''}`);
          return outcome.tokens;
        },
        (t) => `${t.token_type}, expires_in ${t.expires_in}`,
      );
    const jwks = createRemoteJWKSet(new URL(d.jwks_uri), { [customFetch]: ctx.fetch });
    const verifyIdToken = (label: string, tokens: TokenResponse) =>
      step(
        `${label}: verify ID token`,
        async () => {
          if (!tokens.id_token) throw new Error('no id_token');
          const { payload } = await jwtVerify(tokens.id_token, jwks, {
            issuer: d.issuer,
            audience: credentials.clientId,
          });
          if (payload.sub !== sub) throw new Error(`sub is ${payload.sub}`);
          return payload;
        },
        (p) => `sub ${p.sub}`,
      );
    const tokenEndpointCall = async (path: string, form: URLSearchParams) => {
      const { form: body, auth } = withClientAuth(form, credentials);
      return send<Record<string, unknown>>(ctx, `${g.issuer}${path}`, { form: body, ...(auth ? { auth } : {}) });
    };

    // Poll with each hint.
    const loginAck = await decided('login_hint', credentials, { login_hint: sub }, 'approve');
    const tokens = await redeem('login_hint', credentials, loginAck);
    await verifyIdToken('login_hint', tokens);
    await step('replayed auth_req_id is refused', async () => {
      const again = await pollForTokens(
        { ...ctx, sleep: async () => {} },
        {
          tokenEndpoint: d.token_endpoint,
          credentials,
          authReqId: loginAck.auth_req_id,
          interval: 1,
          expiresIn: loginAck.expires_in,
        },
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!(again instanceof ApiError) || again.error !== 'invalid_grant') throw new Error('expected invalid_grant');
    });
    if (tokens.refresh_token) {
      const refreshed = await step('refresh token', async () => {
        const r = await tokenEndpointCall(
          '/oauth/token',
          new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
        );
        if (r.status !== 200 || typeof r.body.access_token !== 'string')
          throw new ApiError(r.status, String(r.body.error ?? 'unexpected_response'));
        return r.body as { access_token: string; refresh_token?: string };
      });
      await step('introspect access token', async () => {
        const r = await tokenEndpointCall('/oauth/introspect', new URLSearchParams({ token: refreshed.access_token }));
        if (r.body.active !== true || r.body.sub !== sub) throw new Error(`introspection: ${JSON.stringify(r.body)}`);
      });
      const latest = refreshed.refresh_token ?? tokens.refresh_token;
      await step('revoke refresh token', async () => {
        const r = await tokenEndpointCall(
          '/oauth/revoke',
          new URLSearchParams({ token: latest, token_type_hint: 'refresh_token' }),
        );
        if (r.status !== 200) throw new ApiError(r.status, String(r.body?.error ?? 'unexpected_response'));
        const after = await tokenEndpointCall(
          '/oauth/token',
          new URLSearchParams({ grant_type: 'refresh_token', refresh_token: latest }),
        );
        if (after.body?.error !== 'invalid_grant') throw new Error('the revoked refresh token still works');
      });
    } else {
      skip('refresh token', 'the token response had no refresh_token');
    }
    const idTokenAck = await decided('id_token_hint', credentials, { id_token_hint: tokens.id_token! }, 'approve');
    await verifyIdToken('id_token_hint', await redeem('id_token_hint', credentials, idTokenAck));
    const hintToken = await new SignJWT({ sub })
      .setProtectedHeader({ alg: 'ES256', kid: 'smoke' })
      .setIssuer(credentials.clientId)
      .setAudience(g.issuer)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(clientKey.privateKey);
    const denyAck = await decided('login_hint_token', credentials, { login_hint_token: hintToken }, 'deny');
    await step('login_hint_token: the denial reaches the client', async () => {
      const outcome = await pollForTokens(ctx, {
        tokenEndpoint: d.token_endpoint,
        credentials,
        authReqId: denyAck.auth_req_id,
        ...(denyAck.interval !== undefined ? { interval: denyAck.interval } : {}),
        expiresIn: denyAck.expires_in,
      }).then(
        (o) => o.kind,
        (e: unknown) => (e instanceof ApiError ? e.error : String(e)),
      );
      if (outcome !== 'access_denied') throw new Error(`expected access_denied, got ${outcome}`);
    });

    // Ping and push need an endpoint the deployment can reach over the internet.
    for (const mode of ['ping', 'push'] as const) {
      if (!options.notificationEndpoint) {
        skip(`${mode}`, 'pass --notification-endpoint https://... (an endpoint that answers 2xx) to smoke-test it');
        continue;
      }
      const client = await step(
        `${mode}: create client`,
        () =>
          admin.post<{ client_id: string; client_secret: string }>(['clients'], {
            client_name: `ciba smoke ${mode} ${suffix}`,
            token_endpoint_auth_method: 'client_secret_basic',
            grant_types: [CIBA_GRANT_TYPE, 'refresh_token'],
            backchannel_token_delivery_mode: mode,
            backchannel_client_notification_endpoint: options.notificationEndpoint,
          }),
        (c) => c.client_id,
      );
      cleanup.push({ step: `${mode}: delete client`, run: () => admin.delete('clients', client.client_id) });
      const c: ClientCredentials = { clientId: client.client_id, clientSecret: client.client_secret, method: 'basic' };
      const ack = await decided(
        mode,
        c,
        { login_hint: sub, client_notification_token: `smoke-${suffix}-${Math.random().toString(36).slice(2)}` },
        'approve',
      );
      await step(`${mode}: the callback is delivered`, async () => {
        for (let attempt = 0; attempt < 20; attempt++) {
          const view = await request<{ callback?: { state: string; attempts: { status?: number }[] } }>(
            ctx,
            adminUrl(g, 'requests', ack.auth_req_id),
            { auth: await adminAuthorizer(g, ctx) },
          );
          if (view.callback?.state === 'delivered') return view.callback;
          if (view.callback?.state === 'dead_lettered')
            throw new Error(`not delivered: ${JSON.stringify(view.callback.attempts)}`);
          await ctx.sleep(500);
        }
        throw new Error('the callback was not delivered within 10 s');
      });
      if (mode === 'ping') await redeem(mode, c, ack);
    }
  } catch (e) {
    if (!(e instanceof StepFailed)) throw e;
  } finally {
    for (const c of cleanup.reverse()) {
      await step(c.step, c.run, (v) => (typeof v === 'string' ? v : '')).catch(() => undefined);
    }
  }
  const ok = results.every((r) => r.ok);
  if (g.json) printJson(ctx, { result: ok ? 'PASS' : 'FAIL', steps: results });
  else
    ctx.stdout(
      `${ok ? 'PASS' : 'FAIL'}: ${results.filter((r) => r.ok && !r.skipped).length}/${results.filter((r) => !r.skipped).length} steps passed\n`,
    );
  return ok ? 0 : 1;
};

export const registerSmoke = (program: Command, ctx: CliContext): void => {
  program
    .command('smoke')
    .description(
      'run poll flows (login_hint, id_token_hint, login_hint_token, refresh, revocation, denial) and, with --notification-endpoint, ping and push against --base-url; everything created is removed; exit 0 on PASS',
    )
    .option('--notification-endpoint <url>', 'an https endpoint that answers 2xx: smoke-test ping and push against it')
    .action(
      action<{ notificationEndpoint?: string }>(ctx, ({ g, opts }) =>
        runSmoke(ctx, g, opts.notificationEndpoint ? { notificationEndpoint: opts.notificationEndpoint } : {}),
      ),
    );
};
