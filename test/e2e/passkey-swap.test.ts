import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../lib/cli/main.ts';
import { DeviceClient } from '../../lib/device/client.ts';
import { UserVerificationRequired } from '../../lib/device/errors.ts';
import { DeviceKey } from '../../lib/device/key.ts';
import { DEVICE_EVENT } from '../../lib/events.ts';
import type { CibaEvent } from '../../lib/ports.ts';
import { expectError } from '../helpers/expect-error.ts';
import {
  ADMIN_TOKEN,
  createTenantFixture,
  enrollDevice,
  postForm,
  startTestService,
  type TenantFixture,
  type TestDevice,
  type TestService,
} from '../helpers/service.ts';
import { SoftPasskey } from '../helpers/soft-passkey.ts';
import { testContext } from '../unit/cli/context.ts';

/**
 * Hardening rule 1 through the device API, the admin API, the CLI and the device SDK: with the device key alone a
 * passkey cannot be swapped; the old passkey keeps verifying and the attacker's does not; the old passkey's assertion
 * over the registration challenge allows the replacement; an operator resets a lost passkey; every change is an event.
 */
describe('hardening rule 1: passkeys cannot be swapped with the device key alone', () => {
  let svc: TestService;
  let fx: TenantFixture;
  const events: CibaEvent[] = [];

  beforeAll(async () => {
    svc = await startTestService();
    svc.service.deps.events.subscribe(async (event) => {
      if (event.type === DEVICE_EVENT.passkeyChanged) events.push(event);
    });
    fx = await createTenantFixture(svc, 'passkeys', { user_verification: 'passkey', user_rate_limit_per_minute: 100 });
  });
  afterAll(() => svc?.stop());

  const passkey = () => new SoftPasskey(svc.url);

  const registrationOptions = async (device: TestDevice) => {
    const res = await device.call('POST', '/device/passkey/registration-options', {});
    expect(res.status).toBe(200);
    return res.body;
  };

  /** Registers `key` on the device: a fresh challenge, the new credential, and `assertion` made by `confirmWith`. */
  const register = async (
    device: TestDevice,
    key: SoftPasskey,
    confirmWith?: SoftPasskey,
    options: { userVerified?: boolean; challenge?: string } = {},
  ) => {
    const creation = await registrationOptions(device);
    const response = key.register(creation);
    const assertion = confirmWith?.assert(
      { challenge: options.challenge ?? creation.challenge, rpId: creation.rp.id },
      { userVerified: options.userVerified ?? true },
    );
    return device.call('POST', '/device/passkey', { response, ...(assertion ? { assertion } : {}) });
  };

  const newRequest = async (device: TestDevice) => {
    const ack = await postForm(
      `${fx.issuer}/bc-authorize`,
      { scope: 'openid', login_hint: 'alice', binding_message: 'Transfer 250 EUR' },
      fx.client,
    );
    expect(ack.status).toBe(200);
    const txn = ack.body.auth_req_id.split('.')[0] as string;
    const details = await device.call('GET', `/device/transactions/${txn}`);
    return { txn, webauthn: details.body.webauthn as { challenge: string; rpId: string } };
  };

  /** Approves a new request with an assertion by `key`; the answer says whether the passkey verified. */
  const approveWith = async (device: TestDevice, key: SoftPasskey) => {
    const { txn, webauthn } = await newRequest(device);
    const url = `${fx.issuer}/device/transactions/${txn}`;
    const answer = await device.call(
      'POST',
      `/device/transactions/${txn}`,
      { decision: 'approve', webauthn: key.assert(webauthn) },
      await device.proof('POST', url, { txn, decision: 'approve' }),
    );
    if (answer.status !== 200) await device.decide(txn, 'deny');
    return answer;
  };

  const changes = () => events.map((e) => ({ device_id: e.detail.device_id, change: e.detail.change }));

  it('refuses a second passkey without a verified assertion by the first (403), and the first keeps verifying', async () => {
    const device = await enrollDevice(svc, fx);
    const users = passkey();
    expect((await register(device, users)).status).toBe(201);

    const attackers = passkey();
    const refusals = [
      ['no assertion', await register(device, attackers)],
      ["an assertion by the attacker's own passkey", await register(device, attackers, attackers)],
      [
        "the user's passkey without user verification",
        await register(device, attackers, users, { userVerified: false }),
      ],
      [
        "the user's passkey over another challenge",
        await register(device, attackers, users, { challenge: 'A'.repeat(43) }),
      ],
    ] as const;
    for (const [label, answer] of refusals) {
      expectError(answer, 403, 'user_verification_required', label);
    }
    expect((await approveWith(device, users)).status).toBe(200);
    expectError(await approveWith(device, attackers), 400, 'user_verification_failed');
    expect(changes()).toEqual([{ device_id: device.deviceId, change: 'registered' }]);
  });

  it("replaces the passkey with the old one's assertion over the registration challenge; then only the new one verifies", async () => {
    events.length = 0;
    const device = await enrollDevice(svc, fx);
    const old = passkey();
    expect((await register(device, old)).status).toBe(201);
    const options = await registrationOptions(device);
    // The options say how to ask the current passkey: the same challenge, that credential.
    expect(options.assertion_options).toEqual({
      challenge: options.challenge,
      rpId: options.rp.id,
      allowCredentials: [{ id: old.id, type: 'public-key', transports: ['internal'] }],
      userVerification: 'required',
      timeout: expect.any(Number),
    });
    const replacement = passkey();
    const replaced = await device.call('POST', '/device/passkey', {
      response: replacement.register(options),
      assertion: old.assert(options.assertion_options),
    });
    expect(replaced.status).toBe(201);
    expect(replaced.body).toEqual({ credential_id: replacement.id });
    expect((await approveWith(device, replacement)).status).toBe(200);
    expectError(await approveWith(device, old), 400, 'user_verification_failed');
    expect(changes()).toEqual([
      { device_id: device.deviceId, change: 'registered' },
      { device_id: device.deviceId, change: 'replaced' },
    ]);
    expect(events[1]!.detail).toMatchObject({ sub: 'alice', credential_id: replacement.id });
    expect(events[1]!.tenantId).toBe(fx.tenant);
  });

  it('lets exactly one of two concurrent first registrations win; the other is 403', async () => {
    const device = await enrollDevice(svc, fx);
    const [a, b] = [passkey(), passkey()];
    const [optionsA, optionsB] = [await registrationOptions(device), await registrationOptions(device)];
    const answers = await Promise.all([
      device.call('POST', '/device/passkey', { response: a.register(optionsA) }),
      device.call('POST', '/device/passkey', { response: b.register(optionsB) }),
    ]);
    expect(answers.map((r) => r.status).sort()).toEqual([201, 403]);
  });

  it('an operator resets a lost passkey (204, event, CLI); the device then registers a new one with its key alone', async () => {
    events.length = 0;
    const device = await enrollDevice(svc, fx);
    const lost = passkey();
    expect((await register(device, lost)).status).toBe(201);
    const path = `/admin/tenants/${fx.tenant}/users/alice/devices/${device.deviceId}/passkey`;

    // Through the CLI, as an operator would.
    const home = await mkdtemp(join(tmpdir(), 'ciba-cli-'));
    try {
      const cli = testContext({ env: { CIBA_ADMIN_TOKEN: ADMIN_TOKEN }, cwd: home, home });
      const code = await runCli(
        ['--base-url', svc.url, '--tenant', fx.tenant, 'user', 'reset-passkey', 'alice', device.deviceId],
        cli.ctx,
      );
      expect([code, cli.stderr()]).toEqual([0, '']);
      expect(cli.stdout()).toContain(`reset the passkey of device ${device.deviceId}`);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
    expect((await device.call('GET', '/device')).body.passkey).toBe(false);
    expectError(await svc.admin('DELETE', path), 404, 'not_found');
    expectError(
      await svc.admin('DELETE', `/admin/tenants/${fx.tenant}/users/bob/devices/${device.deviceId}/passkey`),
      404,
      'not_found',
    );
    expectError(await approveWith(device, lost), 400, 'user_verification_required');

    const fresh = passkey();
    expect((await register(device, fresh)).status).toBe(201);
    expect((await approveWith(device, fresh)).status).toBe(200);
    expect(changes()).toEqual([
      { device_id: device.deviceId, change: 'registered' },
      { device_id: device.deviceId, change: 'removed' },
      { device_id: device.deviceId, change: 'registered' },
    ]);
  });

  it('the CLI authenticator explains user_verification_required: no passkey in a terminal, where to approve', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ciba-cli-'));
    try {
      const cli = testContext({ cwd: home, home });
      const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
      expect(
        await runCli(['--tenant', fx.tenant, 'device', 'enroll', '--ticket', ticket.body.enrollment_uri], cli.ctx),
      ).toBe(0);
      const { txn } = await newRequest(await enrollDevice(svc, fx));
      expect(await runCli(['--tenant', fx.tenant, 'device', 'approve', txn], cli.ctx)).toBe(1);
      expect(cli.stderr()).toMatch(
        /^error: user_verification_required — .*web authenticator \(.*\/passkeys\/authenticator\)/m,
      );
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('the device SDK maps the refusal to UserVerificationRequired (403) and sends the assertion when given', async () => {
    const key = await DeviceKey.generate();
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    const sdk = new DeviceClient({ issuer: fx.issuer, key });
    await sdk.enroll({ ticket: ticket.body.ticket, name: 'SDK phone' });
    const first = passkey();
    await sdk.registerPasskey(first.register(await sdk.passkeyRegistrationOptions()));
    const options = await sdk.passkeyRegistrationOptions();
    const second = passkey();
    const refused = await sdk.registerPasskey(second.register(options)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UserVerificationRequired);
    expect(refused).toMatchObject({ status: 403 });
    const again = await sdk.passkeyRegistrationOptions();
    expect(
      await sdk.registerPasskey(second.register(again), { assertion: first.assert(again.assertion_options!) }),
    ).toEqual({ credential_id: second.id });
  });
});
