import { describe, expect, it } from 'vitest';
import {
  hottestPartition,
  hottestPartitionByTable,
  writtenItems,
  writtenPartitions,
} from '../../bench/partition-writes.ts';

describe('benchmark: writes per partition key', () => {
  it('names the partition of every item a command writes, and none for a read', () => {
    expect(
      writtenPartitions('PutItemCommand', { TableName: 'dir', Item: { pk: { S: 'T#acme' }, sk: { S: 'U#1' } } }),
    ).toEqual(['dir T#acme']);
    expect(
      writtenPartitions('UpdateItemCommand', { TableName: 'led', Key: { pk: { S: 'QUOTA#TENANT#acme' } } }),
    ).toEqual(['led QUOTA#TENANT#acme']);
    expect(writtenPartitions('DeleteItemCommand', { TableName: 'led', Key: { pk: { S: 'REQ#1' } } })).toEqual([
      'led REQ#1',
    ]);
    expect(
      writtenPartitions('TransactWriteItemsCommand', {
        TransactItems: [
          { Put: { TableName: 'led', Item: { pk: { S: 'REQ#1' } } } },
          { Update: { TableName: 'dir', Key: { pk: { S: 'T#acme' }, sk: { S: 'U#1' } } } },
          { ConditionCheck: { TableName: 'dir', Key: { pk: { S: 'T#acme' }, sk: { S: 'C#1' } } } },
        ],
      }),
    ).toEqual(['led REQ#1', 'dir T#acme']);
    expect(
      writtenPartitions('BatchWriteItemCommand', {
        RequestItems: {
          led: [{ PutRequest: { Item: { pk: { S: 'A' } } } }, { DeleteRequest: { Key: { pk: { S: 'B' } } } }],
        },
      }),
    ).toEqual(['led A', 'led B']);
    expect(writtenPartitions('GetItemCommand', { TableName: 'dir', Key: { pk: { S: 'T#acme' } } })).toEqual([]);
    expect(writtenPartitions('QueryCommand', { TableName: 'dir' })).toEqual([]);
  });

  it('names the items written, by partition and sort key', () => {
    const input = {
      TransactItems: [
        { Put: { TableName: 'led', Item: { pk: { S: 'REQ#1' } } } },
        { Update: { TableName: 'dir', Key: { pk: { S: 'T#acme' }, sk: { S: 'U#1' } } } },
      ],
    };
    expect(writtenItems('TransactWriteItemsCommand', input)).toEqual(['led REQ#1', 'dir T#acme U#1']);
    expect(
      writtenItems('GetItemCommand', { TableName: 'dir', Key: { pk: { S: 'T#acme' }, sk: { S: 'U#1' } } }),
    ).toEqual([]);
  });

  it('finds the partition written most often between two snapshots', () => {
    const before = { 'led QUOTA#TENANT#acme': 100, 'dir T#acme': 5 };
    const after = { 'led QUOTA#TENANT#acme': 300, 'dir T#acme': 400, 'led REQ#1': 3 };
    expect(hottestPartition(before, after)).toEqual({ partition: 'dir T#acme', writes: 395 });
    expect(hottestPartition(after, after)).toBeUndefined();
  });

  it("finds each table's partition written most often", () => {
    const before = { 'led QUOTA#TENANT#acme#0': 100, 'dir T#acme#USER#u1': 5 };
    const after = {
      'led QUOTA#TENANT#acme#0': 300,
      'dir T#acme#USER#u1': 6,
      'dir T#acme#DEVICE#d1': 2,
      'led REQ#1': 3,
    };
    expect(hottestPartitionByTable(before, after)).toEqual({
      led: { partition: 'led QUOTA#TENANT#acme#0', writes: 200 },
      dir: { partition: 'dir T#acme#DEVICE#d1', writes: 2 },
    });
  });
});
