import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ESBUILD_TARGET, ESM_REQUIRE_BANNER, entryOf, LAMBDA_ALIASES, type LambdaFunctionName } from './bundling.ts';

/**
 * The newest Node.js runtime aws-cdk-lib offers. The code avoids
 * APIs newer than Node 20, so it runs locally on Node 20 unchanged.
 */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Builds the web assets (lib/web/build.ts) and copies them into the web function's bundle as `web/`. */
const WEB_ASSET_HOOKS = {
  beforeBundling: (inputDir: string) => [`cd ${inputDir} && npx tsx lib/web/build.ts`],
  afterBundling: (inputDir: string, outputDir: string) => [`cp -r ${inputDir}/lib/web/dist ${outputDir}/web`],
  beforeInstall: () => [],
};

/**
 * The SDK's retries for a function whose writes come in bulk at deployment (the tenant provisioner and its copy that
 * imports legacy keys): they may meet throttling, provisioned tables (ciba:tableCapacity) above all, so the SDK's
 * adaptive mode slows their clients down and tries up to 10 times instead of failing the batch (and the stack) after
 * its default 4 attempts. The SDK reads these itself.
 */
export const BULK_WRITER_SDK_ENV = { AWS_RETRY_MODE: 'adaptive', AWS_MAX_ATTEMPTS: '10' } as const;

/**
 * Lambda's system log level (context `ciba:lambdaSystemLogLevel`, docs/deploy.md "Logs"): WARN by default, so that an
 * invocation leaves no START, END and REPORT lines (Lambda's system lines at WARN and above stay); INFO brings them back.
 */
export type LambdaSystemLogLevel = 'WARN' | 'INFO' | 'DEBUG';
export const LAMBDA_SYSTEM_LOG_LEVELS: readonly LambdaSystemLogLevel[] = ['WARN', 'INFO', 'DEBUG'];

export interface CibaFunctionProps {
  name: LambdaFunctionName;
  /** The name its logs and metrics carry (`ciba-{serviceName}`), when another function runs the same bundle. */
  serviceName?: string;
  /** A fixed function name, when something must know the ARN before the function exists. */
  functionName?: string;
  description: string;
  environment: Record<string, string>;
  memorySize?: number;
  timeout?: Duration;
  logRetention: logs.RetentionDays;
  /** Lambda's system log level; default WARN. */
  systemLogLevel?: LambdaSystemLogLevel;
  /** `stub`: inline placeholder code instead of esbuild (fast template tests); `esbuild`: the real bundle. */
  bundling: 'esbuild' | 'stub';
}

/**
 * One Lambda function: arm64, its own log group with a retention, and its own role that can write only to
 * that log group. Everything else is granted by the stack, per function.
 *
 * Logging (Lambda's advanced logging controls): JSON format, application level INFO, system level WARN unless
 * `systemLogLevel` says otherwise. The application's lines are Powertools' JSON lines, unchanged: under JSON format
 * Lambda sets AWS_LAMBDA_LOG_LEVEL to the application level, which Powertools then uses as its own level (INFO, its
 * default too), and Lambda keeps JSON lines at or above that level. At WARN Lambda leaves out the START, END and
 * REPORT lines of every invocation (their duration and memory stay in the function's CloudWatch metrics).
 */
export class CibaFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: CibaFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // No AWSLambdaBasicExecutionRole: that managed policy may write to any log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `ciba ${props.name} function`,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    const common = {
      ...(props.functionName ? { functionName: props.functionName } : {}),
      description: props.description,
      runtime: LAMBDA_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel[props.systemLogLevel ?? 'WARN'],
      environment: {
        POWERTOOLS_SERVICE_NAME: `ciba-${props.serviceName ?? props.name}`,
        POWERTOOLS_METRICS_NAMESPACE: 'Ciba',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
    };

    this.function =
      props.bundling === 'stub'
        ? new lambda.Function(this, 'Function', {
            ...common,
            handler: 'index.handler',
            code: lambda.Code.fromInline('exports.handler = async () => { throw new Error("stub"); };'),
          })
        : new NodejsFunction(this, 'Function', {
            ...common,
            entry: entryOf(props.name),
            handler: 'handler',
            bundling: {
              forceDockerBundling: false,
              format: OutputFormat.ESM,
              target: ESBUILD_TARGET,
              mainFields: ['module', 'main'],
              banner: ESM_REQUIRE_BANNER,
              esbuildArgs: Object.fromEntries(
                Object.entries(LAMBDA_ALIASES).map(([from, to]) => [`--alias:${from}`, to]),
              ),
              minify: true,
              sourceMap: true,
              sourceMapMode: SourceMapMode.DEFAULT,
              sourcesContent: false,
              // Pin the SDK version we test with instead of the one the runtime happens to carry.
              bundleAwsSDK: true,
              // The web function serves the authenticator and console assets, built next to its bundle.
              ...(props.name === 'web' ? { commandHooks: WEB_ASSET_HOOKS } : {}),
            },
          });
  }
}
