import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildCibaApp } from '../ciba-app.ts';
import { declareTenants } from './tenants-in-code.ts';

// infra/app.ts with the tenants in code instead of a tenants file:
// `npx cdk deploy --all --app "npx tsx infra/examples/app-with-tenants.ts"` (docs/deploy.md "Tenants in CDK code").
const app = new App({ outdir: process.env.CDK_OUTDIR ?? 'cdk.out' });
const { service } = buildCibaApp(app, { tenantsFile: false });
declareTenants(service);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
