import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import {
  deleteTenant,
  keyModeOf,
  provisionTenant,
  releaseTenant,
  TENANT_DELETION_STEP,
} from '../../lib/admin/tenants.ts';
import type { SigningAlg, TenantKeyset } from '../../lib/model.ts';
import type { KeysetStore, TenantStore } from '../../lib/persistence.ts';
import type { Clock, Keys, Logger, PushPlatforms } from '../../lib/ports.ts';
import {
  LEGACY_KEYS_RESOURCE,
  LEGACY_RESOURCES,
  splitIds,
  TENANTS_INDEX_RESOURCE,
  TENANTS_RESOURCE,
  type TenantEntry,
} from './resources.ts';
import { parseAwsTenantSettings, vapidKeysFromSecret } from './settings.ts';

/**
 * The deployment's tenant provisioning (CloudFormation custom resources through the CDK Provider framework; the
 * resource types are in resources.ts): batches of the tenants file's tenants, the index that decides which tenants
 * left the file, the import of keys from deployments before keysets, and the release of per-tenant resources of those
 * deployments. Tenants go through the same operations as the admin API (lib/admin/tenants.ts): the same validation,
 * keys and push platform applications.
 */
export interface TenantProvisionerDeps {
  tenants: TenantStore;
  keysets: KeysetStore;
  keys: Keys;
  platforms: PushPlatforms;
  /** Reads a Secrets Manager secret's string (the Web Push keys). */
  readSecret(secretId: string): Promise<string>;
  /** The deployment's keys from before keysets, by tenant (the stateful stack's provisioner only). */
  legacyKeys?: {
    list(): Promise<Map<string, { current?: string; previous?: string; hmac?: string }>>;
    keyset(
      tenantId: string,
      legacy: { current?: string; previous?: string; hmac?: string },
      alg: SigningAlg,
      now: number,
    ): Promise<TenantKeyset>;
  };
  clock: Clock;
  logger: Logger;
}

export interface ProviderResponse {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

/** Tenants of a batch provisioned at once (KMS and DynamoDB calls of each run one after the other). */
const CONCURRENCY = 8;

const inParallel = async <T>(items: T[], run: (item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
      while (next < items.length) await run(items[next++]!);
    }),
  );
};

const parseEntries = (value: unknown): TenantEntry[] => {
  // The template's own property, written by the CDK app from the checked tenants file.
  const entries = JSON.parse(String(value ?? '[]')) as TenantEntry[];
  if (!Array.isArray(entries)) throw new Error('Tenants must be a JSON list');
  return entries;
};

export const createHandler = (deps: TenantProvisionerDeps) => {
  const provision = async (entry: TenantEntry, previous: TenantEntry | undefined): Promise<void> => {
    const web = entry.web_push;
    const settings = parseAwsTenantSettings(
      entry.settings,
      `tenant ${entry.id}`,
      web ? { subject: web.subject, ...vapidKeysFromSecret(await deps.readSecret(web.secret)) } : undefined,
    );
    const outcome = await provisionTenant(deps, entry.id, settings);
    if (previous && entry.signing_key_version > previous.signing_key_version) {
      await deps.keys.rotate(entry.id, { alg: settings.signingAlg, mode: keyModeOf(settings) });
      deps.logger.info('signing key rotated', { tenant_id: entry.id });
    }
    deps.logger.info(`tenant ${outcome}`, { tenant_id: entry.id });
  };

  const batch = async (event: CloudFormationCustomResourceEvent): Promise<ProviderResponse> => {
    const physicalId = `ciba-tenants/${event.LogicalResourceId}`;
    // Removal is the index's: a batch that loses a tenant (or is deleted) deletes nothing.
    if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
    const entries = parseEntries(event.ResourceProperties.Tenants);
    const old =
      event.RequestType === 'Update'
        ? new Map(parseEntries(event.OldResourceProperties.Tenants).map((e) => [e.id, e]))
        : new Map<string, TenantEntry>();
    // An update provisions the tenants whose entry changed; a tenant new to this batch is provisioned (it may have
    // moved from another batch: provisioning what is already there changes nothing).
    const changed = entries.filter((e) => JSON.stringify(e) !== JSON.stringify(old.get(e.id)));
    await inParallel(changed, (e) => provision(e, old.get(e.id)));
    deps.logger.info('tenant batch provisioned', { batch: event.LogicalResourceId, tenants: changed.length });
    return { PhysicalResourceId: physicalId, Data: { Tenants: String(entries.length) } };
  };

  const index = async (event: CloudFormationCustomResourceEvent): Promise<ProviderResponse> => {
    const physicalId = 'ciba-tenants-index';
    const props = event.ResourceProperties as Record<string, unknown>;
    const now = new Set(event.RequestType === 'Delete' ? [] : splitIds(props.TenantIds));
    const before =
      event.RequestType === 'Update'
        ? (event.OldResourceProperties as Record<string, unknown>)
        : event.RequestType === 'Delete'
          ? props
          : undefined;
    if (before) {
      const destroy = new Set(splitIds(before.Destroy));
      const left = splitIds(before.TenantIds).filter((id) => !now.has(id));
      await inParallel(left, async (id) => {
        if (destroy.has(id)) {
          // In steps, as the admin API deletes (memory stays bounded for a tenant of any size).
          while (
            (await deleteTenant(deps, id, { fromDeployment: true, maxItems: TENANT_DELETION_STEP })) === 'deleting'
          );
          deps.logger.info('tenant deleted', { tenant_id: id });
        } else {
          await releaseTenant(deps, id);
          deps.logger.info('tenant retained', { tenant_id: id });
        }
      });
    }
    return { PhysicalResourceId: event.RequestType === 'Create' ? physicalId : event.PhysicalResourceId };
  };

  const legacyKeys = async (event: CloudFormationCustomResourceEvent): Promise<ProviderResponse> => {
    const physicalId = 'ciba-legacy-keys';
    if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
    if (!deps.legacyKeys) throw new Error('this provisioner cannot import legacy keys');
    const tenants = await deps.legacyKeys.list();
    let imported = 0;
    for (const [tenantId, legacy] of tenants) {
      if (await deps.keysets.get(tenantId)) continue;
      const tenant = await deps.tenants.get(tenantId);
      const keyset = await deps.legacyKeys.keyset(
        tenantId,
        legacy,
        tenant?.settings.signingAlg ?? 'ES256',
        deps.clock.now(),
      );
      // A conflict: the tenant got a keyset meanwhile, which is the one.
      if ((await deps.keysets.save(keyset, null)) === 'ok') imported++;
      deps.logger.info('legacy keys imported', { tenant_id: tenantId });
    }
    return { PhysicalResourceId: physicalId, Data: { Imported: String(imported) } };
  };

  return async (event: CloudFormationCustomResourceEvent): Promise<ProviderResponse> => {
    switch (event.ResourceType) {
      case TENANTS_RESOURCE:
        return batch(event);
      case TENANTS_INDEX_RESOURCE:
        return index(event);
      case LEGACY_KEYS_RESOURCE:
        return legacyKeys(event);
      default:
        if (LEGACY_RESOURCES.includes(event.ResourceType) && event.RequestType === 'Delete') {
          // The tenants and platform applications these made are the batches' now: nothing is deleted.
          deps.logger.info('legacy resource released', {
            resource_type: event.ResourceType,
            logical_id: event.LogicalResourceId,
          });
          return { PhysicalResourceId: event.PhysicalResourceId };
        }
        throw new Error(`unknown resource type ${event.ResourceType}`);
    }
  };
};
