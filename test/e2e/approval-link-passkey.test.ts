/**
 * An approval link on a tenant that requires user verification (docs/channels.md "Passkeys on the approval page"),
 * in Chromium with CDP virtual authenticators: the passkey the user registered in their web authenticator confirms a
 * link's approval in the same browser; without it the page says so and Deny / Report stay; and the server refuses a
 * passkey of another user, an assertion made for another request or link, and an assertion used again.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { type Browser, type BrowserContext, type CDPSession, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebAssets } from '../../lib/web/build.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { expectError } from '../helpers/expect-error.ts';
import { SCREENSHOTS } from '../helpers/screenshots.ts';
import { createTenantFixture, startTestService, type TenantFixture, type TestService } from '../helpers/service.ts';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOWN = { timeout: 15_000 };
const EMAIL_LINK = 'urn:ciba-service:acr:email-link';
const NO_PASSKEY_HERE = 'No passkey of yours confirmed in this browser';

describe('approval links with a passkey, in Chromium', { timeout: 120_000 }, () => {
  let svc: TestService;
  let browser: Browser;
  let assets: string;
  let origin: string;
  let fx: TenantFixture;
  let config: client.Configuration;
  /** alice's browser: her web authenticator with her passkey on a virtual platform authenticator. */
  let alice: Authenticator;
  /** bob's browser, with bob's own passkey. */
  let bob: Authenticator;

  interface Authenticator {
    context: BrowserContext;
    /** The page its virtual authenticator is attached to (CDP WebAuthn is per page): links are opened in it. */
    page: Page;
    cdp: CDPSession;
    authenticatorId: string;
    deviceId: string;
  }

  /**
   * A fresh profile with a virtual platform authenticator (CDP WebAuthn), enrolled as `sub`'s web authenticator with
   * its passkey set up (as test/e2e/web-authenticator.test.ts does). WebAuthn needs a domain as RP ID: localhost.
   */
  const authenticatorWithPasskey = async (sub: string): Promise<Authenticator> => {
    // bypassCSP only lets the test inject axe-core; the page's own headers are still checked below.
    const context = await browser.newContext({ viewport: { width: 360, height: 780 }, bypassCSP: true });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const authenticatorId = await addVirtualAuthenticator(cdp);
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/${sub}/enrollment-tickets`);
    await page.goto(ticket.body.enrollment_uri.replace(svc.url, origin));
    await page.getByText('This browser is your authenticator').waitFor(SHOWN);
    await page.getByRole('button', { name: 'Set up passkey' }).click();
    await page.getByText('Passkey ready').waitFor(SHOWN);
    const devices = await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/${sub}/devices`);
    return { context, page, cdp, authenticatorId, deviceId: devices.body.devices[0].device_id };
  };

  beforeAll(async () => {
    assets = await mkdtemp(join(tmpdir(), 'ciba-web-'));
    await buildWebAssets({ outDir: assets });
    svc = await startTestService({ webAssetDirs: [assets] });
    origin = svc.url.replace('127.0.0.1', 'localhost');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    // Users are reached by email only: the link is how they are asked, whatever devices they have.
    fx = await createTenantFixture(svc, 'link-passkey', {
      display_name: 'Passkey Bank',
      channels: ['email'],
      user_verification: 'passkey',
      user_rate_limit_per_minute: 50,
    });
    expect((await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/bob`, { email: 'bob@example.com' })).status).toBe(
      201,
    );
    config = await client.discovery(
      new URL(fx.issuer),
      fx.client.client_id,
      undefined,
      client.ClientSecretBasic(fx.client.client_secret),
      { execute: [client.allowInsecureRequests] },
    );
    alice = await authenticatorWithPasskey('alice');
    bob = await authenticatorWithPasskey('bob');
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.stop();
    await rm(assets, { recursive: true, force: true });
  });

  /** A request for `sub` and the secret of the link the mailbox got for it. */
  const linkRequest = async (sub = 'alice', binding_message = 'Code 5P-17') => {
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: sub,
      binding_message,
    });
    const { messages } = await fetch(`${fx.issuer}/mailbox`).then((r) => r.json());
    const secret = /\/approve#([A-Za-z0-9_-]{43})/.exec(messages[0].text)?.[1];
    if (!secret) throw new Error('no link in the mailbox');
    return { ack, secret, url: `${origin}/${fx.tenant}/approve#${secret}` };
  };

  const call = (path: 'view' | 'decide', body: Record<string, unknown>) =>
    fetch(`${origin}/${fx.tenant}/approve/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (res) => ({ status: res.status, headers: res.headers, body: await res.json() }));

  /**
   * An assertion made in `page`'s browser over the challenge the view of link `secret` gives, by the credentials it
   * allows, or by any passkey of the browser's for this site (`anyPasskey`: how a passkey of someone else is asked).
   */
  const assertionFor = async (page: Page, secret: string, anyPasskey = false): Promise<Record<string, unknown>> => {
    const view = await call('view', { link: secret });
    expect(view.body.webauthn).toBeDefined();
    return page.evaluate(
      async ({ options, anyPasskey }) => {
        const bytes = (text: string) =>
          Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
        const credential = (await navigator.credentials.get({
          publicKey: {
            challenge: bytes(options.challenge),
            rpId: options.rpId,
            userVerification: 'required',
            allowCredentials: anyPasskey
              ? []
              : options.allowCredentials.map((c: { id: string }) => ({ id: bytes(c.id), type: 'public-key' as const })),
          },
        })) as PublicKeyCredential;
        return credential.toJSON() as unknown as Record<string, unknown>;
      },
      { options: view.body.webauthn, anyPasskey },
    );
  };

  const state = async (authReqId: string) =>
    (await svc.admin('GET', `/admin/tenants/${fx.tenant}/requests/${encodeURIComponent(authReqId)}`)).body;

  it("approves with the user's passkey in this browser: tokens with the email-link acr, the passkey in the evidence", async () => {
    const { ack, url } = await linkRequest();
    const { page } = alice;
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const response = await page.goto(url);
    // The same CSP and headers as the other pages: WebAuthn needs nothing more.
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(response?.headers()['x-frame-options']).toBe('DENY');
    await page.getByText('Code 5P-17').waitFor(SHOWN);
    await page.getByText('You will confirm with your passkey').waitFor(SHOWN);
    expect(await seriousViolations(page)).toEqual([]);
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'approve-passkey-360.png'), fullPage: true });
    const before = (await alice.cdp.send('WebAuthn.getCredentials', { authenticatorId: alice.authenticatorId }))
      .credentials[0]!.signCount;

    await page.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor(SHOWN);
    // The passkey signed (its counter moved).
    const after = (await alice.cdp.send('WebAuthn.getCredentials', { authenticatorId: alice.authenticatorId }))
      .credentials[0]!.signCount;
    expect(after).toBeGreaterThan(before);

    const tokens = await client.pollBackchannelAuthenticationGrant(config, ack);
    expect(decodeJwt(tokens.id_token!).acr).toBe(EMAIL_LINK);
    expect((await state(ack.auth_req_id)).evidence).toMatchObject({
      decision: 'approve',
      channel: 'email',
      user_verified: true,
      passkey_device_id: alice.deviceId,
    });
    expect(errors).toEqual([]);
  });

  it("says so in a browser without the user's passkey, and keeps Deny and Report", async () => {
    const { ack, url } = await linkRequest('alice', 'Code 8R-03');
    // bob's browser has a passkey for this site, but not alice's: the ceremony finds none of hers.
    const { page } = bob;
    await page.goto(url);
    await page.getByText('Code 8R-03').waitFor(SHOWN);
    await page.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.getByText(NO_PASSKEY_HERE).waitFor(SHOWN);
    expect(await seriousViolations(page)).toEqual([]);
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'approve-no-passkey-here-360.png'), fullPage: true });
    expect((await state(ack.auth_req_id)).state).toBe('pending');
    expect(await page.getByRole('button', { name: 'Deny', exact: true }).isEnabled()).toBe(true);
    expect(await page.getByRole('button', { name: "I didn't ask for this" }).isEnabled()).toBe(true);
    await page.getByRole('button', { name: 'Deny', exact: true }).click();
    await page.getByRole('heading', { name: 'Denied' }).waitFor(SHOWN);
    await expect(client.pollBackchannelAuthenticationGrant(config, ack)).rejects.toMatchObject({
      error: 'access_denied',
    });
  });

  it('says so to a user who has no passkey, and keeps Deny and Report', async () => {
    expect(
      (await svc.admin('PUT', `/admin/tenants/${fx.tenant}/users/carol`, { email: 'carol@example.com' })).status,
    ).toBe(201);
    const { ack, secret, url } = await linkRequest('carol', 'Code 2M-90');
    const view = await call('view', { link: secret });
    expect(view.body).toMatchObject({ state: 'pending', can_approve: false });
    expect(view.body.webauthn).toBeUndefined();
    const page = await bob.context.newPage();
    await page.goto(url);
    await page.getByText('Code 2M-90').waitFor(SHOWN);
    await page.getByText('requires a passkey to approve, and you have not set one up').waitFor(SHOWN);
    expect(await page.getByRole('button', { name: 'Approve', exact: true }).isDisabled()).toBe(true);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole('button', { name: "I didn't ask for this" }).click();
    await page.getByRole('heading', { name: 'Reported' }).waitFor(SHOWN);
    expect((await state(ack.auth_req_id)).state).toBe('reported');
    await page.close();
  });

  it('says so in a browser without WebAuthn, and keeps Deny and Report', async () => {
    const { ack, url } = await linkRequest('alice', 'Code 6W-44');
    // A browser without the WebAuthn API (an embedded web view, an old browser): the page must not offer Approve.
    const context = await browser.newContext({ viewport: { width: 360, height: 780 }, bypassCSP: true });
    await context.addInitScript(() => {
      delete (window as { PublicKeyCredential?: unknown }).PublicKeyCredential;
    });
    const page = await context.newPage();
    try {
      await page.goto(url);
      await page.getByText('Code 6W-44').waitFor(SHOWN);
      await page.getByText('This browser cannot use passkeys').waitFor(SHOWN);
      expect(await page.getByRole('button', { name: 'Approve', exact: true }).isDisabled()).toBe(true);
      expect(await seriousViolations(page)).toEqual([]);
      expect((await state(ack.auth_req_id)).state).toBe('pending');
      await page.getByRole('button', { name: 'Deny', exact: true }).click();
      await page.getByRole('heading', { name: 'Denied' }).waitFor(SHOWN);
      expect((await state(ack.auth_req_id)).state).toBe('denied');
    } finally {
      await context.close();
    }
  });

  it('refuses a passkey of another user, an assertion for another request, and one used again', async () => {
    const first = await linkRequest('alice', 'Code 1A-11');
    const second = await linkRequest('alice', 'Code 2B-22');
    const { page: alicePage } = alice;
    const { page: bobPage } = bob;
    await alicePage.goto(`${origin}/${fx.tenant}/approve`);
    await bobPage.goto(`${origin}/${fx.tenant}/approve`);

    // bob holds alice's link and asserts with his own passkey over its challenge: not one of alice's.
    const bobs = await assertionFor(bobPage, first.secret, true);
    expect(bobs.id).not.toBe((await call('view', { link: first.secret })).body.webauthn.allowCredentials[0].id);
    const foreign = await call('decide', { link: first.secret, decision: 'approve', webauthn: bobs });
    expectError(foreign, 400, 'user_verification_failed');
    // Without an assertion, approving is refused too (Deny and Report need none).
    expectError(await call('decide', { link: first.secret, decision: 'approve' }), 400, 'user_verification_required');

    // alice's assertion for the first request does not approve the second (its challenge is the first link's).
    const forFirst = await assertionFor(alicePage, first.secret);
    expectError(
      await call('decide', { link: second.secret, decision: 'approve', webauthn: forFirst }),
      400,
      'user_verification_failed',
    );
    expect((await state(second.ack.auth_req_id)).state).toBe('pending');
    expect((await state(first.ack.auth_req_id)).state).toBe('pending');

    // It approves its own request, once; used again it decides nothing.
    expect(await call('decide', { link: first.secret, decision: 'approve', webauthn: forFirst })).toMatchObject({
      status: 200,
      body: { state: 'approved' },
    });
    expect(await call('decide', { link: first.secret, decision: 'approve', webauthn: forFirst })).toMatchObject({
      status: 409,
      body: { error: 'request_not_pending', state: 'approved' },
    });
    // The second request, with an assertion over its own link's challenge.
    const forSecond = await assertionFor(alicePage, second.secret);
    expect(await call('decide', { link: second.secret, decision: 'approve', webauthn: forSecond })).toMatchObject({
      status: 200,
      body: { state: 'approved' },
    });
    const evidence = (await state(first.ack.auth_req_id)).evidence;
    expect(evidence).toMatchObject({ user_verified: true, passkey_device_id: alice.deviceId, channel: 'email' });
  });
});
