import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

type AuthScheme = NonNullable<DynamoDBClientConfig['httpAuthSchemes']>[number];

/**
 * The store's DynamoDB client, lean on the hot path (measured with test/bench: about a quarter less client CPU per
 * call, docs/performance.md):
 * - `cacheMiddleware`: the SDK resolves the middleware stack once per command class instead of on every call. The
 *   stack must not change after the first call; `addStoreMiddleware` is the one way to change it.
 * - No logger middleware: it copies every input and output through the schema's sensitive-data filter even when
 *   nothing logs (the default logger is a no-op). Nothing here logs SDK calls; errors still reach the caller.
 */
export function createStoreClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  const client = new DynamoDBClient({ cacheMiddleware: true, ...config });
  client.middlewareStack.remove('loggerMiddleware');
  return client;
}

/**
 * Adds a middleware to a store client that may have sent requests already (benchmarks and tests count requests):
 * drops the SDK's per-command-class handler cache (`cacheMiddleware`), so the next call resolves the new stack.
 */
export function addStoreMiddleware(
  client: DynamoDBClient,
  add: (stack: DynamoDBClient['middlewareStack']) => void,
): void {
  add(client.middlewareStack);
  Reflect.deleteProperty(client, 'handlers');
}

/**
 * Embedded dynalite only: dynalite checks that a request carries a well-formed SigV4 `Authorization` header and never
 * verifies the signature, so a fixed one replaces the per-request HMAC chain (canonical request, payload hash, four
 * HMACs); it changes once a second, with its `x-amz-date`. Never used for an endpoint that checks signatures.
 */
export const UNSIGNED_FOR_DYNALITE: AuthScheme = {
  schemeId: 'aws.auth#sigv4',
  // No credentials: nothing is signed.
  identityProvider: () => async () => ({}),
  signer: {
    async sign(request) {
      const { date, authorization } = fixedAuthorization(Math.floor(Date.now() / 1000));
      request.headers.authorization = authorization;
      request.headers['x-amz-date'] = date;
      return request;
    },
  },
};

let fixed = { second: Number.NaN, date: '', authorization: '' };
const fixedAuthorization = (second: number) => {
  if (second !== fixed.second) {
    const date = new Date(second * 1000).toISOString().replace(/[-:]|\.\d{3}/g, '');
    const authorization = `AWS4-HMAC-SHA256 Credential=local/${date.slice(0, 8)}/local/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`;
    fixed = { second, date, authorization };
  }
  return fixed;
};

/**
 * Embedded dynalite only: takes out the middleware that adds what only AWS reads, which costs every call a little
 * (docs/performance.md): the `user-agent`/`x-amz-user-agent` headers (built per call from the client's features)
 * and the Lambda recursion-detection header (`X-Amzn-Trace-Id`, read from the environment per call).
 */
export function leanForDynalite(client: DynamoDBClient): DynamoDBClient {
  client.middlewareStack.remove('getUserAgentMiddleware');
  client.middlewareStack.remove('recursionDetectionMiddleware');
  return client;
}
