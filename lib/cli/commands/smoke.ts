import type { Command } from 'commander';
import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose';
import { DeviceClient } from '../../device/client.ts';
import { DeviceKey } from '../../device/key.ts';
import { CIBA_GRANT_TYPE } from '../../model.ts';
import type { CliContext } from '../context.ts';
import { printJson } from '../format.ts';
import type { Globals } from '../globals.ts';
import { ApiError } from '../http.ts';
import { type ClientCredentials, discover, pollForTokens, startBackchannel, type TokenResponse } from '../oauth.ts';
import { adminApi } from './admin.ts';
import { action } from './shared.ts';

interface StepResult {
  step: string;
  ok: boolean;
  detail?: string;
}

class StepFailed extends Error {}

const describeError = (e: unknown): string =>
  e instanceof ApiError || (e as { error?: unknown })?.error
    ? `${(e as ApiError).error}${(e as ApiError).description ? ` — ${(e as ApiError).description}` : ''}`
    : ((e as Error)?.message ?? String(e));

/**
 * The deployed-stage smoke test: a whole poll flow with a throwaway user, client and device, every
 * step reported PASS/FAIL, cleaned up at the end. Returns the exit code.
 */
export const runSmoke = async (ctx: CliContext, g: Globals): Promise<number> => {
  const results: StepResult[] = [];
  const admin = adminApi(ctx, g);
  const suffix = Math.random().toString(36).slice(2, 10);
  const sub = `smoke-${suffix}`;
  const bindingMessage = `smoke ${suffix}`;
  const cleanup: { step: string; run: () => Promise<unknown> }[] = [];

  const step = async <T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> => {
    try {
      const value = await fn();
      const d = detail?.(value);
      results.push({ step: name, ok: true, ...(d ? { detail: d } : {}) });
      if (!g.json) ctx.stdout(`PASS ${name}${d ? ` (${d})` : ''}\n`);
      return value;
    } catch (e) {
      results.push({ step: name, ok: false, detail: describeError(e) });
      if (!g.json) ctx.stdout(`FAIL ${name}: ${describeError(e)}\n`);
      throw new StepFailed(name);
    }
  };

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
    await step(
      'create user',
      () => admin.put(['users', sub], { name: 'Smoke Test', email: `${sub}@example.invalid` }),
      () => sub,
    );
    const registered = await step(
      'create client',
      () =>
        admin.post<{ client_id: string; client_secret: string }>(['clients'], {
          client_name: `ciba smoke ${suffix}`,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: [CIBA_GRANT_TYPE],
          backchannel_token_delivery_mode: 'poll',
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
    const ack = await step(
      'bc-authorize',
      () =>
        startBackchannel(ctx, d.backchannel_authentication_endpoint, credentials, {
          scope: 'openid profile',
          login_hint: sub,
          binding_message: bindingMessage,
        }),
      (a) => `expires_in ${a.expires_in}, interval ${a.interval}`,
    );
    const txn = await step(
      'device sees the request',
      async () => {
        for (let attempt = 0; attempt < 10; attempt++) {
          const t = (await device.pending()).find((x) => x.binding_message === bindingMessage);
          if (t) {
            if (t.client_id !== credentials.clientId) throw new Error(`client_id ${t.client_id} is not ours`);
            return t.txn;
          }
          await ctx.sleep(500);
        }
        throw new Error('no pending transaction with our binding message');
      },
      (t) => t,
    );
    await step('approve on the device', async () => {
      const r = await device.decide(txn, 'approve');
      if (r.status !== 'approved') throw new Error(`status ${r.status}`);
      return r;
    });
    const tokens = await step(
      'redeem tokens',
      async (): Promise<TokenResponse> => {
        const outcome = await pollForTokens(ctx, {
          tokenEndpoint: d.token_endpoint,
          credentials,
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
    await step(
      'verify ID token',
      async () => {
        if (!tokens.id_token) throw new Error('no id_token');
        const jwks = createRemoteJWKSet(new URL(d.jwks_uri), { [customFetch]: ctx.fetch });
        const { payload } = await jwtVerify(tokens.id_token, jwks, {
          issuer: d.issuer,
          audience: credentials.clientId,
        });
        if (payload.sub !== sub) throw new Error(`sub is ${payload.sub}`);
        return payload;
      },
      (p) => `sub ${p.sub}`,
    );
    await step('replayed auth_req_id is refused', async () => {
      const again = await pollForTokens(
        { ...ctx, sleep: async () => {} },
        {
          tokenEndpoint: d.token_endpoint,
          credentials,
          authReqId: ack.auth_req_id,
          interval: 1,
          expiresIn: ack.expires_in,
        },
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!(again instanceof ApiError) || again.error !== 'invalid_grant') throw new Error('expected invalid_grant');
    });
  } catch (e) {
    if (!(e instanceof StepFailed)) throw e;
  } finally {
    for (const c of cleanup.reverse()) {
      await step(c.step, c.run).catch(() => undefined);
    }
  }
  const ok = results.every((r) => r.ok);
  if (g.json) printJson(ctx, { result: ok ? 'PASS' : 'FAIL', steps: results });
  else ctx.stdout(`${ok ? 'PASS' : 'FAIL'}: ${results.filter((r) => r.ok).length}/${results.length} steps passed\n`);
  return ok ? 0 : 1;
};

export const registerSmoke = (program: Command, ctx: CliContext): void => {
  program
    .command('smoke')
    .description('run a whole poll flow against --base-url with a throwaway user, client and device; exit 0 on PASS')
    .action(action(ctx, ({ g }) => runSmoke(ctx, g)));
};
