/**
 * The README's browser flow, as a newcomer meets it: the seeded demo tenant ("ACME Support", its client "ACME
 * Support Console", alice), the enrollment link, the operator console and the authenticator, at phone and desktop
 * width in Chromium. `UPDATE_SCREENSHOTS=1` writes the README's screenshots (docs/screenshots/) from this run;
 * otherwise they go to test-results/.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../lib/local/seed.ts';
import { buildWebAssets } from '../../lib/web/build.ts';
import { SCREENSHOTS } from '../helpers/screenshots.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const PHONE = { width: 360, height: 780 };
const DESKTOP = { width: 1280, height: 800 };
const SHOWN = { timeout: 15_000 };

describe("the README's browser flow on the seeded demo", { timeout: 120_000 }, () => {
  let svc: TestService;
  let browser: Browser;
  let assets: string;
  let issuer: string;

  beforeAll(async () => {
    assets = await mkdtemp(join(tmpdir(), 'ciba-web-'));
    await buildWebAssets({ outDir: assets });
    svc = await startTestService({ webAssetDirs: [assets] });
    await seedDemo(svc.service.deps);
    issuer = `${svc.url}/demo`;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    await mkdir(SCREENSHOTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.stop();
    await rm(assets, { recursive: true, force: true });
  });

  /** Opens the "enroll as alice" link npm start prints (the admin API's enrollment_uri). */
  const enroll = async (page: Page) => {
    const ticket = await svc.admin('POST', '/admin/tenants/demo/users/alice/enrollment-tickets');
    await page.goto(ticket.body.enrollment_uri);
    await page.getByText('This browser is your authenticator').waitFor(SHOWN);
  };

  it('enroll, Send in the console, Approve on the authenticator, the console shows alice verified', async () => {
    const context = await browser.newContext({ viewport: PHONE });
    const authenticator = await context.newPage();
    const errors: string[] = [];
    authenticator.on('pageerror', (e) => errors.push(e.message));
    await enroll(authenticator);
    // The demo tenant has no Web Push keys: the empty state does not offer notifications it cannot give.
    const empty = authenticator.getByRole('heading', { name: 'No requests right now' });
    await empty.waitFor(SHOWN);
    expect(await authenticator.getByText('Keep this page open to see it.').count()).toBe(1);
    expect(await authenticator.getByText(/notifications/i).count()).toBe(0);
    await authenticator.screenshot({ path: join(SCREENSHOTS, 'authenticator-enrolled-360.png') });

    const consolePage = await context.newPage();
    consolePage.on('pageerror', (e) => errors.push(e.message));
    await consolePage.setViewportSize(DESKTOP);
    await consolePage.goto(`${issuer}/console`);
    await expect.poll(() => consolePage.getByText('ACME Support Console').count(), SHOWN).toBeGreaterThan(0);
    await consolePage.getByLabel('Customer (user id, email:…, phone:…)').fill('alice');
    const code = await consolePage.getByLabel('Code to read to the customer').inputValue();
    await consolePage.getByRole('button', { name: 'Send' }).click();
    await consolePage.getByText('Waiting for alice to answer on their phone').waitFor(SHOWN);
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-waiting-1280.png') });

    const card = authenticator.getByRole('article', { name: 'ACME Support Console' });
    await card.getByText(code).waitFor(SHOWN);
    await expect.poll(() => card.getByText(/\d:\d\d left/).count(), SHOWN).toBe(1);
    expect(await authenticator.getByText('Test Console').count()).toBe(0);
    await authenticator.screenshot({ path: join(SCREENSHOTS, 'authenticator-360.png') });
    await authenticator.setViewportSize(DESKTOP);
    await authenticator.screenshot({ path: join(SCREENSHOTS, 'authenticator-1280.png') });

    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await authenticator.getByRole('heading', { name: 'Approved' }).waitFor(SHOWN);
    await consolePage.getByText('Approved: Alice Example is verified').waitFor(SHOWN);
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-1280.png') });
    await consolePage.setViewportSize({ width: 360, height: 900 });
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-360.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('with binding-code confirmation turned on, alice types the code the console shows', async () => {
    await svc.admin('PUT', '/admin/tenants/demo', { binding_code_confirmation: true });
    try {
      const context = await browser.newContext({ viewport: PHONE });
      const authenticator = await context.newPage();
      await enroll(authenticator);
      const consolePage = await context.newPage();
      await consolePage.goto(`${issuer}/console`);
      await consolePage.getByLabel('Customer (user id, email:…, phone:…)').fill('alice');
      // The console words the code for this mode: the customer types it.
      const code = await consolePage.getByLabel('Code the customer types').inputValue();
      await consolePage.getByRole('button', { name: 'Send' }).click();
      const card = authenticator.getByRole('article', { name: 'ACME Support Console' });
      const input = card.getByLabel('Type the code ACME Support Console gives you');
      await input.waitFor(SHOWN);
      expect(await card.getByText(code).count()).toBe(0);
      await input.fill(code);
      await authenticator.screenshot({ path: join(SCREENSHOTS, 'authenticator-binding-code-360.png') });
      await card.getByRole('button', { name: 'Approve', exact: true }).click();
      await consolePage.getByText('Approved: Alice Example is verified').waitFor(SHOWN);
      await context.close();
    } finally {
      await svc.admin('PUT', '/admin/tenants/demo', { binding_code_confirmation: false });
    }
  });
  it('a payment from the console, and "I didn\'t ask for this" on the phone', async () => {
    const context = await browser.newContext({ viewport: PHONE });
    const authenticator = await context.newPage();
    await enroll(authenticator);
    const consolePage = await context.newPage();
    await consolePage.setViewportSize(DESKTOP);
    await consolePage.goto(`${issuer}/console`);
    await consolePage.getByLabel('Customer (user id, email:…, phone:…)').fill('alice');
    await consolePage.getByLabel('A payment').check();
    await consolePage.getByRole('button', { name: 'Send' }).click();
    const card = authenticator.getByRole('article', { name: 'ACME Support Console' });
    await card.getByRole('heading', { name: 'Pay 12.50 EUR to Café Zeit' }).waitFor(SHOWN);
    await authenticator.screenshot({ path: join(SCREENSHOTS, 'authenticator-payment-360.png') });
    await card.getByRole('button', { name: "I didn't ask for this" }).click();
    await authenticator.getByRole('heading', { name: 'Reported' }).waitFor(SHOWN);
    await authenticator.screenshot({ path: join(SCREENSHOTS, 'authenticator-reported-360.png') });
    await consolePage.getByText('Reported: not the customer’s request').waitFor(SHOWN);
    await consolePage.screenshot({ path: join(SCREENSHOTS, 'console-reported-1280.png') });
    expect((await svc.admin('DELETE', '/admin/tenants/demo/users/alice/shields/demo-client')).status).toBe(204);
    await context.close();
  });
});
