import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebAssets } from '../../lib/web/build.ts';
import { createTenantFixture, startTestService, type TenantFixture, type TestService } from '../helpers/service.ts';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.ts';

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
    options: {
      origin?: string;
      viewport?: { width: number; height: number };
      /** Before the page opens (network routes). */
      prepare?: (context: BrowserContext) => Promise<void>;
    } = {},
  ): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 } });
    await options.prepare?.(context);
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

  /**
   * A fresh profile with a virtual platform authenticator (CDP WebAuthn), enrolled as alice's authenticator and with
   * its passkey set up. WebAuthn needs a domain as RP ID: the page is opened on localhost, not 127.0.0.1.
   */
  const passkeyPage = async (fx: TenantFixture) => {
    const origin = svc.url.replace('127.0.0.1', 'localhost');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const addAuthenticator = () => addVirtualAuthenticator(cdp);
    const authenticator = await addAuthenticator();
    const ticket = await svc.admin('POST', `/admin/tenants/${fx.tenant}/users/alice/enrollment-tickets`);
    await page.goto(ticket.body.enrollment_uri.replace(svc.url, origin));
    await page.getByText('This browser is your authenticator').waitFor();
    await page.getByRole('button', { name: 'Set up passkey' }).click();
    await page.getByText('Passkey ready').waitFor();
    return { context, page, cdp, authenticator, addAuthenticator };
  };

  /** Starts a request for alice, approves it on the page (with the passkey) and returns the ID token's acr. */
  const approveOnPage = async (fx: TenantFixture, page: Page) => {
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
    return (await client.pollBackchannelAuthenticationGrant(config, ack)).claims()?.acr;
  };

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

  /** A request for alice on a binding-code tenant, shown at 360 px: its code field waits for input. */
  const codeRequest = async (tenant: string) => {
    const fx = await createTenantFixture(svc, tenant, { binding_code_confirmation: true });
    const { context, page } = await enrolledPage(fx, { viewport: { width: 360, height: 780 } });
    const config = await oidc(fx);
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: '4F-22',
    });
    const card = requestCard(page, 'Test Console');
    const code = card.getByLabel('Type the code Test Console gives you');
    await code.waitFor({ timeout: 10_000 });
    return { fx, context, page, config, ack, card, code };
  };

  it('binding-code confirmation: the message is withheld, a wrong code is refused and counted, the right one works', async () => {
    const { fx, context, page, config, ack, card, code } = await codeRequest('web-code');
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
    const { context, page } = await passkeyPage(fx);
    expect(await approveOnPage(fx, page)).toBe(ACR_PASSKEY);
    const discovery = await (await fetch(`${fx.issuer}/.well-known/openid-configuration`)).json();
    expect(discovery.acr_values_supported).toContain(ACR_PASSKEY);
    await context.close();
  });

  it('hardening rule 1: replacing the passkey asks for the current one first; then only the new one approves', async () => {
    const fx = await createTenantFixture(svc, 'web-passkey-swap', { user_verification: 'passkey' });
    const { context, page, cdp, authenticator: first, addAuthenticator } = await passkeyPage(fx);
    const credentials = async (authenticatorId: string) =>
      (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    const [old] = await credentials(first);

    await page.getByRole('button', { name: 'Replace passkey' }).click();
    const confirm = page.getByRole('button', { name: 'Confirm with current passkey' });
    // Without the current passkey's user verification nothing is created, and the page says what to do.
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId: first, isUserVerified: false });
    await confirm.click();
    await page.getByText('Replacing a passkey needs the current one').waitFor(SHOWN);
    expect(await credentials(first)).toHaveLength(1);
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId: first, isUserVerified: true });
    await confirm.click();
    await page.getByText('Your current passkey confirmed. Now create the new one.').waitFor(SHOWN);
    // The current passkey signed (its counter moved) before anything was created.
    expect((await credentials(first))[0]?.signCount).toBe(old!.signCount + 1);
    expect(await credentials(first)).toHaveLength(1);

    // The new passkey lives on another authenticator (a new phone, a security key); the old one is gone.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: first });
    const second = await addAuthenticator();
    await page.getByRole('button', { name: 'Create new passkey' }).click();
    await page.getByText('Passkey replaced').waitFor(SHOWN);
    expect(await credentials(second)).toHaveLength(1);
    await page.getByRole('button', { name: 'Replace passkey' }).waitFor();
    expect(await approveOnPage(fx, page)).toBe(ACR_PASSKEY);
    await context.close();
  });

  it('binding-code confirmation: the third wrong code shows the denial the service reports', async () => {
    const { context, page, config, ack, card, code } = await codeRequest('web-code-denied');
    for (const [wrong, left] of [
      ['7K-31', '2 attempts left'],
      ['7K-32', '1 attempt left'],
    ]) {
      await code.fill(wrong!);
      await card.getByRole('button', { name: 'Approve', exact: true }).click();
      await card.getByText(left!, { exact: false }).waitFor(SHOWN);
    }
    await code.fill('7K-33');
    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.getByRole('heading', { name: 'Denied' }).waitFor(SHOWN);
    await page.getByText('Denied: too many wrong codes.', { exact: false }).waitFor();
    await expect(client.pollBackchannelAuthenticationGrant(config, ack)).rejects.toMatchObject({
      error: 'access_denied',
    });
    await context.close();
  });

  it('where the service has no event stream (404, as in AWS) the page polls, says so, and still shows requests', async () => {
    const fx = await createTenantFixture(svc, 'web-poll');
    let streamAsks = 0;
    const { context, page } = await enrolledPage(fx, {
      prepare: async (browserContext) => {
        await browserContext.route('**/device/events', (route) => {
          streamAsks++;
          return route.fulfill({ status: 404, contentType: 'application/json', body: '{"message":"Not Found"}' });
        });
      },
    });
    await page.getByText('Checking every 3 s').waitFor(SHOWN);
    const config = await oidc(fx);
    await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: 'Polled 7Q',
    });
    await requestCard(page, 'Test Console').getByText('Polled 7Q').waitFor({ timeout: 15_000 });
    expect(streamAsks).toBe(1);
    await context.close();
  });

  it('Replace passkey opens the replacement also while the notifications offer is shown', async () => {
    const fx = await createTenantFixture(svc, 'web-passkey-push', {
      user_verification: 'passkey',
      web_push: { subject: 'mailto:ops@example.com' },
    });
    const { context, page } = await passkeyPage(fx);
    await page.getByRole('heading', { name: 'Get notified' }).waitFor(SHOWN);
    await page.getByRole('button', { name: 'Replace passkey' }).click();
    await page.getByRole('button', { name: 'Confirm with current passkey' }).waitFor(SHOWN);
    await context.close();
  });

  it('hardening rule 5: a long unbreakable message stays inside its box at 360 px, the buttons stay usable', async () => {
    const fx = await createTenantFixture(svc, 'web-clip', {}, { client_name: 'ACME Support Console' });
    const { context, page } = await enrolledPage(fx, { viewport: { width: 360, height: 780 } });
    const config = await oidc(fx);
    // One grapheme cluster (pictographs joined by ZWJ): no line may break inside it, and it counts as 1 character.
    const unbreakable = `${'🐕\u200d'.repeat(150)}🐕`;
    await client.initiateBackchannelAuthentication(config, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: unbreakable,
    });
    const card = requestCard(page, 'ACME Support Console');
    await card.getByRole('button', { name: 'Approve', exact: true }).waitFor({ timeout: 10_000 });
    const layout = await page.evaluate(() => {
      const request = document.querySelector('article.request')!;
      const code = request.querySelector('.binding-code')!;
      const box = (e: Element) => e.getBoundingClientRect();
      return {
        viewport: window.innerWidth,
        pageWidth: document.documentElement.scrollWidth,
        codeOverflows: code.scrollWidth > code.clientWidth,
        codeRight: box(code).right,
        cardRight: box(request).right,
        buttonsInside: [...request.querySelectorAll('button')].every((b) => box(b).right <= box(request).right),
      };
    });
    // The message really is wider than the phone: what keeps the page in place is the clipping.
    expect(layout.codeOverflows).toBe(true);
    expect(layout.pageWidth).toBeLessThanOrEqual(layout.viewport);
    expect(layout.codeRight).toBeLessThanOrEqual(layout.cardRight);
    expect(layout.cardRight).toBeLessThanOrEqual(layout.viewport);
    expect(layout.buttonsInside).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, 'authenticator-clipped-360.png') });
    await context.close();
  });

  it("the service worker is scoped to the tenant's authenticator and cannot claim the rest of the origin", async () => {
    const fx = await createTenantFixture(svc, 'web-sw');
    const { context, page } = await enrolledPage(fx);
    const scope = await page.evaluate(() => navigator.serviceWorker.ready.then((r) => r.scope));
    expect(scope).toBe(`${fx.issuer}/authenticator`);
    const widen = (script: string, wanted: string) =>
      page.evaluate(
        ([url, at]) =>
          navigator.serviceWorker.register(url!, { scope: at! }).then(
            (r) => `registered ${r.scope}`,
            (e: Error) => e.name,
          ),
        [script, wanted],
      );
    const own = await page.evaluate(() => document.body.dataset.serviceWorker!);
    for (const wanted of ['/', `/${fx.tenant}/`, '/other-tenant/authenticator', '/admin/']) {
      expect(await widen(own, wanted), `${own} at ${wanted}`).toBe('SecurityError');
      expect(await widen('/assets/sw.js', wanted), `/assets/sw.js at ${wanted}`).toBe('SecurityError');
    }
    const worker = await fetch(`${svc.url}${own}`);
    expect(worker.headers.get('service-worker-allowed')).toBe(`/${fx.tenant}/authenticator`);
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
    await consolePage.getByText('Waiting for email:alice@example.com to answer on their phone').waitFor();
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-waiting-1280.png') });

    const card = requestCard(authenticator, 'ACME Support Console');
    await card.getByText(code).waitFor({ timeout: 10_000 });
    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await consolePage.getByText('Approved: Alice Example is verified').waitFor({ timeout: 15_000 });
    // The identity in words (the raw claims folded away).
    const identity = consolePage.getByRole('definition').filter({ hasText: 'alice@example.com' });
    expect(await identity.count()).toBe(1);
    expect(await identity.isVisible()).toBe(true);
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-1280.png') });
    await consolePage.setViewportSize({ width: 360, height: 900 });
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-360.png'), fullPage: true });
    await context.close();
  });

  it('the console refuses requests without its header, from another origin, and for tenants without a console', async () => {
    const fx = await createTenantFixture(svc, 'web-csrf', {}, {}, { device: true });
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
