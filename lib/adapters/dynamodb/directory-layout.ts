import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteItemCommand, PutItemCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  attempt,
  directoryKey,
  expression,
  FAILED,
  fitsSortKey,
  fromItem,
  getDirectoryItem,
  type Item,
  type Raw,
  type Tables,
  tenantPk,
  toItem,
} from './expression.ts';

/**
 * Where users and devices live in the directory (dynamodb-schema.ts): each on a partition key of its own,
 * `T#{tenant}#USER#{sub}` / `T#{tenant}#DEVICE#{device_id}` (sort key as before, `USER#{sub}` / `DEVICE#{device_id}`),
 * so that the writes every flow makes (the user's rate window, the device's proof ids) spread over as many partition
 * keys as there are users and devices, never on one key per tenant. The tenant's own partition `T#{tenant}` keeps a
 * membership item per user and device (its keys only, written when one is created, removed when it is deleted),
 * through which a tenant's deletion finds them: no per-flow write touches it, and no index is added.
 *
 * The layout before kept the whole item at `T#{tenant}` / `USER#{sub}` (a "legacy item": it has `tenant_id`, a
 * membership item does not). Reads fall back to it (`getOwn`); the first write whose condition fails on the own key
 * moves it there and writes again (`onOwn`), so a user's or device's first flow after the upgrade moves it; local mode
 * moves every one at start (`moveLegacyDirectory`). A move copies the item to its own key only if nothing is there
 * yet, then strips the legacy item down to its membership item (marked `moved`). Nothing writes a legacy item
 * afterwards, so a write on the item's own key is never lost; of two concurrent moves, the first copy wins and both
 * leave the membership item, and a write refused while another request moved the item is tried again.
 */

/** The sort key of a user's or device's item, and of its membership item. */
export const userSk = (sub: string) => `USER#${sub}`;
export const deviceSk = (deviceId: string) => `DEVICE#${deviceId}`;

/** The item's own partition key (tenant ids have no `#`: lib/http/routes.ts TENANT_ID_PATTERN). */
export const ownPk = (tenantId: string, sk: string) => `${tenantPk(tenantId)}#${sk}`;
export const ownKey = (tenantId: string, sk: string): Item => toItem({ pk: ownPk(tenantId, sk), sk });
/** The membership item's key (the legacy item's key too). */
export const memberKey = directoryKey;

/** Whether a directory item under `T#{tenant}` is a user's or device's membership (or legacy) item. */
export const isMemberSk = (sk: string) => sk.startsWith('USER#') || sk.startsWith('DEVICE#');

/** Own keys this process has seen in the new layout (a hint: a miss on them needs no legacy read; cleared when full). */
const MAX_KNOWN = 10_000;
const knownByClient = new WeakMap<DynamoDBClient, Set<string>>();
const knownOf = (db: Tables) => {
  const known = knownByClient.get(db.client) ?? new Set<string>();
  knownByClient.set(db.client, known);
  return known;
};
const remember = (db: Tables, pk: string) => {
  const known = knownOf(db);
  if (known.size >= MAX_KNOWN) known.clear();
  known.add(`${db.directory}\u0000${pk}`);
};
const isKnown = (db: Tables, pk: string) => knownOf(db).has(`${db.directory}\u0000${pk}`);

/**
 * Moves one legacy item (as read) to its own key and leaves its membership item in its place. Both steps are
 * `UpdateItem`s, which every function that writes a user or device may send (infra/function-access.ts: `update`).
 */
async function moveLegacyItem(db: Tables, legacy: Raw): Promise<void> {
  const tenantId = String(legacy.tenant_id);
  const sk = String(legacy.sk);
  const names = Object.keys(legacy).filter((name) => name !== 'pk' && name !== 'sk');
  const aliases = Object.fromEntries(names.map((name, i) => [`#a${i}`, name]));
  // Only if nothing is there: an item already moved (and written since) is never overwritten.
  await attempt(() =>
    db.client.send(
      new UpdateItemCommand({
        TableName: db.directory,
        Key: ownKey(tenantId, sk),
        ...expression(
          {
            update: `SET ${names.map((_, i) => `#a${i} = :a${i}`).join(', ')}`,
            condition: 'attribute_not_exists(#pk)',
          },
          Object.fromEntries(names.map((name, i) => [`:a${i}`, legacy[name]])),
          aliases,
        ),
      }),
    ),
  );
  // The item is at its own key now (this copy's or an earlier one's): the legacy item becomes its membership item.
  await attempt(() =>
    db.client.send(
      new UpdateItemCommand({
        TableName: db.directory,
        Key: memberKey(tenantId, sk),
        ...expression(
          {
            update: `SET #moved = :moved REMOVE ${names.map((_, i) => `#a${i}`).join(', ')}`,
            condition: 'attribute_exists(#tenant_id)',
          },
          { ':moved': true },
          aliases,
        ),
      }),
    ),
  );
}

/**
 * Moves the legacy item of this user or device, if there is one. True when the write on its own key is worth trying
 * again: this call moved it, or another did (`moved` on the membership item), perhaps after that write was refused.
 */
async function adoptLegacy(db: Tables, tenantId: string, sk: string): Promise<boolean> {
  const legacy = await getDirectoryItem(db, memberKey(tenantId, sk));
  if (legacy) remember(db, ownPk(tenantId, sk)); // from now on in the new layout (or deleted): a later refusal reads nothing more
  if (legacy?.tenant_id === undefined) return legacy?.moved === true;
  await moveLegacyItem(db, legacy);
  return true;
}

/**
 * A conditional write on a user's or device's own key; when its condition fails and the item is still in the legacy
 * layout, moves it and writes once more (a refusal costs one read more, once per item and process, and for an item
 * that was moved one write more, then too; an admitted write costs nothing more).
 */
export async function onOwn<T>(
  db: Tables,
  tenantId: string,
  sk: string,
  write: (key: Item) => Promise<T | typeof FAILED>,
): Promise<T | typeof FAILED> {
  if (!fitsSortKey(sk)) return FAILED;
  const pk = ownPk(tenantId, sk);
  const key = ownKey(tenantId, sk);
  // Known to be at its own key before this write was sent: its refusal is the condition's, whatever else runs now.
  const known = isKnown(db, pk);
  const first = await write(key);
  if (first !== FAILED) {
    remember(db, pk);
    return first;
  }
  return !known && (await adoptLegacy(db, tenantId, sk)) ? write(key) : FAILED;
}

/**
 * A user's or device's item (consistent read), or its legacy item while it has not moved (a read moves nothing: the
 * functions that only read may not write).
 */
export async function getOwn(db: Tables, tenantId: string, sk: string, projection?: string): Promise<Raw | undefined> {
  if (!fitsSortKey(sk)) return undefined;
  const pk = ownPk(tenantId, sk);
  const key = ownKey(tenantId, sk);
  const raw = await getDirectoryItem(db, key, projection);
  if (raw) {
    remember(db, pk);
    return raw;
  }
  if (isKnown(db, pk)) return undefined;
  const legacy = await getDirectoryItem(db, memberKey(tenantId, sk));
  if (legacy?.tenant_id !== undefined) return legacy;
  // A membership item: the item was moved since the first read (or deleted, or is being created).
  return legacy ? getDirectoryItem(db, key, projection) : undefined;
}

/**
 * Creates a user's or device's item: its membership item first (so that a tenant's deletion finds every item), then
 * `create` on its own key. `conflict` when a legacy item of that id exists (it is the same user or device).
 */
export async function createOwn(
  db: Tables,
  tenantId: string,
  sk: string,
  create: (key: Item) => Promise<'ok' | 'conflict'>,
): Promise<'ok' | 'conflict'> {
  if (!fitsSortKey(sk)) return 'conflict';
  const member = await attempt(() =>
    db.client.send(
      new PutItemCommand({
        TableName: db.directory,
        Item: memberKey(tenantId, sk),
        ...expression({ condition: 'attribute_not_exists(#tenant_id)' }),
      }),
    ),
  );
  if (member === FAILED) return 'conflict';
  return create(ownKey(tenantId, sk));
}

/** Both keys of a user or device (its own item and its membership item), for deletions. */
export const bothKeys = (tenantId: string, sk: string): Item[] => [ownKey(tenantId, sk), memberKey(tenantId, sk)];

/** Removes a deleted user's or device's membership item (after its own item: a tenant's deletion still finds it). */
export async function removeMember(db: Tables, tenantId: string, sk: string): Promise<void> {
  await db.client.send(new DeleteItemCommand({ TableName: db.directory, Key: memberKey(tenantId, sk) }));
}

/** The directory item that says every legacy item has been moved (moveLegacyDirectory writes it). */
const LAYOUT_KEY = { pk: 'LAYOUT', sk: 'LAYOUT' };
const LAYOUT_VERSION = 2;

/**
 * Moves every legacy user and device item of the directory to its own key (a scan of the table), then records that it
 * did, so that the next call reads one item and returns (`rescan`: scans all the same, for an operator who asks). Returns how many it moved. Safe beside running functions
 * and another move: each item moves as `onOwn` moves it.
 */
export async function moveLegacyDirectory(db: Tables, { rescan = false } = {}): Promise<number> {
  const done = rescan ? undefined : await getDirectoryItem(db, toItem(LAYOUT_KEY));
  if (done?.version === LAYOUT_VERSION) return 0;
  let moved = 0;
  let start: Item | undefined;
  do {
    const page = await db.client.send(
      new ScanCommand({
        TableName: db.directory,
        ExclusiveStartKey: start,
        ...expression(
          { filter: 'attribute_exists(#tenant_id) AND (begins_with(#sk, :user) OR begins_with(#sk, :device))' },
          { ':user': 'USER#', ':device': 'DEVICE#' },
        ),
      }),
    );
    for (const raw of (page.Items ?? []).map(fromItem)) {
      if (raw.pk !== tenantPk(String(raw.tenant_id))) continue; // already at its own key
      await moveLegacyItem(db, raw);
      moved++;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  await db.client.send(
    new PutItemCommand({ TableName: db.directory, Item: toItem({ ...LAYOUT_KEY, version: LAYOUT_VERSION }) }),
  );
  return moved;
}
