/**
 * Writes per partition key, for the benchmark (`npm run bench`): DynamoDB takes at most about 1,000 writes per second
 * on one partition, so the partition key written most often per flow bounds how many flows a deployment can serve
 * (docs/deploy.md "Capacity"). Every write request counts, including one whose condition fails (it consumes write
 * capacity on that partition all the same); a transaction counts once for each item it writes.
 */

type Attribute = { S?: string; N?: string; B?: Uint8Array };
type Key = Record<string, Attribute | undefined> | undefined;

const partitionOf = (table: string, key: Key): string | undefined => {
  const pk = key?.pk;
  const value = pk?.S ?? pk?.N;
  return value === undefined ? undefined : `${table} ${value}`;
};

/** The partitions (`{table} {pk}`) a DynamoDB command writes to, one entry per item written; none for a read. */
export function writtenPartitions(commandName: string, input: Record<string, unknown>): string[] {
  const table = String(input.TableName ?? '');
  switch (commandName) {
    case 'PutItemCommand':
      return [partitionOf(table, input.Item as Key)].filter((p) => p !== undefined);
    case 'UpdateItemCommand':
    case 'DeleteItemCommand':
      return [partitionOf(table, input.Key as Key)].filter((p) => p !== undefined);
    case 'TransactWriteItemsCommand': {
      const items = (input.TransactItems ?? []) as Record<string, { TableName?: string; Item?: Key; Key?: Key }>[];
      return items.flatMap((item) => {
        const write = item.Put ?? item.Update ?? item.Delete;
        if (!write) return []; // a ConditionCheck reads
        return [partitionOf(String(write.TableName ?? ''), write.Item ?? write.Key)].filter((p) => p !== undefined);
      });
    }
    case 'BatchWriteItemCommand': {
      const requests = (input.RequestItems ?? {}) as Record<
        string,
        { PutRequest?: { Item?: Key }; DeleteRequest?: { Key?: Key } }[]
      >;
      return Object.entries(requests).flatMap(([name, list]) =>
        list.map((r) => partitionOf(name, r.PutRequest?.Item ?? r.DeleteRequest?.Key)).filter((p) => p !== undefined),
      );
    }
    default:
      return [];
  }
}

/** The partition written most often between two snapshots of the counts, and how often. */
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
