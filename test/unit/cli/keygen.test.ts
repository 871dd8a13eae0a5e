/** `ciba client keygen`: a client key pair, the private half written outside the repository with mode 0600. */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientAssertionParams, loadSigner } from '../../../lib/cli/client-jwt.ts';
import { runCli } from '../../../lib/cli/main.ts';
import { testContext } from './context.ts';

describe('ciba client keygen', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'ciba-keygen-'));
  });
  afterEach(() => rm(home, { recursive: true, force: true }));

  const keygen = async (args: string[]) => {
    const t = testContext({ home });
    const code = await runCli(['client', 'keygen', ...args], t.ctx);
    return { code, stdout: t.stdout(), stderr: t.stderr() };
  };

  it('writes the private JWK to ~/.ciba/keys/<name>.json (0600, directory 0700) and prints only the public JWKS', async () => {
    const r = await keygen(['kiosk']);
    expect(r.code).toBe(0);
    const path = join(home, '.ciba', 'keys', 'kiosk.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, '.ciba', 'keys'))).mode & 0o777).toBe(0o700);
    expect(r.stderr).toContain(`private key: ${path} (mode 0600, outside the repository)`);
    const jwks = JSON.parse(r.stdout);
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys[0].d).toBeUndefined();
    const priv = JSON.parse(await readFile(path, 'utf8'));
    expect(priv).toMatchObject({ kty: 'EC', alg: 'ES256', kid: jwks.keys[0].kid, d: expect.any(String) });

    // What --key-file reads signs assertions the printed JWKS verifies.
    const signer = await loadSigner(path);
    const { client_assertion } = await clientAssertionParams(signer, 'kiosk', 'https://as.example/demo');
    const { payload, protectedHeader } = await jwtVerify(client_assertion!, createLocalJWKSet(jwks));
    expect(payload.iss).toBe('kiosk');
    expect(protectedHeader.kid).toBe(jwks.keys[0].kid);
  });

  it('never overwrites a key without --force, and takes --alg and --out', async () => {
    expect((await keygen(['kiosk'])).code).toBe(0);
    const again = await keygen(['kiosk']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: key_file_exists — .*kiosk\.json exists: pass --force/);
    expect((await keygen(['kiosk', '--force'])).code).toBe(0);
    const out = join(home, 'elsewhere', 'rsa.json');
    const rsa = await keygen(['bank', '--alg', 'PS256', '--out', out]);
    expect(rsa.code).toBe(0);
    expect(JSON.parse(rsa.stdout).keys[0]).toMatchObject({ kty: 'RSA', alg: 'PS256' });
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect((await keygen(['x', '--alg', 'HS256'])).stderr).toContain('--alg must be one of ES256, PS256, RS256, EdDSA');
    expect((await keygen(['../evil'])).code).toBe(1);
  });
});
