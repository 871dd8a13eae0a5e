import {
  getDenialReasons,
  isWildcardOnlyAction,
  runSimulation,
  runUnsafeSimulation,
  type Simulation,
} from '@cloud-copilot/iam-simulate';

/**
 * IAM policy evaluation for the AWS-shape harness, by @cloud-copilot/iam-simulate (AGPL-3.0: a test-time
 * devDependency only, never imported by anything a Lambda bundle contains; test/infra/bundles.test.ts checks it).
 * It evaluates identity policies and the resource's policy together (same-account rules, Deny before Allow, every
 * condition operator, KMS's key-policy rule), checks that the action exists and that the resource ARN is one of the
 * action's resource types, and explains its decision.
 *
 * One gap of its data: SNS mobile push endpoints (`arn:aws:sns:...:endpoint/...`) are not in the service reference
 * as a resource type of `sns:Publish`, though SNS authorizes a Publish to an endpoint against the endpoint's ARN. For
 * an ARN the data does not know, the decision is made by the same engine without that validation, and counted in
 * `unvalidated` so a test sees it.
 */

export type PolicyDocument = { Version?: string; Statement: PolicyStatement[] | PolicyStatement };
export type PolicyStatement = Record<string, unknown>;

export interface Caller {
  /** `arn:aws:sts::{account}:assumed-role/{role}/{session}`, or a service principal (`events.amazonaws.com`). */
  arn: string;
  /** The role the session belongs to (absent for a service principal). */
  roleArn?: string;
  /** The Lambda function the call came from, when it did. */
  functionName?: string;
  /** Identity policies (role policies); empty for a service principal. */
  policies: { name: string; document: PolicyDocument }[];
}

export interface AuthorizationRequest {
  caller: Caller;
  action: string;
  /** The resource ARN as the service authorizes the call (`*` for actions without resource types). */
  resource: string;
  /** Condition keys the service sets for this call (`kms:ResourceAliases`, `iam:PassedToService`, ...). */
  context?: Record<string, string | string[]>;
  /** The resource's own policy: KMS key policy, queue policy, function policy, role trust policy. */
  resourcePolicy?: PolicyDocument;
}

export interface Decision {
  allowed: boolean;
  result: 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';
  /** AWS's message for a denied call: `User: {arn} is not authorized to perform: {action} on resource: {arn} ...`. */
  message: string;
}

export interface DeniedCall {
  function?: string;
  principal: string;
  action: string;
  resource: string;
  result: Decision['result'];
  message: string;
}

const serviceOf = (action: string) => action.split(':')[0]!.toLowerCase();

/**
 * iam-simulate (0.1.173) resolves a variable condition key only when its variable follows a slash (`aws:ResourceTag/x`):
 * every `kms:EncryptionContext:{key}` becomes one and the same key, so a request with several context pairs matches
 * none. Until it does, such keys (in policies and in the request) are evaluated under a slash-variable key no KMS
 * request sets (`aws:RequestTag/kms-encryption-context:{key}`), which the engine resolves per variable, with the same
 * operators and values.
 */
const ENCRYPTION_CONTEXT = /^kms:encryptioncontext:(.+)$/i;
const encryptionContextKey = (key: string): string => {
  const match = ENCRYPTION_CONTEXT.exec(key);
  return match ? `aws:RequestTag/kms-encryption-context:${match[1]}` : key;
};
const withEncryptionContextKeys = (document: PolicyDocument): PolicyDocument => {
  const statements = [document.Statement].flat().map((statement) => {
    const condition = statement.Condition as Record<string, Record<string, unknown>> | undefined;
    if (!condition) return statement;
    return {
      ...statement,
      Condition: Object.fromEntries(
        Object.entries(condition).map(([operator, keys]) => [
          operator,
          Object.fromEntries(Object.entries(keys).map(([key, value]) => [encryptionContextKey(key), value])),
        ]),
      ),
    };
  });
  return { ...document, Statement: statements };
};

export class IamEvaluator {
  constructor(readonly account: string) {}

  readonly denials: DeniedCall[] = [];
  /** Decisions made without iam-data's resource-type check (see above), as `action resource`. */
  readonly unvalidated = new Set<string>();
  readonly #wildcardOnly = new Map<string, Promise<boolean>>();

  /** The resource a call is authorized against: `*` for an action that has no resource types (SNS endpoints...). */
  async authorizedResource(action: string, arn: string): Promise<string> {
    let only = this.#wildcardOnly.get(action);
    if (!only) {
      const [service, name] = action.split(':') as [string, string];
      only = isWildcardOnlyAction(service, name);
      this.#wildcardOnly.set(action, only);
    }
    return (await only) ? '*' : arn;
  }

  async authorize(request: AuthorizationRequest): Promise<Decision> {
    const resource = await this.authorizedResource(request.action, request.resource);
    const service = request.caller.roleArn === undefined;
    const context: Record<string, string | string[]> = {
      // The SDK speaks HTTPS to AWS; the harness's endpoints are plain HTTP on loopback only.
      'aws:SecureTransport': 'true',
      ...(service
        ? { 'aws:PrincipalServiceName': request.caller.arn }
        : {
            'aws:PrincipalArn': request.caller.roleArn!,
            'aws:PrincipalAccount': this.account,
            'aws:PrincipalType': 'AssumedRole',
          }),
      ...Object.fromEntries(Object.entries(request.context ?? {}).map(([k, v]) => [encryptionContextKey(k), v])),
    };
    const simulation: Simulation = {
      identityPolicies: request.caller.policies.map((p) => ({
        name: p.name,
        policy: withEncryptionContextKeys(p.document) as never,
      })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(request.resourcePolicy ? { resourcePolicy: withEncryptionContextKeys(request.resourcePolicy) as never } : {}),
      request: {
        action: request.action,
        principal: request.caller.arn,
        resource: { resource, accountId: this.account },
        contextVariables: context,
      },
    };
    let result: Decision['result'];
    let analysis: Parameters<typeof getDenialReasons>[0] | undefined;
    const validated = await runSimulation(simulation, {});
    if (validated.resultType === 'error') {
      if (validated.errors.message !== 'no.resource.types') {
        throw new Error(
          `IAM simulation of ${request.action} on ${resource} failed: ${JSON.stringify(validated.errors)}`,
        );
      }
      this.unvalidated.add(`${request.action} ${resource}`);
      result = runUnsafeSimulation(simulation, {}) as Decision['result'];
    } else {
      result = validated.overallResult as Decision['result'];
      if (validated.resultType === 'single') analysis = validated.result.analysis;
    }
    const allowed = result === 'Allowed';
    const message = allowed ? '' : this.#message(request, resource, analysis);
    if (!allowed) {
      this.denials.push({
        ...(request.caller.functionName ? { function: request.caller.functionName } : {}),
        principal: request.caller.arn,
        action: request.action,
        resource,
        result,
        message,
      });
    }
    return { allowed, result, message };
  }

  /** AWS's wording (IAM "access denied error messages"): which kind of policy denied, implicitly or explicitly. */
  #message(
    request: AuthorizationRequest,
    resource: string,
    analysis: Parameters<typeof getDenialReasons>[0] | undefined,
  ): string {
    const reasons = analysis ? getDenialReasons(analysis) : [];
    const kind = (type: string | undefined) => (type === 'resource' ? 'resource-based' : 'identity-based');
    const article = (type: string | undefined) => (type === 'resource' ? 'a' : 'an');
    const explicit = reasons.find((r) => r.denialType === 'Explicit');
    const why = explicit
      ? `with an explicit deny in ${article(explicit.policyType)} ${kind(explicit.policyType)} policy`
      : `because no ${kind(reasons[0]?.policyType)} policy allows the ${request.action} action`;
    const action = serviceOf(request.action) === 'sns' ? `SNS:${request.action.split(':')[1]}` : request.action;
    return `User: ${request.caller.arn} is not authorized to perform: ${action} on resource: ${resource} ${why}`;
  }

  /** Fails with every denied call (function, action, resource) so far, then forgets them. */
  takeDenials(): DeniedCall[] {
    return this.denials.splice(0);
  }
}

/** The AWS managed policies the templates attach, as AWS publishes them. */
export const AWS_MANAGED_POLICIES: Record<string, PolicyDocument> = {
  'service-role/AWSLambdaBasicExecutionRole': {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: '*',
      },
    ],
  },
};
