import type { z } from 'zod';
import { Conflict } from '../errors.ts';
import type { Device, DevicePush, Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';
import { checkPushChannel, type DevicePushBody } from './device-api.ts';
import { reportShieldSeconds } from './report-shield.ts';

/**
 * GET {issuer}/device: what the signed-in device needs to set itself up: who it is, whether it has a passkey and a
 * push channel, and the tenant's rules for approving (never a secret: the VAPID key is the public one).
 */
export const describeDevice = (tenant: Tenant, device: Device) => ({
  device_id: device.deviceId,
  name: device.name,
  created_at: Math.floor(device.createdAt / 1000),
  push: device.push ? { type: device.push.type, disabled: device.push.disabled === true } : null,
  passkey: device.passkey !== undefined,
  tenant: {
    display_name: tenant.settings.displayName || tenant.tenantId,
    binding_code_confirmation: tenant.settings.bindingCodeConfirmation === true,
    user_verification: tenant.settings.userVerification ?? 'none',
    // How long a report keeps the client away (the authenticator says so next to "I didn't ask for this").
    report_shield_seconds: reportShieldSeconds(tenant.settings),
    ...(tenant.settings.webPush ? { web_push_public_key: tenant.settings.webPush.vapidPublicKey } : {}),
  },
});

/** PUT {issuer}/device/push: a web authenticator subscribes to Web Push after enrollment (it needs a user gesture). */
export const setDevicePush = async (
  deps: Pick<Deps, 'pushChannels' | 'logger' | 'config' | 'notifier' | 'outbound'>,
  tenant: Tenant,
  device: Device,
  body: z.infer<typeof DevicePushBody>,
): Promise<{ push: { type: string } }> => {
  checkPushChannel(deps, body.push, tenant);
  let push: DevicePush = body.push;
  if (push.type !== 'webhook' && push.type !== 'webpush' && deps.notifier.register) {
    push = await deps.notifier.register(device.tenantId, device.deviceId, push);
  }
  if ((await deps.pushChannels.set(device.tenantId, device.sub, device.deviceId, push)) !== 'ok') {
    throw new Conflict('the device was removed');
  }
  deps.logger.info('device push channel set', {
    tenant: device.tenantId,
    device_id: device.deviceId,
    type: body.push.type,
  });
  return { push: { type: body.push.type } };
};
