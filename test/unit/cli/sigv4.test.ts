import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../lib/cli/main.ts';
import { regionFromUrl, signRequest } from '../../../lib/cli/sigv4.ts';
import { testContext } from './context.ts';
import { startFakeServer } from './fake-server.ts';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

describe('SigV4 signing of admin requests', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('signs for execute-api in the given region, over the host and body', async () => {
    const headers = await signRequest(
      {
        method: 'PUT',
        url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/admin/tenants/acme',
        headers: { 'content-type': 'application/json' },
        body: '{"display_name":"ACME"}',
      },
      { region: 'eu-west-1', credentials },
    );
    expect(headers['authorization']).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    expect(headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(headers['host']).toBeUndefined();
    expect(headers['content-type']).toBe('application/json');
    const other = await signRequest(
      {
        method: 'PUT',
        url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/admin/tenants/acme',
        headers: { 'content-type': 'application/json' },
        body: '{"display_name":"EVIL"}',
      },
      { region: 'eu-west-1', credentials },
    );
    expect(other['authorization']).not.toBe(headers['authorization']);
  });

  it('adds the session token of temporary credentials', async () => {
    const headers = await signRequest(
      { method: 'GET', url: 'https://api.example.com/admin/tenants/acme', headers: {} },
      { region: 'us-east-1', credentials: { ...credentials, sessionToken: 'TOKEN' } },
    );
    expect(headers['x-amz-security-token']).toBe('TOKEN');
  });

  it('reads the region from an execute-api URL', () => {
    expect(regionFromUrl('https://abc.execute-api.ap-southeast-2.amazonaws.com')).toBe('ap-southeast-2');
    expect(regionFromUrl('https://id.example.com')).toBeUndefined();
  });

  it('is used by admin commands with --aws instead of the bearer token', async () => {
    const server = await startFakeServer(() => ({ status: 200, body: { issuer: 'x', display_name: 'ACME' } }));
    close = server.close;
    const profiles: (string | undefined)[] = [];
    const t = testContext({
      env: { CIBA_ADMIN_TOKEN: 'must-not-be-sent' },
      awsCredentials: (profile) => {
        profiles.push(profile);
        return credentials;
      },
    });
    const code = await runCli(
      [
        '--base-url',
        server.url,
        '--tenant',
        'acme',
        '--aws',
        '--profile',
        'ops',
        '--region',
        'eu-central-1',
        'tenant',
        'get',
      ],
      t.ctx,
    );
    expect(t.stderr()).toBe('');
    expect(code).toBe(0);
    expect(profiles).toEqual(['ops']);
    const [req] = server.requests;
    expect(req?.url).toBe('/admin/tenants/acme');
    expect(req?.headers['authorization']).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-central-1\/execute-api\/aws4_request/,
    );
  });

  it('needs a region', async () => {
    const t = testContext({ awsCredentials: () => credentials });
    expect(await runCli(['--base-url', 'https://id.example.com', '--aws', 'tenant', 'get'], t.ctx)).toBe(1);
    expect(t.stderr()).toMatch(/^error: invalid_option — --aws needs a region/);
  });
});
