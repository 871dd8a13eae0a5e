/**
 * The environment `npm run bench:lambda` imports each bundle with: what the CDK stack sets (infra/service-stack.ts),
 * with placeholder values. Every variable a function requires must be here, or its bundle fails at import
 * (test/unit/bench/lambda-env.test.ts checks the ones the code reads with `required`).
 */
export const FAKE_ENV: Record<string, string> = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCH',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  POWERTOOLS_SERVICE_NAME: 'ciba-bench',
  POWERTOOLS_METRICS_NAMESPACE: 'Ciba',
  CIBA_DIRECTORY_TABLE: 'directory',
  CIBA_LEDGER_TABLE: 'ledger',
  CIBA_EVENT_BUS_NAME: 'bus',
  CIBA_KEY_SEALING_KEY: 'alias/ciba-tenant-keys',
  CIBA_DEPLOYMENT: 'ciba',
  CIBA_SNS_PLATFORM_APP_ARN: 'arn:aws:sns:eu-west-1:000000000000:app/GCM/ciba-{tenant}',
  CIBA_SCHEDULER_GROUP: 'ciba',
  CIBA_SCHEDULER_TARGET_ARN: 'arn:aws:lambda:eu-west-1:000000000000:function:callback',
  CIBA_SCHEDULER_ROLE_ARN: 'arn:aws:iam::000000000000:role/scheduler',
  CIBA_SCHEDULER_DEAD_LETTER_ARN: 'arn:aws:sqs:eu-west-1:000000000000:schedule-dlq',
  CIBA_DEAD_LETTER_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/000000000000/dlq',
  CIBA_DECISION_RETRIES_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/000000000000/decision-retries',
  CIBA_TENANTS_TABLE: 'directory',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
