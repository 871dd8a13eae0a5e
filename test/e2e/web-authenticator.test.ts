import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebAssets } from '../../lib/web/build.ts';
import { createTenantFixture, startTestService, type TenantFixture, type TestService } from '../helpers/service.ts';

const CHROMIUM = '/usr/bin/chromium';
// Test artifacts under test-results/ (the README's screenshots come from test/e2e/readme-browser-flow.test.ts).
const SCREENSHOTS = join(import.meta.dirname, '../../test-results/screenshots');
const ACR_PASSKEY = 'urn:ciba-service:acr:device-key+passkey';

/**
 * How long a step in the page may take to show: expect.poll gives up after 1 s by default, too short for a page
 * that enrolls (a WebCrypto key, a signed request) on a loaded machine.
 */
const SHOWN = { timeout: 10_000 };

/**
 * Runs the web authenticator and console in a real browser (Debian's Chromium) against the local server. A test
 * drives a browser through several pages and waits: more than the default 30 s on a loaded machine.
 */
describe('the web authenticator and the operator console in Chromium', { timeout: 90_000 }, () => {
  let svc: TestService;
  let browser: Browser;
  let assets: string;

  beforeAll(async () => {
    assets = await mkdtemp(join(tmpdir(), 'ciba-web-'));
    await buildWebAssets({ outDir: assets });
    svc = await startTestService({ webAssetDirs: [assets] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    await mkdir(SCREENSHOTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.stop();
    await rm(assets, { recursive: true, force: true });
  });

  const oidc = (fx: TenantFixture) =>
    client.discovery(
      new URL(fx.issuer),
      fx.client.client_id,
      undefined,
      client.ClientSecretBasic(fx.client.client_secret),
      {
        execute: [client.allowInsecureRequests],
      },
    );

  /** A fresh browser profile, enrolled as alice's authenticator by opening the admin API's enrollment URI. */
  const enrolledPage = async (
    fx: TenantFixture,
    options: { origin?: string; viewport?: { width: number; height: number } } = {},
  ): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    expect(ticket.status).toBe(201);
    const uri = options.origin
      ? ticket.body.enrollment_uri.replace(svc.url, options.origin)
      : ticket.body.enrollment_uri;
    await page.goto(uri);
    await expect.poll(() => page.getByText('This browser is your authenticator').count(), SHOWN).toBe(1);
    // The single-use ticket is gone from the address bar.
    expect(new URL(page.url()).hash).toBe('');
    const devices = await svc.admin('GET', `/admin/tenants/${fx.tenant}/users/alice/devices`);
    expect(devices.body.devices).toHaveLength(1);
    expect(errors).toEqual([]);
    return { context, page };
  };

  const requestCard = (page: Page, clientName: string) => page.getByRole('article', { name: clientName });

  it('enrolls through the enrollment URI, shows the request, and Approve gives the client tokens', async () => {
    const fx = await createTenantFixture(svc, 'web-approve', { display_name: 'ACME Support' });
    const { context, page } = await enrolledPage(fx, { viewport: { width: 360, height: 780 } });
    const config = await oidc(fx);
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid profile email',
      login_hint: 'alice',
      binding_message: 'Code 4F-22',
    });

    // Locally the request arrives through the event stream, at once.
    const card = requestCard(page, 'Test Console');
    await card.getByText('Code 4F-22').waitFor({ timeout: 10_000 });
    await expect.poll(() => card.getByText('Your email address').count(), SHOWN).toBe(1);
    await expect.poll(() => card.getByText(/\d:\d\d left/).count(), SHOWN).toBe(1);
    await page.screenshot({ path: join(SCREENSHOTS, 'authenticator-360.png') });

    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
    const tokens = await client.pollBackchannelAuthenticationGrant(config, ack);
    expect(tokens.claims()).toMatchObject({ sub: 'alice', name: 'Alice Example' });

    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(SCREENSHOTS, 'authenticator-approved-1280.png') });
    await context.close();
  });

  it('Deny makes the client get access_denied', async () => {
    const fx = await createTenantFixture(svc, 'web-deny');
    const { context, page } = await enrolledPage(fx);
    const config = await oidc(fx);
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: 'Pay 12.50 EUR',
    });
    const card = requestCard(page, 'Test Console');
    await card.getByText('Pay 12.50 EUR').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(SCREENSHOTS, 'authenticator-1280.png') });
    await card.getByRole('button', { name: 'Deny', exact: true }).click();
    await page.getByRole('heading', { name: 'Denied' }).waitFor();
    await expect(client.pollBackchannelAuthenticationGrant(config, ack)).rejects.toMatchObject({
      error: 'access_denied',
    });
    await context.close();
  });

  it('an expired request disappears from the page', async () => {
    const fx = await createTenantFixture(svc, 'web-expiry');
    const { context, page } = await enrolledPage(fx);
    const config = await oidc(fx);
    await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: 'Soon gone',
      // Long enough for the card to be shown before it expires on a loaded machine (an expired request is never
      // shown, and the wait below would fail).
      requested_expiry: '8',
    });
    const card = requestCard(page, 'Test Console');
    await card.getByText('Soon gone').waitFor({ timeout: 10_000 });
    // Gone at the first tick of the page's 1 s timer after the expiry.
    await card.waitFor({ state: 'detached', timeout: 20_000 });
    await page.getByRole('heading', { name: 'No requests right now' }).waitFor();
    await context.close();
  });

  it('binding-code confirmation: the message is withheld, a wrong code is refused and counted, the right one works', async () => {
    const fx = await createTenantFixture(svc, 'web-code', { binding_code_confirmation: true });
    const { context, page } = await enrolledPage(fx, { viewport: { width: 360, height: 780 } });
    const config = await oidc(fx);
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: '4F-22',
    });
    const card = requestCard(page, 'Test Console');
    const code = card.getByLabel('Type the code shown on the other screen');
    await code.waitFor({ timeout: 10_000 });
    expect(await card.getByText('4F-22').count()).toBe(0);

    await code.fill('7K-31');
    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await card.getByText('2 attempts left', { exact: false }).waitFor();
    const state = await svc.admin('GET', `/admin/tenants/${fx.tenant}/requests/${encodeURIComponent(ack.auth_req_id)}`);
    expect(state.body.state ?? state.body.status).toBe('pending');
    await page.screenshot({ path: join(SCREENSHOTS, 'authenticator-binding-code-360.png') });

    await code.fill('4f 22');
    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
    const tokens = await client.pollBackchannelAuthenticationGrant(config, ack);
    expect(tokens.claims()?.sub).toBe('alice');
    await context.close();
  });

  it('user verification: a passkey registered after enrollment, then Approve asks for it and the acr says so', async () => {
    const fx = await createTenantFixture(svc, 'web-passkey', { user_verification: 'passkey' });
    // WebAuthn needs a domain as RP ID: localhost, not 127.0.0.1.
    const origin = svc.url.replace('127.0.0.1', 'localhost');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    });
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    await page.goto(ticket.body.enrollment_uri.replace(svc.url, origin));
    await page.getByText('This browser is your authenticator').waitFor();
    await page.getByRole('button', { name: 'Set up passkey' }).click();
    await page.getByText('Passkey ready').waitFor();

    const config = await oidc(fx);
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: 'Transfer 250 EUR',
    });
    const card = requestCard(page, 'Test Console');
    await card.getByText('Transfer 250 EUR').waitFor({ timeout: 10_000 });
    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
    const tokens = await client.pollBackchannelAuthenticationGrant(config, ack);
    expect(tokens.claims()?.acr).toBe(ACR_PASSKEY);
    const discovery = await (await fetch(`${fx.issuer}/.well-known/openid-configuration`)).json();
    expect(discovery.acr_values_supported).toContain(ACR_PASSKEY);
    await context.close();
  });

  it('the operator console sends as its client, the authenticator approves, the console shows the claims', async () => {
    const fx = await createTenantFixture(
      svc,
      'web-console',
      { display_name: 'ACME Support' },
      { client_name: 'ACME Support Console' },
    );
    await svc.admin('PUT', `/admin/tenants/${fx.tenant}`, { console_client_id: fx.client.client_id });
    const { context, page: authenticator } = await enrolledPage(fx, { viewport: { width: 360, height: 780 } });
    const consolePage = await context.newPage();
    await consolePage.setViewportSize({ width: 1280, height: 800 });
    await consolePage.goto(`${fx.issuer}/console`);
    await consolePage.getByLabel('Customer (user id, email:…, phone:…)').fill('email:alice@example.com');
    const code = await consolePage.getByLabel('Code to read to the customer').inputValue();
    expect(code).toMatch(/^[A-Z0-9]{2}-[A-Z0-9]{2}$/);
    await consolePage.getByRole('button', { name: 'Send' }).click();
    await consolePage.getByText('Waiting for the customer to approve').waitFor();
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-waiting-1280.png') });

    const card = requestCard(authenticator, 'ACME Support Console');
    await card.getByText(code).waitFor({ timeout: 10_000 });
    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await consolePage.getByText('Approved: Alice Example is verified').waitFor({ timeout: 15_000 });
    expect(await consolePage.getByRole('cell', { name: 'alice@example.com' }).count()).toBe(1);
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-1280.png') });
    await consolePage.setViewportSize({ width: 360, height: 900 });
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-360.png'), fullPage: true });
    await context.close();
  });

  it('the console refuses requests without its header, from another origin, and for tenants without a console', async () => {
    const fx = await createTenantFixture(svc, 'web-csrf');
    const post = (path: string, headers: Record<string, string>) =>
      fetch(`${fx.issuer}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({ login_hint: 'alice' }),
      });
    // No console client configured (and no demo-client in this tenant): 404.
    expect((await post('/console/requests', { 'X-CIBA-Console': '1' })).status).toBe(404);
    await svc.admin('PUT', `/admin/tenants/${fx.tenant}`, { console_client_id: fx.client.client_id });
    expect((await post('/console/requests', {})).status).toBe(403);
    expect((await post('/console/requests', { 'X-CIBA-Console': '1', Origin: 'https://evil.example' })).status).toBe(
      403,
    );
    expect((await post('/console/requests', { 'X-CIBA-Console': '1', 'Sec-Fetch-Site': 'cross-site' })).status).toBe(
      403,
    );
    const ok = await post('/console/requests', { 'X-CIBA-Console': '1', Origin: svc.url });
    expect(ok.status).toBe(200);
    expect((await ok.json()).status).toBe('sent');
  });
});
