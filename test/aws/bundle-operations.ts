import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyDocument } from './iam.ts';

/**
 * The AWS SDK operations compiled into a Lambda bundle, read from its code: SDK v3 clients build each command class
 * from a factory named after the service's client (`X=f(..,"TrentService","KMSClient",..)`, then
 * `class extends X(..,..,"Sign",..)`). Independent of the flows: it finds what a bundle could call, exercised by a
 * test or not.
 */

/** IAM service prefix of each SDK client. */
export const IAM_PREFIX: Record<string, string> = {
  DynamoDBClient: 'dynamodb',
  KMSClient: 'kms',
  EventBridgeClient: 'events',
  SchedulerClient: 'scheduler',
  SNSClient: 'sns',
  SQSClient: 'sqs',
  SecretsManagerClient: 'secretsmanager',
  SESv2Client: 'ses',
  SESClient: 'ses',
  LambdaClient: 'lambda',
  STSClient: 'sts',
};

/** `prefix:Operation` for every command class in the bundle at `codeDir` (its `index.mjs`). */
export const bundleOperations = (codeDir: string): string[] => {
  const code = readFileSync(join(codeDir, 'index.mjs'), 'utf8');
  const factories = new Map<string, string>();
  for (const m of code.matchAll(/([A-Za-z_$][\w$]*)=[A-Za-z_$][\w$]*\([A-Za-z_$][\w$]*,"\w+","(\w+Client)",/g)) {
    factories.set(m[1]!, m[2]!);
  }
  const operations = new Set<string>();
  for (const m of code.matchAll(/extends ([A-Za-z_$][\w$]*)\([A-Za-z_$][\w$]*,[A-Za-z_$][\w$]*,"(\w+)",/g)) {
    const clientName = factories.get(m[1]!);
    if (!clientName) continue;
    const prefix = IAM_PREFIX[clientName];
    if (!prefix) throw new Error(`bundle ${codeDir}: no IAM prefix known for ${clientName}`);
    operations.add(`${prefix}:${m[2]}`);
  }
  return [...operations].sort();
};

const glob = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
    'i',
  ).test(value);

/** Whether any Allow statement of the policies names the action (its resources and conditions aside). */
export const someAllowNames = (policies: { document: PolicyDocument }[], action: string): boolean =>
  policies.some(({ document }) =>
    [document.Statement].flat().some((s) => {
      if (s.Effect !== 'Allow') return false;
      if (s.NotAction !== undefined) return ![s.NotAction].flat().some((a) => glob(String(a), action));
      return [s.Action].flat().some((a) => glob(String(a), action));
    }),
  );
