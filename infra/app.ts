import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildCibaApp } from './ciba-app.ts';

// `npx cdk synth` (cdk.json runs this with tsx), or `npx tsx infra/app.ts` alone: offline, no lookups, no
// credentials, esbuild bundling without Docker. The CLI passes CDK_OUTDIR; run alone, it writes to cdk.out.
const app = new App({ outdir: process.env.CDK_OUTDIR ?? 'cdk.out' });
buildCibaApp(app);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
