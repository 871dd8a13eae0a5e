/**
 * The custom resources the deployment provisions tenants through, described once for the CDK app (which writes them)
 * and the provisioner (which reads them). Pure: no SDK, no CDK.
 *
 * - `Custom::CibaTenants`: a batch of at most about 100 tenants of the tenants file (`Tenants`, JSON of
 *   `TenantEntry[]`). A tenant belongs to batch `batchOf(id, batches)`, so a batch changes only when one of its
 *   tenants does; an update provisions the tenants whose entry changed and nothing else.
 * - `Custom::CibaTenantsIndex`: one, after every batch: the ids of the file's tenants (`TenantIds`) and of those to
 *   delete when they leave it (`Destroy`, `on_delete: destroy`). Removal is decided here, from the old and new lists,
 *   never by a batch: a tenant that moves between batches (the number of batches grows with the file) is never deleted.
 * - `Custom::CibaLegacyKeys`: one, in the stateful stack: imports the KMS keys of deployments before keysets into the
 *   tenants' keysets (docs/deploy.md "Upgrading").
 * - `Custom::CibaTenantSettings`, `Custom::CibaPushPlatform`: the per-tenant resources of deployments before batches,
 *   released without deleting anything when an upgraded template drops them.
 */
export const TENANTS_RESOURCE = 'Custom::CibaTenants';
export const TENANTS_INDEX_RESOURCE = 'Custom::CibaTenantsIndex';
export const LEGACY_KEYS_RESOURCE = 'Custom::CibaLegacyKeys';
export const LEGACY_RESOURCES = ['Custom::CibaTenantSettings', 'Custom::CibaPushPlatform'];

/** Tenants per batch resource: the template grows by one resource per this many tenants. */
export const TENANTS_PER_BATCH = 100;

/** One tenant of the tenants file as its batch carries it (snake_case, as written in the file). */
export interface TenantEntry {
  id: string;
  /** The settings, `push_credentials` included. */
  settings: Record<string, unknown>;
  /** Web Push: the VAPID contact and the secret holding the key pair (read at deployment). */
  web_push?: { subject: string; secret: string; version: string };
  /** Bump to rotate the signing key at the next deployment. */
  signing_key_version: number;
}

export const batchCount = (tenants: number): number => Math.max(1, Math.ceil(tenants / TENANTS_PER_BATCH));

/** FNV-1a of the id, modulo the number of batches: stable while the number of batches stays. */
export const batchOf = (tenantId: string, batches: number): number => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < tenantId.length; i++) {
    hash ^= tenantId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % batches;
};

export const splitIds = (value: unknown): string[] => (value ? String(value).split(',').filter(Boolean) : []);
