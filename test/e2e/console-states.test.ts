/**
 * What the customer and the operator see (issue 17), on the seeded demo in Chromium: a payment rendered from its
 * display template on the authenticator and in the console, Approve in view at 360x640, the customer with no device,
 * "I didn't ask for this" and the shield it sets (lifted by an administrator), the operator's Cancel, and an axe-core
 * accessibility check of both pages at phone and desktop width.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../lib/local/seed.ts';
import { buildWebAssets } from '../../lib/web/build.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const SHOWN = { timeout: 20_000 };
const PHONE = { width: 360, height: 640 };
const DESKTOP = { width: 1280, height: 800 };
const HINT = 'Customer (user id, email:…, phone:…)';

describe('the console and the authenticator as the operator and the customer see them', { timeout: 180_000 }, () => {
  let svc: TestService;
  let browser: Browser;
  let assets: string;
  let issuer: string;

  beforeAll(async () => {
    assets = await mkdtemp(join(tmpdir(), 'ciba-web-'));
    await buildWebAssets({ outDir: assets });
    svc = await startTestService({ webAssetDirs: [assets] });
    await seedDemo(svc.service.deps);
    await svc.admin('PUT', '/admin/tenants/demo/users/bob', { name: 'Bob' });
    issuer = `${svc.url}/demo`;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.stop();
    await rm(assets, { recursive: true, force: true });
  });

  const open = async (): Promise<{ context: BrowserContext; phone: Page; desk: Page; errors: string[] }> => {
    const context = await browser.newContext({ viewport: PHONE, bypassCSP: true });
    const errors: string[] = [];
    const phone = await context.newPage();
    phone.on('pageerror', (e) => errors.push(e.message));
    const ticket = await svc.admin('POST', '/admin/tenants/demo/users/alice/enrollment-tickets');
    await phone.goto(ticket.body.enrollment_uri);
    await phone.getByText('This browser is your authenticator').waitFor(SHOWN);
    const desk = await context.newPage();
    desk.on('pageerror', (e) => errors.push(e.message));
    await desk.setViewportSize(DESKTOP);
    await desk.goto(`${issuer}/console`);
    return { context, phone, desk, errors };
  };

  it('a payment shows its rendered title and fields on the phone and in the console; Approve is in view at 360x640', async () => {
    const { context, phone, desk, errors } = await open();
    expect(await desk.getByText('Demo console').count()).toBeGreaterThan(0);
    await desk.getByLabel(HINT).fill('alice');
    await desk.getByLabel('A payment').check();
    await desk.getByRole('button', { name: 'Send' }).click();
    await desk.getByText('Waiting for alice to answer on their phone').waitFor(SHOWN);
    expect(await desk.getByText('Pay 12.50 EUR to Café Zeit').count()).toBe(1);

    const card = phone.getByRole('article', { name: 'ACME Support Console' });
    await card.getByRole('heading', { name: 'Pay 12.50 EUR to Café Zeit' }).waitFor(SHOWN);
    expect(await card.getByText('Invoice 2041').count()).toBe(1);
    // Deny, Approve and "I didn't ask for this" all inside the first screen, none smaller than Approve.
    const boxes = await Promise.all(
      ['Deny', 'Approve', "I didn't ask for this"].map((name) =>
        card.getByRole('button', { name, exact: true }).boundingBox(),
      ),
    );
    for (const box of boxes) {
      expect(box).not.toBeNull();
      expect(box!.y + box!.height).toBeLessThanOrEqual(PHONE.height);
    }
    const approve = boxes[1]!;
    for (const box of [boxes[0]!, boxes[2]!]) {
      expect(box.height).toBeGreaterThanOrEqual(approve.height - 1);
    }
    // The device's key hash is not on the screen until asked for.
    expect(await phone.locator('.device-id').isVisible()).toBe(false);

    expect(await seriousViolations(phone), 'authenticator at 360 px').toEqual([]);
    await phone.setViewportSize(DESKTOP);
    expect(await seriousViolations(phone), 'authenticator at 1280 px').toEqual([]);
    expect(await seriousViolations(desk), 'console waiting at 1280 px').toEqual([]);

    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await desk.getByText('Approved by').waitFor(SHOWN);
    expect(await seriousViolations(desk), 'console approved at 1280 px').toEqual([]);
    await desk.setViewportSize(PHONE);
    expect(await seriousViolations(desk), 'console approved at 360 px').toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a customer with no device: the console says so at once and what to do', async () => {
    const { context, desk, errors } = await open();
    // The check itself can fail: an image without a text alternative is a critical violation.
    const probe = await context.newPage();
    await probe.setContent('<!doctype html><html lang="en"><title>probe</title><main><img src="data:,"></main></html>');
    expect((await seriousViolations(probe)).join('\n')).toContain('critical image-alt');
    await desk.getByLabel(HINT).fill('bob');
    await desk.getByRole('button', { name: 'Send' }).click();
    await desk.getByText('No authenticator').waitFor(SHOWN);
    expect(await desk.getByText('Enroll their phone first').count()).toBe(1);
    expect(await seriousViolations(desk), 'console no device').toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('"I didn\'t ask for this": the console says reported, then blocked; lifted, a request goes through and Cancel withdraws it', async () => {
    const { context, phone, desk, errors } = await open();
    await desk.getByLabel(HINT).fill('alice');
    await desk.getByRole('button', { name: 'Send' }).click();
    const report = phone.getByRole('button', { name: "I didn't ask for this" });
    await report.waitFor(SHOWN);
    await report.click();
    await phone.getByRole('heading', { name: 'Reported' }).waitFor(SHOWN);
    await desk.getByText('Reported: not the customer’s request').waitFor(SHOWN);

    await desk.getByRole('button', { name: 'Send' }).click();
    await desk.getByText('Blocked by the customer').waitFor(SHOWN);
    const user = await svc.admin('GET', '/admin/tenants/demo/users/alice');
    expect(user.body.report_shields.map((s: { client_id: string }) => s.client_id)).toEqual(['demo-client']);

    expect((await svc.admin('DELETE', '/admin/tenants/demo/users/alice/shields/demo-client')).status).toBe(204);
    await desk.getByRole('button', { name: 'Send' }).click();
    await desk.getByText('Waiting for alice').waitFor(SHOWN);
    const approve = phone.getByRole('button', { name: 'Approve', exact: true });
    await approve.waitFor(SHOWN);
    await desk.getByRole('button', { name: 'Cancel request' }).click();
    await desk.getByText('You withdrew the request').waitFor(SHOWN);
    // The phone stops showing it (the event stream names the decided request).
    await approve.waitFor({ state: 'detached', ...SHOWN });
    expect(errors).toEqual([]);
    await context.close();
  });
});
