/**
 * The environment the CDK stack gives every function (infra/service-stack.ts sets exactly these).
 * `CIBA_PUBLIC_URL` is optional: without it the base URL is derived from the request.
 */
export const AWS_ENV = {
  directoryTable: 'CIBA_DIRECTORY_TABLE',
  ledgerTable: 'CIBA_LEDGER_TABLE',
  eventBusName: 'CIBA_EVENT_BUS_NAME',
  /** The deployment's KMS key (alias) that seals the tenants' wrapped keys. */
  keySealingKey: 'CIBA_KEY_SEALING_KEY',
  /** The deployment's name (`ciba:prefix`): tags the KMS keys it creates. */
  deployment: 'CIBA_DEPLOYMENT',
  /** The stateful stack's provisioner: the aliases of deployments before keysets, whose keys it imports. */
  legacyKeyAliasPrefix: 'CIBA_LEGACY_KEY_ALIAS_PREFIX',
  /** The mutual-TLS host's base URL (mtls_endpoint_aliases), when the deployment has one. */
  mtlsBaseUrl: 'CIBA_MTLS_BASE_URL',
  snsPlatformApplicationArn: 'CIBA_SNS_PLATFORM_APP_ARN',
  schedulerGroup: 'CIBA_SCHEDULER_GROUP',
  schedulerTargetArn: 'CIBA_SCHEDULER_TARGET_ARN',
  schedulerRoleArn: 'CIBA_SCHEDULER_ROLE_ARN',
  schedulerDeadLetterArn: 'CIBA_SCHEDULER_DEAD_LETTER_ARN',
  deadLetterQueueUrl: 'CIBA_DEAD_LETTER_QUEUE_URL',
  /** The events function only: the queue it hands a decision it could not publish to (docs/deploy.md). */
  decisionRetriesQueueUrl: 'CIBA_DECISION_RETRIES_QUEUE_URL',
  publicUrl: 'CIBA_PUBLIC_URL',
  /** Approval links by email: the verified SES identity's address (`ciba:emailFrom`). */
  emailFrom: 'CIBA_EMAIL_FROM',
  /** Approval links by SMS: the sender ID (`ciba:smsSenderId`), where the country allows one. */
  smsSenderId: 'CIBA_SMS_SENDER_ID',
  /** `logs` (`ciba:tenantMetrics=logs`): the lifecycle metrics without the tenant dimension; unset: with it. */
  tenantMetrics: 'CIBA_TENANT_METRICS',
  /** `all` (`ciba:events=all`): every lifecycle event is put on the bus; unset: those a rule on the bus may take. */
  events: 'CIBA_EVENTS',
} as const;

export type Env = Record<string, string | undefined>;

export const required = (env: Env, name: string): string => {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
};
