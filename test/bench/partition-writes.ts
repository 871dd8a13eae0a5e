/**
 * Writes per partition key, for the benchmark (`npm run bench`): DynamoDB takes at most about 1,000 writes per second
 * on one partition, so the partition key written most often per flow bounds how many flows a deployment can serve
 * (docs/deploy.md "Capacity"). DynamoDB may spread the items of one partition key over partitions by sort key, so the
 * most-written item is counted too. Every write request counts, including one whose condition fails (it consumes
 * write capacity on that partition all the same); a transaction counts once for each item it writes.
 */

type Attribute = { S?: string; N?: string; B?: Uint8Array };
type Key = Record<string, Attribute | undefined> | undefined;

/** `{table} {pk}`, or `{table} {pk} {sk}` for an item. */
const keyOf = (table: string, key: Key, item: boolean): string | undefined => {
  const pk = key?.pk?.S ?? key?.pk?.N;
  if (pk === undefined) return undefined;
  const sk = key?.sk?.S ?? key?.sk?.N;
  return item && sk !== undefined ? `${table} ${pk} ${sk}` : `${table} ${pk}`;
};

/** The items a DynamoDB write command writes, as `{table, item}` (the Put's item, or the key), one per item. */
export const writeTargets = (
  commandName: string,
  input: Record<string, unknown>,
): { table: string; item: NonNullable<Key> }[] => {
  const table = String(input.TableName ?? '');
  const targets: { table: string; item: Key }[] = [];
  switch (commandName) {
    case 'PutItemCommand':
      targets.push({ table, item: input.Item as Key });
      break;
    case 'UpdateItemCommand':
    case 'DeleteItemCommand':
      targets.push({ table, item: input.Key as Key });
      break;
    case 'TransactWriteItemsCommand':
      for (const t of (input.TransactItems ?? []) as Record<string, { TableName?: string; Item?: Key; Key?: Key }>[]) {
        const write = t.Put ?? t.Update ?? t.Delete; // a ConditionCheck reads
        if (write) targets.push({ table: String(write.TableName ?? ''), item: write.Item ?? write.Key });
      }
      break;
    case 'BatchWriteItemCommand': {
      const requests = (input.RequestItems ?? {}) as Record<
        string,
        { PutRequest?: { Item?: Key }; DeleteRequest?: { Key?: Key } }[]
      >;
      for (const [name, list] of Object.entries(requests)) {
        for (const r of list) targets.push({ table: name, item: r.PutRequest?.Item ?? r.DeleteRequest?.Key });
      }
      break;
    }
  }
  return targets.filter((t): t is { table: string; item: NonNullable<Key> } => t.item !== undefined);
};

const writtenKeys = (commandName: string, input: Record<string, unknown>, item: boolean): string[] =>
  writeTargets(commandName, input)
    .map((t) => keyOf(t.table, t.item, item))
    .filter((k) => k !== undefined);

/** The partitions (`{table} {pk}`) a DynamoDB command writes to, one entry per item written; none for a read. */
export const writtenPartitions = (commandName: string, input: Record<string, unknown>): string[] =>
  writtenKeys(commandName, input, false);

/** The items (`{table} {pk} {sk}`, or `{table} {pk}` without a sort key) a DynamoDB command writes. */
export const writtenItems = (commandName: string, input: Record<string, unknown>): string[] =>
  writtenKeys(commandName, input, true);

/** The partition (or item) written most often between two snapshots of the counts, and how often. */
export function hottestPartition(
  before: Record<string, number>,
  after: Record<string, number>,
): { partition: string; writes: number } | undefined {
  let hottest: { partition: string; writes: number } | undefined;
  for (const [partition, count] of Object.entries(after)) {
    const writes = count - (before[partition] ?? 0);
    if (writes > 0 && (!hottest || writes > hottest.writes)) hottest = { partition, writes };
  }
  return hottest;
}

/** The hottest partition of each table (`{table} {pk}` keys): which key a table's own capacity meets first. */
export function hottestPartitionByTable(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, { partition: string; writes: number }> {
  const tables = new Set(Object.keys(after).map((key) => key.slice(0, key.indexOf(' '))));
  const hottest: Record<string, { partition: string; writes: number }> = {};
  for (const table of tables) {
    const of = (counts: Record<string, number>) =>
      Object.fromEntries(Object.entries(counts).filter(([key]) => key.startsWith(`${table} `)));
    const found = hottestPartition(of(before), of(after));
    if (found) hottest[table] = found;
  }
  return hottest;
}
