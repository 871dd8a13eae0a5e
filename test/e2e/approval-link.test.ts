/**
 * Channels without the app, end to end in Chromium (docs/channels.md): a user with an email address and no device
 * is asked by a real OpenID client (openid-client 6), the development mailbox holds the message, its link opens the
 * approval page, Approve gives the client's poll tokens with the link's acr, and the link then allows nothing more.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebAssets } from '../../lib/web/build.ts';
import { createTenantFixture, startTestService, type TestService } from '../helpers/service.ts';

const CHROMIUM = '/usr/bin/chromium';

describe('an approval link by email, in Chromium', { timeout: 90_000 }, () => {
  let svc: TestService;
  let browser: Browser;
  let assets: string;

  beforeAll(async () => {
    assets = await mkdtemp(join(tmpdir(), 'ciba-web-'));
    await buildWebAssets({ outDir: assets });
    svc = await startTestService({ webAssetDirs: [assets] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.stop();
    await rm(assets, { recursive: true, force: true });
  });

  it('reaches a user without a device: mailbox, page, Approve, tokens with the email-link acr, then nothing more', async () => {
    const fx = await createTenantFixture(svc, 'link-e2e', {
      display_name: 'Bank of Laptop',
      channels: ['device', 'email'],
    });
    const config = await client.discovery(
      new URL(fx.issuer),
      fx.client.client_id,
      undefined,
      client.ClientSecretBasic(fx.client.client_secret),
      { execute: [client.allowInsecureRequests] },
    );
    expect(config.serverMetadata().acr_values_supported).toContain('urn:ciba-service:acr:email-link');
    expect(config.serverMetadata().acr_values_supported).not.toContain('urn:ciba-service:acr:sms-link');
    const ack = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid email',
      login_hint: 'alice',
      binding_message: 'Code 7Q-44',
    });

    const mailbox = await fetch(`${fx.issuer}/mailbox`).then((r) => r.json());
    expect(mailbox.messages).toHaveLength(1);
    const [mail] = mailbox.messages;
    expect(mail).toMatchObject({ channel: 'email', to: 'Alice@Example.com' });
    expect(mail.subject).toBe('Bank of Laptop: Test Console asks you to confirm');
    const link = /https?:\/\/\S+\/approve#([A-Za-z0-9_-]{43})/.exec(mail.text);
    expect(link).not.toBeNull();
    // The message carries no token, and the log line no link.
    expect(mail.text).not.toContain(ack.auth_req_id);
    expect(svc.logs.join('\n')).not.toContain(link![1]);

    const context = await browser.newContext();
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const response = await page.goto(link![0]);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(response?.headers()['x-frame-options']).toBe('DENY');
    await page.getByText('Code 7Q-44').waitFor();
    await expect(page.getByText('Test Console').first().isVisible()).resolves.toBe(true);
    // The secret left the address bar, and no request carried it in its URL.
    expect(page.url()).not.toContain(link![1]);
    expect(requests.some((url) => url.includes(link![1]!))).toBe(false);

    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();

    const tokens = await client.pollBackchannelAuthenticationGrant(config, ack);
    const idToken = decodeJwt(tokens.id_token!);
    expect(idToken.acr).toBe('urn:ciba-service:acr:email-link');
    expect(idToken.email).toBe('Alice@Example.com');

    // Opened again: the outcome, and no choice.
    const again = await context.newPage();
    await again.goto(link![0]);
    await again.getByRole('heading', { name: 'Approved' }).waitFor();
    expect(await again.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    const replay = await fetch(`${fx.issuer}/approve/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ link: link![1], decision: 'deny' }),
    });
    expect(replay.status).toBe(409);
    expect(await replay.json()).toMatchObject({ error: 'request_not_pending', state: 'approved' });

    // The admin API shows the evidence: the channel, the browser and its address.
    const admin = await svc.admin('GET', `/admin/tenants/${fx.tenant}/requests/${encodeURIComponent(ack.auth_req_id)}`);
    expect(admin.status).toBe(200);
    expect(admin.body.evidence).toMatchObject({ decision: 'approve', channel: 'email', source_ip: '127.0.0.1' });
    expect(admin.body.evidence.user_agent).toContain('Chrome');
    expect(admin.body.evidence.device_id).toBeUndefined();
    await context.close();
  });
});
