import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildCibaApp, cdkJsonContext } from './ciba-app.ts';

// `npx cdk synth` (cdk.json runs this with tsx), or `npx tsx infra/app.ts` alone: offline, no lookups, no
// credentials, esbuild bundling without Docker. The CLI passes CDK_OUTDIR; run alone, it writes to cdk.out. cdk.json's
// context (its feature flags) is read here too, so that the app alone synthesizes what the CLI does (the CLI's own
// context, -c keys included, takes precedence).
const app = new App({ outdir: process.env.CDK_OUTDIR ?? 'cdk.out', context: cdkJsonContext() });
buildCibaApp(app);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
