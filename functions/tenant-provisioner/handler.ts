import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import type { Tenant } from '../../lib/model.ts';
import { newGeneration } from '../../lib/oauth/grant-binding.ts';
import type { TenantStore } from '../../lib/persistence.ts';
import type { Clock, Logger } from '../../lib/ports.ts';
import { parseAwsTenantSettings, vapidKeysFromSecret } from './settings.ts';

/**
 * The tenant's settings item, written by CloudFormation through the CDK Provider framework (the
 * `CibaTenant` construct). Properties, as CloudFormation passes them (strings only, hence the JSON):
 * `TenantId`, `Settings` (JSON of the snake_case settings), `OnDelete` (`retain` | `destroy`), and for Web Push
 * `WebPush` (JSON `{"subject", "secret"}`: the VAPID contact and the Secrets Manager secret holding the key pair)
 * with `WebPushVersion` (change it after rotating the secret). Items are written through the Store port, so their
 * format lives in the DynamoDB adapter only.
 */
export interface TenantProvisionerDeps {
  tenants: TenantStore;
  /** Reads a Secrets Manager secret's string (the Web Push keys). */
  readSecret(secretId: string): Promise<string>;
  clock: Clock;
  logger: Logger;
}

export interface ProviderResponse {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

const MAX_WRITE_ATTEMPTS = 3;

export const physicalId = (tenantId: string): string => `ciba-tenant/${tenantId}`;

export const createHandler =
  ({ tenants, readSecret, clock, logger }: TenantProvisionerDeps) =>
  async (event: CloudFormationCustomResourceEvent): Promise<ProviderResponse> => {
    const props = event.ResourceProperties as Record<string, unknown>;
    const tenantId = String(props.TenantId ?? '');
    if (!tenantId) throw new Error('TenantId is required');

    if (event.RequestType === 'Delete') {
      // An old physical id (the tenant id changed) carries the old tenant's properties: they decide.
      if (props.OnDelete === 'destroy') {
        await tenants.delete(tenantId);
        logger.info('tenant deleted', { tenant_id: tenantId });
      } else {
        logger.info('tenant retained', { tenant_id: tenantId });
      }
      return { PhysicalResourceId: event.PhysicalResourceId };
    }

    const webPush = props.WebPush
      ? (JSON.parse(String(props.WebPush)) as { subject: string; secret: string })
      : undefined;
    const settings = parseAwsTenantSettings(
      JSON.parse(String(props.Settings ?? '{}')),
      `tenant ${tenantId}`,
      webPush ? { subject: webPush.subject, ...vapidKeysFromSecret(await readSecret(webPush.secret)) } : undefined,
    );
    // The tenants file is the source of truth: its settings replace the stored ones (over the defaults).
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const existing = await tenants.get(tenantId);
      const now = clock.now();
      const tenant: Tenant = {
        tenantId,
        // Hardening rule 7: a tenant created again under a deleted one's id honours none of its grants.
        generation: existing ? existing.generation : newGeneration(),
        settings,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      const outcome = await tenants.save(tenant, existing ? existing.updatedAt : null);
      if (outcome === 'ok') {
        logger.info(existing ? 'tenant updated' : 'tenant created', { tenant_id: tenantId });
        return { PhysicalResourceId: physicalId(tenantId), Data: { TenantId: tenantId } };
      }
    }
    throw new Error(`tenant ${tenantId} changed concurrently ${MAX_WRITE_ATTEMPTS} times; retry the deployment`);
  };
