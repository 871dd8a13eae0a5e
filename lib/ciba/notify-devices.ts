import type { AuthRequest, Client, Tenant, User } from '../model.ts';
import type { Deps } from '../ports.ts';
import { bindingCodeRequired } from './confirm-approval.ts';

/**
 * Tells each of the user's devices that a request waits. The notification shows only who asks and the
 * binding message; the device fetches the details with a signed request. Failures never fail the
 * request: the device can still list what is pending. When the code must be typed on the device (binding-code
 * confirmation), the notification says only who asks (hardening rule 2): a lock screen, a push service or a webhook
 * receiver that saw the code would give the number matching away.
 */
export const notifyDevices = async (
  deps: Pick<Deps, 'pushChannels' | 'notifier' | 'logger'>,
  input: { tenant: Tenant; client: Client; user: User; request: AuthRequest },
): Promise<void> => {
  const { tenant, client, user, request } = input;
  const asker = client.clientName || client.clientId;
  const title = tenant.settings.displayName ? `${tenant.settings.displayName}: approve ${asker}?` : `Approve ${asker}?`;
  const body = bindingCodeRequired(tenant, request)
    ? 'Open to confirm with the code shown where you started'
    : (request.bindingMessage ?? 'Open to review the request');
  const devices = user.devices.filter((device) => !device.push?.disabled);
  if (devices.length === 0) {
    deps.logger.info('no enrolled device to notify', { tenant: tenant.tenantId, sub: user.sub, txn: request.txn });
  }
  const results = await Promise.allSettled(
    devices.map(async (device) => {
      const result = await deps.notifier.notify(device, {
        tenantId: tenant.tenantId,
        txn: request.txn,
        title,
        body,
        expiresAt: request.expiresAt,
      });
      if (result.disabled) await deps.pushChannels.disable(tenant.tenantId, user.sub, device.deviceId);
    }),
  );
  for (const result of results) {
    if (result.status === 'rejected') deps.logger.warn('device notification failed', { error: result.reason });
  }
};
