import { describe, expect, it } from 'vitest';
import webPush from 'web-push';
import { applySettingsPatch } from '../../../lib/admin/tenants.ts';
import { DEFAULT_TENANT_SETTINGS } from '../../../lib/model.ts';

describe('tenant settings patches', () => {
  it('generates a VAPID key pair that web-push accepts when web_push names only a subject', () => {
    const settings = applySettingsPatch(DEFAULT_TENANT_SETTINGS, { web_push: { subject: 'mailto:ops@example.com' } });
    const { vapidPublicKey, vapidPrivateKey } = settings.webPush!;
    expect(Buffer.from(vapidPublicKey, 'base64url')).toHaveLength(65);
    expect(Buffer.from(vapidPublicKey, 'base64url')[0]).toBe(4);
    expect(Buffer.from(vapidPrivateKey, 'base64url')).toHaveLength(32);
    expect(() => webPush.setVapidDetails('mailto:ops@example.com', vapidPublicKey, vapidPrivateKey)).not.toThrow();
    const again = applySettingsPatch(DEFAULT_TENANT_SETTINGS, { web_push: { subject: 'mailto:ops@example.com' } });
    expect(again.webPush!.vapidPrivateKey).not.toBe(vapidPrivateKey);
  });

  it('refuses unknown fields and names each problem', () => {
    expect(() => applySettingsPatch(DEFAULT_TENANT_SETTINGS, { colour: 'blue', backchannel_expires_in: 0 })).toThrow(
      /backchannel_expires_in: Too small.*; unknown field colour/,
    );
  });
});
