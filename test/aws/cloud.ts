import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { checkAccessLogFormat, HttpApi } from './api-gateway.ts';
import { followClock, HarnessClock } from './clock.ts';
import {
  type CloudAssembly,
  CloudFormation,
  type DeployedResource,
  type Json,
  type ResourceProvider,
  readAssembly,
} from './cloudformation.ts';
import { QueueMapping, StreamMapping } from './event-source-mapping.ts';
import { FakeDynamoDb } from './fakes/dynamodb.ts';
import type { AwsCall, Core } from './fakes/endpoint.ts';
import { FakeEventBridge } from './fakes/eventbridge.ts';
import { FakeKms } from './fakes/kms.ts';
import { FakeScheduler, type RoleInfo } from './fakes/scheduler.ts';
import { FakeSecretsManager } from './fakes/secrets-manager.ts';
import { FakeSes } from './fakes/ses.ts';
import { FakeSns } from './fakes/sns.ts';
import { FakeSqs } from './fakes/sqs.ts';
import { AWS_MANAGED_POLICIES, type Caller, type DeniedCall, IamEvaluator, type PolicyDocument } from './iam.ts';
import { type FunctionConfig, LambdaRuntime } from './lambda.ts';
import { type Credentials, verifySigV4 } from './sigv4.ts';

/**
 * The AWS shape, run: a cloud assembly's stacks deployed onto in-process fakes (test/aws/fakes/), their Lambda
 * bundles running in workers, every AWS call signed, verified and authorized against the calling function's role as
 * the template defines it. Generic: it deploys whatever the templates contain (functions, routes, rules, roles,
 * queues, keys, custom resources), so it follows the infrastructure code as it changes. docs/aws-shape.md describes it.
 */

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';

interface Session extends Credentials {
  sessionToken: string;
  caller: () => Caller;
}

export interface AwsShapeOptions {
  /** The cloud assembly to deploy (its templates). */
  assembly: string;
  /** The cloud assembly whose bundles the functions run, by stack and logical id (default: `assembly`). */
  code?: string;
  /** Secrets that exist before the deployment (push credentials, VAPID keys), by name. */
  secrets?: Record<string, string>;
}

export class AwsShape implements Core {
  readonly account = ACCOUNT;
  readonly region = REGION;
  readonly clock = new HarnessClock();
  readonly iam = new IamEvaluator(ACCOUNT);
  readonly calls: AwsCall[] = [];
  /** How long every fake service holds its answer (`Core.latencyMs`): 0 unless a test measures round trips. */
  latencyMs = 0;
  readonly lambda: LambdaRuntime;
  readonly dynamodb = new FakeDynamoDb(this);
  readonly kms = new FakeKms(this);
  readonly sqs = new FakeSqs(this);
  readonly sns = new FakeSns(this);
  readonly secrets = new FakeSecretsManager(this);
  readonly ses = new FakeSes(this);
  readonly eventbridge: FakeEventBridge;
  readonly scheduler: FakeScheduler;
  readonly cfn: CloudFormation;
  readonly apis = new Map<string, HttpApi>();
  /** Event source mappings by their UUID (the stream consumers). */
  readonly mappings = new Map<string, StreamMapping | QueueMapping>();
  assembly: CloudAssembly;
  #code: CloudAssembly;
  readonly #sessions = new Map<string, Session>();
  readonly #roles = new Map<
    string,
    {
      name: string;
      arn: string;
      trust: PolicyDocument;
      inline: { name: string; document: PolicyDocument }[];
      managed: string[];
    }
  >();
  readonly #policies = new Map<string, { name: string; roles: string[]; document: PolicyDocument }>();
  readonly #permissions = new Map<string, Record<string, unknown>[]>();
  readonly #internet = new Map<string, { address: string; port: number; ca: string }>();
  readonly #work = new Set<Promise<unknown>>();
  #restoreDate?: () => void;

  private constructor(options: AwsShapeOptions) {
    this.assembly = readAssembly(options.assembly);
    this.#code = options.code ? readAssembly(options.code) : this.assembly;
    this.lambda = new LambdaRuntime({
      clock: this.clock,
      region: REGION,
      credentialsFor: (roleArn, sessionName) => this.#assume(roleArn, sessionName),
      harnessEnvironment: () => this.#endpoints(),
      internet: () => Object.fromEntries(this.#internet),
      sendToDestination: async (fn, destination, record) => {
        const session = this.#assume(fn.roleArn, fn.name);
        await this.sqs.sendAs(this.#callerOf(session.accessKeyId), destination, JSON.stringify(record));
      },
      track: (work) => this.track(work),
    });
    this.eventbridge = new FakeEventBridge(this, this.lambda, this.sqs);
    this.eventbridge.functionPolicy = (arn) => ({ Version: '2012-10-17', Statement: this.#permissions.get(arn) ?? [] });
    this.scheduler = new FakeScheduler(this, this.lambda, this.sqs, (arn) => this.role(arn));
    this.cfn = new CloudFormation({ account: ACCOUNT, region: REGION, providers: this.#providers() });
  }

  /** Starts the fakes, follows the harness clock in this thread, seeds the secrets and deploys every stack. */
  static async start(options: AwsShapeOptions): Promise<AwsShape> {
    const cloud = new AwsShape(options);
    cloud.#restoreDate = followClock(cloud.clock);
    await Promise.all([
      cloud.dynamodb.start(),
      cloud.kms.start(),
      cloud.sqs.start(),
      cloud.sns.start(),
      cloud.secrets.start(),
      cloud.ses.start(),
      cloud.eventbridge.start(),
      cloud.scheduler.start(),
    ]);
    for (const [name, value] of Object.entries(options.secrets ?? {})) cloud.secrets.put(name, value);
    try {
      for (const stack of cloud.assembly.stacks) await cloud.cfn.deploy(stack.name, stack.template);
    } catch (error) {
      await cloud.stop();
      throw error;
    }
    return cloud;
  }

  /**
   * Deploys another cloud assembly over this one, stack by stack in its order, as `cdk deploy --all` does: an upgrade
   * (CloudFormation updates what changed, creates what is new, deletes what left, and keeps what is retained). Its
   * functions run its own bundles (or, for a template-only variant, those of `code`).
   */
  async upgrade(assembly: string, code?: string, afterStack?: (stack: string) => Promise<void>): Promise<void> {
    this.assembly = readAssembly(assembly);
    this.#code = code ? readAssembly(code) : this.assembly;
    for (const stack of this.assembly.stacks) {
      await this.cfn.deploy(stack.name, stack.template);
      // Between two stacks' updates, as `cdk deploy --all` leaves them: the functions not yet updated run their old code.
      await afterStack?.(stack.name);
    }
  }

  /** The `AWS_ENDPOINT_URL_*` variables that point the SDK clients of the bundles at the fakes. */
  #endpoints(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_DYNAMODB: this.dynamodb.endpoint!.url,
      AWS_ENDPOINT_URL_KMS: this.kms.endpoint!.url,
      AWS_ENDPOINT_URL_SQS: this.sqs.endpoint!.url,
      AWS_ENDPOINT_URL_SNS: this.sns.endpoint!.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: this.secrets.endpoint!.url,
      AWS_ENDPOINT_URL_SESV2: this.ses.endpoint!.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: this.eventbridge.endpoint!.url,
      AWS_ENDPOINT_URL_SCHEDULER: this.scheduler.endpoint!.url,
      // Lambda runs Node 24; the harness runs the bundles on the local Node, which the SDK would warn about.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
  }

  // ---- IAM and STS ----------------------------------------------------------------------------------------------

  /** A role as deployed: its trust policy and every policy attached to it now. */
  role(arn: string): RoleInfo | undefined {
    const role = this.#roles.get(arn);
    if (!role) return undefined;
    return { arn, name: role.name, trust: role.trust, policies: this.policiesOf(arn) };
  }

  /** The identity policies of a role: inline, AWS::IAM::Policy resources attached to it, managed policies. */
  policiesOf(roleArn: string): { name: string; document: PolicyDocument }[] {
    const role = this.#roles.get(roleArn);
    if (!role) return [];
    const attached = [...this.#policies.values()].filter((p) => p.roles.includes(role.name));
    const managed = role.managed.map((arn) => {
      const key = arn.replace(/^arn:aws:iam::aws:policy\//, '');
      const document = AWS_MANAGED_POLICIES[key];
      if (!document)
        throw new Error(`harness: the managed policy ${arn} is not known (add it to AWS_MANAGED_POLICIES)`);
      return { name: key, document };
    });
    return [...role.inline, ...attached.map((p) => ({ name: p.name, document: p.document })), ...managed];
  }

  /** Session credentials for a role (Lambda's execution role session, named after the function). */
  #assume(roleArn: string, sessionName: string): Session {
    const role = this.#roles.get(roleArn);
    if (!role) throw new Error(`harness: no role ${roleArn}`);
    const existing = [...this.#sessions.values()].find((s) => s.caller().arn.endsWith(`/${role.name}/${sessionName}`));
    if (existing) return existing;
    const session: Session = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(48).toString('base64'),
      caller: () => ({
        arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role.name}/${sessionName}`,
        roleArn,
        functionName: sessionName,
        policies: this.policiesOf(roleArn),
      }),
    };
    this.#sessions.set(session.accessKeyId, session);
    return session;
  }

  #callerOf(accessKeyId: string): Caller {
    return this.#sessions.get(accessKeyId)!.caller();
  }

  /**
   * Credentials of a principal outside the deployment (an operator calling the admin API): an IAM role with the
   * given policy, as a platform team would give one (docs/deploy.md).
   */
  operator(policy: PolicyDocument, name = 'ciba-operator'): Credentials {
    const arn = `arn:aws:iam::${ACCOUNT}:role/${name}`;
    this.#roles.set(arn, {
      name,
      arn,
      trust: { Version: '2012-10-17', Statement: [] },
      inline: [{ name: 'operator', document: policy }],
      managed: [],
    });
    const { accessKeyId, secretAccessKey, sessionToken } = this.#assume(arn, 'operator');
    return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }

  async authenticate(request: Parameters<Core['authenticate']>[0], signingName: string): Promise<Caller> {
    const credentials = await verifySigV4(
      request,
      { service: signingName, region: REGION, now: this.clock.now() },
      (id) => this.#sessions.get(id),
    );
    return this.#callerOf(credentials.accessKeyId);
  }

  /** Every call refused so far (function, action, resource, AWS's message); forgets them. */
  takeDenials(): DeniedCall[] {
    return this.iam.takeDenials();
  }

  /** Fails naming every refused call (function, action, resource): a permission a flow needs is missing. */
  expectNoDenials(): void {
    const denials = this.takeDenials();
    if (denials.length > 0) {
      throw new Error(
        `AWS calls refused by IAM:\n${denials.map((d) => `- ${d.function ?? d.principal}: ${d.action} on ${d.resource} (${d.result})`).join('\n')}`,
      );
    }
  }

  // ---- the fake internet ------------------------------------------------------------------------------------------

  /**
   * Makes `host` reachable from the functions at a public address (so the outbound guard sees a global unicast
   * address, as in AWS), served by a loopback HTTPS server whose certificate the test CA issued.
   */
  publish(host: string, server: { port: number; ca: string }): void {
    const octet = (this.#internet.size % 200) + 10;
    // 93.184.215.0/24: a global unicast range; connections never leave this machine (they go to the loopback server).
    this.#internet.set(host.toLowerCase(), { address: `93.184.215.${octet}`, port: server.port, ca: server.ca });
    this.lambda.updateInternet();
  }

  // ---- background work ----------------------------------------------------------------------------------------------

  track(work: Promise<unknown>): void {
    const tracked = work.catch(() => undefined).finally(() => this.#work.delete(tracked));
    this.#work.add(tracked);
  }

  /** Waits until every async invocation, delivery and request under way has finished (the clock does not move). */
  async settle(): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      if (this.#work.size === 0) {
        await this.clock.runDue();
        if (this.#work.size === 0) return;
      }
      await Promise.all([...this.#work]);
    }
    throw new Error('harness: work never settled');
  }

  /** Moves the clock forward, runs what falls due (schedules, retries), and settles. */
  async advance(ms: number): Promise<void> {
    await this.settle();
    const target = this.clock.now() + ms;
    for (;;) {
      const next = this.clock.pending()[0];
      if (!next || next.at > target) break;
      await this.clock.advance(Math.max(0, next.at - this.clock.now()));
      await this.settle();
    }
    await this.clock.advance(Math.max(0, target - this.clock.now()));
    await this.settle();
  }

  // ---- what tests need from the deployment ----------------------------------------------------------------------

  /** The first HTTP API's base URL (`CIBA_PUBLIC_URL` of the functions). */
  get baseUrl(): string {
    const api = [...this.apis.values()][0];
    if (!api) throw new Error('harness: the deployment has no HTTP API');
    return api.url;
  }

  /** A deployed function by the entry it was built from (`functions/{name}`), i.e. its POWERTOOLS_SERVICE_NAME. */
  fn(name: string): FunctionConfig {
    const fn = [...this.lambda.functions.values()].find(
      (f) => f.environment.POWERTOOLS_SERVICE_NAME === `ciba-${name}`,
    );
    if (!fn) throw new Error(`harness: no function ${name}`);
    return fn;
  }

  resourcesOf(type: string): DeployedResource[] {
    return this.cfn.resourcesOf(type);
  }

  /** An item of the directory table as stored (the test's view, past IAM), or undefined. */
  async directoryItem(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
    const table = this.fn('admin').environment.CIBA_DIRECTORY_TABLE!;
    const out = await this.dynamodb.direct('GetItem', { TableName: table, Key: { pk: { S: pk }, sk: { S: sk } } });
    return out.Item ? unmarshall(out.Item as never) : undefined;
  }

  /** A stage's settings on its API: the access-log format, checked. */
  #stage(props: Record<string, Json>): void {
    const api = [...this.apis.values()].find((a) => a.apiId === props.ApiId)!;
    const format = (props.AccessLogSettings as { Format?: string } | undefined)?.Format;
    if (format !== undefined) checkAccessLogFormat(format);
    api.accessLogFormat = format;
  }

  functionPolicy(arn: string): PolicyDocument | undefined {
    const statements = this.#permissions.get(arn);
    return statements?.length ? { Version: '2012-10-17', Statement: statements } : undefined;
  }

  async stop(): Promise<void> {
    await this.lambda.stop();
    await Promise.all([...this.apis.values()].map((api) => api.stop()));
    await Promise.all([
      this.dynamodb.stop(),
      this.kms.stop(),
      this.sqs.stop(),
      this.sns.stop(),
      this.secrets.stop(),
      this.ses.stop(),
      this.eventbridge.stop(),
      this.scheduler.stop(),
    ]);
    this.#restoreDate?.();
  }

  // ---- CloudFormation resource providers ----------------------------------------------------------------------

  /** The bundle a function runs: the asset its template names, or the same function's asset in the code assembly. */
  #codeDir(stack: string, logicalId: string, props: Record<string, Json>): string {
    const key = (props.Code as { S3Key?: string } | undefined)?.S3Key;
    const fromKey = (k: string | undefined, dir: string) =>
      k ? join(dir, `asset.${k.replace(/\.zip$/, '')}`) : undefined;
    const own = fromKey(key, this.assembly.dir);
    if (own && existsSync(own)) return own;
    const twin = this.#code.stacks.find((s) => s.name === stack)?.template.Resources[logicalId];
    const twinKey = (twin?.Properties?.Code as { S3Key?: string } | undefined)?.S3Key;
    const fromTwin = fromKey(twinKey, this.#code.dir);
    if (fromTwin && existsSync(fromTwin)) return fromTwin;
    throw new Error(`harness: no bundle for ${stack}/${logicalId}`);
  }

  #providers(): Record<string, ResourceProvider> {
    const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
    const named = (
      props: Record<string, Json>,
      key: string,
      ctx: { generatedName(max?: number): string },
      max?: number,
    ) => (typeof props[key] === 'string' ? (props[key] as string) : ctx.generatedName(max));
    return {
      'AWS::DynamoDB::Table': {
        create: async (props, ctx) => {
          const name = named(props, 'TableName', ctx, 255);
          const tableArn = arn('dynamodb', `table/${name}`);
          await this.dynamodb.createTable(name, tableArn, props);
          const streamArn = this.dynamodb.setStream(name, props.StreamSpecification as never);
          return { ref: name, attributes: { Arn: tableArn, ...(streamArn ? { StreamArn: streamArn } : {}) } };
        },
        // In place (the stream, settings); a change that would replace the table fails (fakes/dynamodb.ts).
        update: async (current, props) => {
          const streamArn = await this.dynamodb.updateTable(current.ref, current.properties, props);
          return {
            ref: current.ref,
            attributes: { Arn: current.attributes.Arn!, ...(streamArn ? { StreamArn: streamArn } : {}) },
          };
        },
      },
      'AWS::Lambda::EventSourceMapping': {
        create: async (props, ctx) => {
          const fn = this.lambda.find(String(props.FunctionName));
          if (!fn) throw new Error(`${ctx.logicalId}: no function ${String(props.FunctionName)}`);
          const source = String(props.EventSourceArn);
          const common = {
            clock: this.clock,
            callerOf: (f: FunctionConfig) => this.#callerOf(this.#assume(f.roleArn, f.name).accessKeyId),
            authorize: (caller: Caller, action: string, resource: string) =>
              this.iam.authorize({ caller, action, resource }),
            track: (work: Promise<unknown>) => this.track(work),
          };
          let mapping: StreamMapping | QueueMapping;
          if (source.startsWith('arn:aws:sqs:')) {
            mapping = await QueueMapping.create(fn, this.sqs.byArn(source), this.sqs, props, {
              ...common,
              invoke: (f, event) => this.lambda.invoke(f.arn, event, 'queue'),
            });
          } else {
            const stream = this.dynamodb.streamByArn(source);
            if (!stream)
              throw new Error(`${ctx.logicalId}: no stream or queue ${source} (DynamoDB streams and SQS are modelled)`);
            mapping = await StreamMapping.create(fn, stream, props, {
              ...common,
              invoke: (f, event) => this.lambda.invoke(f.arn, event, 'stream'),
              sendToDestination: async (f, destination, record) => {
                const session = this.#assume(f.roleArn, f.name);
                await this.sqs.sendAs(this.#callerOf(session.accessKeyId), destination, JSON.stringify(record));
              },
            });
          }
          this.mappings.set(mapping.uuid, mapping);
          return {
            ref: mapping.uuid,
            attributes: { EventSourceMappingArn: arn('lambda', `event-source-mapping:${mapping.uuid}`) },
          };
        },
        delete: async (current) => {
          this.mappings.get(current.ref)?.stop();
          this.mappings.delete(current.ref);
        },
      },
      'AWS::IAM::Role': {
        create: async (props, ctx) => {
          const name = named(props, 'RoleName', ctx, 64);
          const roleArn = `arn:aws:iam::${ACCOUNT}:role${(props.Path as string | undefined) ?? '/'}${name}`;
          this.#roles.set(roleArn, {
            name,
            arn: roleArn,
            trust: props.AssumeRolePolicyDocument as unknown as PolicyDocument,
            inline: ((props.Policies ?? []) as { PolicyName: string; PolicyDocument: PolicyDocument }[]).map((p) => ({
              name: p.PolicyName,
              document: p.PolicyDocument,
            })),
            managed: (props.ManagedPolicyArns ?? []) as string[],
          });
          return {
            ref: name,
            attributes: { Arn: roleArn, RoleId: `AROA${randomBytes(8).toString('hex').toUpperCase()}` },
          };
        },
        delete: async (current) => void this.#roles.delete(String(current.attributes.Arn)),
      },
      'AWS::IAM::Policy': {
        create: async (props, ctx) => {
          const id = `${ctx.stack}/${ctx.logicalId}`;
          this.#policies.set(id, {
            name: String(props.PolicyName),
            roles: (props.Roles ?? []) as string[],
            document: props.PolicyDocument as unknown as PolicyDocument,
          });
          return { ref: String(props.PolicyName) };
        },
        delete: async (current) => void this.#policies.delete(`${current.stack}/${current.logicalId}`),
      },
      'AWS::Logs::LogGroup': {
        create: async (props, ctx) => {
          const name = named(props, 'LogGroupName', ctx, 512);
          return { ref: name, attributes: { Arn: arn('logs', `log-group:${name}:*`) } };
        },
      },
      'AWS::Lambda::Function': {
        create: async (props, ctx) => {
          const name = named(props, 'FunctionName', ctx, 64);
          const functionArn = arn('lambda', `function:${name}`);
          const roleArn = String(props.Role);
          const role = this.#roles.get(roleArn);
          if (!role) throw new Error(`${ctx.logicalId}: the role ${roleArn} does not exist`);
          // CloudFormation: "The role defined for the function cannot be assumed by Lambda."
          const trust = await this.iam.authorize({
            caller: { arn: 'lambda.amazonaws.com', policies: [] },
            action: 'sts:AssumeRole',
            resource: roleArn,
            resourcePolicy: role.trust,
          });
          if (!trust.allowed)
            throw new Error(`${ctx.logicalId}: the role defined for the function cannot be assumed by Lambda`);
          const handler = String(props.Handler ?? 'index.handler');
          const environment = Object.fromEntries(
            Object.entries(
              (props.Environment as { Variables?: Record<string, Json> } | undefined)?.Variables ?? {},
            ).map(([k, v]) => [k, String(v)]),
          );
          const logging = (props.LoggingConfig ?? {}) as {
            LogGroup?: string;
            LogFormat?: string;
            ApplicationLogLevel?: string;
            SystemLogLevel?: string;
          };
          const logGroup = logging.LogGroup ?? `/aws/lambda/${name}`;
          const format = logging.LogFormat ?? 'Text';
          if (format !== 'Text' && format !== 'JSON') throw new Error(`${ctx.logicalId}: LogFormat ${format}`);
          // Lambda refuses log levels with the text format.
          if (format === 'Text' && (logging.ApplicationLogLevel || logging.SystemLogLevel)) {
            throw new Error(`${ctx.logicalId}: ApplicationLogLevel and SystemLogLevel need LogFormat JSON`);
          }
          this.lambda.define({
            name,
            arn: functionArn,
            codeDir: this.#codeDir(ctx.stack, ctx.logicalId, props),
            handler,
            environment,
            timeoutSeconds: Number(props.Timeout ?? 3),
            memorySize: Number(props.MemorySize ?? 128),
            roleArn,
            logGroupName: logGroup,
            logging: {
              format,
              ...(logging.ApplicationLogLevel ? { applicationLevel: logging.ApplicationLogLevel } : {}),
            },
            async: { maximumRetryAttempts: 2, maximumEventAgeSeconds: 21_600 },
          });
          return { ref: name, attributes: { Arn: functionArn } };
        },
        // CloudFormation updates code, environment and settings in place: the name and ARN stay.
        update: async (current, props, ctx) => {
          const old = this.lambda.find(String(current.attributes.Arn));
          await this.lambda.remove(String(current.attributes.Arn));
          const created = await this.#providers()['AWS::Lambda::Function']!.create(
            { ...props, FunctionName: current.ref },
            ctx,
          );
          const fn = this.lambda.find(created.ref);
          if (fn && old) fn.async = old.async;
          return created;
        },
        delete: async (current) => this.lambda.remove(String(current.attributes.Arn)),
      },
      'AWS::Lambda::EventInvokeConfig': {
        create: async (props) => {
          const fn = this.lambda.find(String(props.FunctionName));
          if (!fn) throw new Error(`EventInvokeConfig: no function ${String(props.FunctionName)}`);
          const destination = (props.DestinationConfig as { OnFailure?: { Destination?: string } } | undefined)
            ?.OnFailure?.Destination;
          fn.async = {
            maximumRetryAttempts: Number(props.MaximumRetryAttempts ?? 2),
            maximumEventAgeSeconds: Number(props.MaximumEventAgeInSeconds ?? 21_600),
            ...(destination ? { onFailure: destination } : {}),
          };
          return { ref: randomUUID() };
        },
      },
      'AWS::Lambda::Permission': {
        create: async (props, ctx) => {
          const fn = this.lambda.find(String(props.FunctionName));
          if (!fn) throw new Error(`${ctx.logicalId}: no function ${String(props.FunctionName)}`);
          const principal = String(props.Principal);
          const statement: Record<string, unknown> = {
            Sid: ctx.logicalId,
            Effect: 'Allow',
            Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
            Action: String(props.Action),
            Resource: fn.arn,
            ...(props.SourceArn || props.SourceAccount
              ? {
                  Condition: {
                    ...(props.SourceArn ? { ArnLike: { 'AWS:SourceArn': String(props.SourceArn) } } : {}),
                    ...(props.SourceAccount
                      ? { StringEquals: { 'AWS:SourceAccount': String(props.SourceAccount) } }
                      : {}),
                  },
                }
              : {}),
          };
          this.#permissions.set(fn.arn, [...(this.#permissions.get(fn.arn) ?? []), statement]);
          // Lambda: a function policy is at most 20 KB.
          const size = JSON.stringify(this.functionPolicy(fn.arn)).length;
          if (size > 20_480)
            throw new Error(`${ctx.logicalId}: the policy of ${fn.name} would be ${size} bytes, over Lambda's 20 KB`);
          return { ref: ctx.logicalId };
        },
        delete: async (current) => {
          for (const [fnArn, statements] of this.#permissions) {
            this.#permissions.set(
              fnArn,
              statements.filter((s) => s.Sid !== current.logicalId),
            );
          }
        },
      },
      'AWS::SQS::Queue': {
        create: async (props, ctx) => {
          const redrive = props.RedrivePolicy as { deadLetterTargetArn?: string; maxReceiveCount?: number } | undefined;
          const queue = this.sqs.createQueue(named(props, 'QueueName', ctx, 80), {
            ...(props.VisibilityTimeout !== undefined
              ? { visibilityTimeoutSeconds: Number(props.VisibilityTimeout) }
              : {}),
            ...(redrive
              ? {
                  redrive: {
                    deadLetterTargetArn: String(redrive.deadLetterTargetArn),
                    maxReceiveCount: Number(redrive.maxReceiveCount),
                  },
                }
              : {}),
          });
          return { ref: queue.url, attributes: { Arn: queue.arn, QueueName: queue.name, QueueUrl: queue.url } };
        },
      },
      'AWS::SQS::QueuePolicy': {
        create: async (props, ctx) => {
          for (const url of (props.Queues ?? []) as string[])
            this.sqs.byUrl(url).policy = props.PolicyDocument as unknown as PolicyDocument;
          return { ref: ctx.logicalId };
        },
      },
      'AWS::Events::EventBus': {
        create: async (props) => {
          const name = String(props.Name);
          return { ref: name, attributes: { Arn: this.eventbridge.createBus(name), Name: name } };
        },
      },
      'AWS::Events::Rule': {
        create: async (props, ctx) => {
          const name = named(props, 'Name', ctx, 64);
          const bus = String(props.EventBusName ?? 'default').replace(/^arn:aws:events:[^:]+:\d+:event-bus\//, '');
          const ruleArn = arn('events', bus === 'default' ? `rule/${name}` : `rule/${bus}/${name}`);
          this.eventbridge.createRule({
            name,
            arn: ruleArn,
            bus,
            pattern: (props.EventPattern ?? {}) as Record<string, unknown>,
            enabled: (props.State ?? 'ENABLED') === 'ENABLED',
            targets: (props.Targets ?? []) as never,
          });
          return { ref: bus === 'default' ? name : `${bus}|${name}`, attributes: { Arn: ruleArn } };
        },
        delete: async (current) => void this.eventbridge.rules.delete(String(current.attributes.Arn)),
      },
      'AWS::Scheduler::ScheduleGroup': {
        create: async (props, ctx) => {
          const name = named(props, 'Name', ctx, 64);
          this.scheduler.groups.add(name);
          return { ref: name, attributes: { Arn: arn('scheduler', `schedule-group/${name}`) } };
        },
      },
      'AWS::KMS::Key': {
        create: async (props) => {
          const key = this.kms.createKey(props as never);
          return { ref: key.keyId, attributes: { Arn: key.arn, KeyId: key.keyId } };
        },
      },
      'AWS::KMS::Alias': {
        create: async (props) => {
          this.kms.createAlias(String(props.AliasName), String(props.TargetKeyId));
          return { ref: String(props.AliasName) };
        },
        update: async (_current, props) => {
          this.kms.aliases.set(String(props.AliasName), String(props.TargetKeyId).replace(/^.*key\//, ''));
          return { ref: String(props.AliasName) };
        },
        delete: async (current) => void this.kms.aliases.delete(current.ref),
      },
      'AWS::ApiGatewayV2::Api': {
        create: async (props, ctx) => {
          const apiId = randomBytes(5).toString('hex');
          const api = new HttpApi(apiId, '$default', {
            account: ACCOUNT,
            region: REGION,
            clock: this.clock,
            iam: this.iam,
            lambda: this.lambda,
            authenticate: (request, signingName) => this.authenticate(request, signingName),
            functionPolicy: (fnArn) => this.functionPolicy(fnArn),
            track: (work) => this.track(work),
          });
          await api.start();
          this.apis.set(ctx.logicalId, api);
          void props;
          return { ref: apiId, attributes: { ApiEndpoint: api.url, ApiId: apiId } };
        },
      },
      // The stage: its access-log format, which the API then writes a line of per request.
      'AWS::ApiGatewayV2::Stage': {
        create: async (props, ctx) => {
          this.#stage(props);
          return { ref: ctx.generatedName() };
        },
        update: async (current, props) => {
          this.#stage(props);
          return { ref: current.ref };
        },
      },
      'AWS::ApiGatewayV2::Integration': {
        create: async (props) => {
          const api = [...this.apis.values()].find((a) => a.apiId === props.ApiId)!;
          const id = randomBytes(4).toString('hex');
          api.integrations.set(id, {
            functionArn: String(props.IntegrationUri),
            payloadFormatVersion: String(props.PayloadFormatVersion ?? '1.0'),
          });
          return { ref: id };
        },
      },
      'AWS::ApiGatewayV2::Route': {
        create: async (props) => {
          const api = [...this.apis.values()].find((a) => a.apiId === props.ApiId)!;
          const id = randomBytes(4).toString('hex');
          api.routes.set(id, {
            routeKey: String(props.RouteKey),
            authorization: String(props.AuthorizationType ?? 'NONE'),
            integration: String(props.Target ?? '').replace(/^integrations\//, ''),
          });
          return { ref: id };
        },
        delete: async (current) => {
          for (const api of this.apis.values()) api.routes.delete(current.ref);
        },
      },
      'AWS::CloudWatch::Alarm': {
        create: async (props, ctx) => {
          const metrics = ((props.Metrics ?? []) as { MetricStat?: unknown }[]).filter((m) => m.MetricStat).length;
          // CloudWatch (PutMetricAlarm): at most 10 metrics in an alarm's metric math.
          if (metrics > 10)
            throw new Error(`${ctx.logicalId}: an alarm may use at most 10 metrics, this one uses ${metrics}`);
          const name = named(props, 'AlarmName', ctx, 255);
          return { ref: name, attributes: { Arn: arn('cloudwatch', `alarm:${name}`) } };
        },
      },
      'Custom::*': {
        create: (props, ctx) => this.#customResource('Create', props, ctx),
        update: (current, props, ctx) => this.#customResource('Update', props, ctx, current),
        delete: async (current, ctx) => {
          await this.#customResource('Delete', current.properties, ctx, current);
        },
      },
    };
  }

  /**
   * A custom resource: CloudFormation sends the event to the service token, the CDK Provider framework's function,
   * which invokes the user's onEvent function (`USER_ON_EVENT_FUNCTION_ARN`) with its own role. The harness checks
   * that role may invoke it and invokes it with the event the framework passes on.
   */
  async #customResource(
    requestType: 'Create' | 'Update' | 'Delete',
    props: Record<string, Json>,
    ctx: { stack: string; logicalId: string },
    current?: DeployedResource,
  ): Promise<{ ref: string; attributes?: Record<string, Json> }> {
    const token = String(props.ServiceToken);
    const framework = this.lambda.find(token);
    if (!framework) throw new Error(`${ctx.logicalId}: no function behind the service token ${token}`);
    const target = framework.environment.USER_ON_EVENT_FUNCTION_ARN ?? framework.arn;
    if (target !== framework.arn) {
      const session = this.#assume(framework.roleArn, framework.name);
      const decision = await this.iam.authorize({
        caller: this.#callerOf(session.accessKeyId),
        action: 'lambda:InvokeFunction',
        resource: target,
      });
      if (!decision.allowed) throw new Error(`${ctx.logicalId}: ${decision.message}`);
    }
    // A resource that left the template is deleted with the type it was deployed as.
    const resourceType =
      current?.type ?? this.cfn.templates.get(ctx.stack)?.Resources[ctx.logicalId]?.Type ?? 'Custom::Resource';
    const event = {
      RequestType: requestType,
      ServiceToken: token,
      ResponseURL: 'https://cloudformation-custom-resource-response.invalid/',
      StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${ctx.stack}/${randomUUID()}`,
      RequestId: randomUUID(),
      LogicalResourceId: ctx.logicalId,
      ResourceType: resourceType,
      ResourceProperties: props,
      ...(current ? { PhysicalResourceId: current.ref } : {}),
      ...(requestType === 'Update' && current ? { OldResourceProperties: current.properties } : {}),
    };
    const outcome = await this.lambda.invoke(target, event);
    if ('error' in outcome) {
      throw new Error(
        `${ctx.logicalId} (${resourceType}) ${requestType} failed: ${outcome.error.errorType}: ${outcome.error.errorMessage}`,
      );
    }
    const result = (outcome.result ?? {}) as { PhysicalResourceId?: string; Data?: Record<string, Json> };
    const ref = result.PhysicalResourceId ?? current?.ref ?? event.RequestId;
    if (requestType === 'Update' && current && ref !== current.ref) {
      // A new physical id is a replacement: CloudFormation deletes the old one after the update.
      await this.#customResource('Delete', current.properties, ctx, current);
    }
    return { ref, attributes: result.Data ?? {} };
  }
}
