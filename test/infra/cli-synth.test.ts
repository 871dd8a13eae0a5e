import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * docs/deploy.md's own command, through the CDK CLI as an operator runs it: the CLI adds cdk.json's context and
 * synthesizes with the account and region of the credentials, so whatever else it does beyond the in-process builds
 * of the other infra tests is covered here. An error annotation (an unacknowledged cdk-nag finding) stops `cdk synth`
 * and `cdk deploy` alike. Templates only (`ciba:bundling=stub`), offline.
 */
describe('npx cdk synth', () => {
  const out = mkdtempSync(join(tmpdir(), 'ciba-cli-synth-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('synthesizes both stacks with a concrete account and region, without errors', () => {
    const run = spawnSync(
      'npx',
      [
        'cdk',
        'synth',
        '--quiet',
        '--no-notices',
        '-o',
        out,
        '-c',
        'ciba:bundling=stub',
        '-c',
        'ciba:tenants=test/fixtures/infra-tenants.json',
      ],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          CDK_DEFAULT_ACCOUNT: '111122223333',
          CDK_DEFAULT_REGION: 'eu-central-1',
          CDK_DISABLE_CLI_TELEMETRY: 'true',
        },
        timeout: 180_000,
      },
    );
    const output = `${run.stdout}\n${run.stderr}`;
    expect(output).not.toMatch(/^ERROR/m);
    expect(output).not.toMatch(/Synthesis finished with errors/);
    expect(run.status, output).toBe(0);
    expect(existsSync(join(out, 'ciba-stateful.template.json'))).toBe(true);
    expect(existsSync(join(out, 'ciba-service.template.json'))).toBe(true);
  }, 200_000);
});
