/** `npx ciba ... | head -1`: the CLI stops quietly when its reader closes the pipe (no EPIPE stack trace). */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeServer } from '../unit/cli/fake-server.ts';

describe('the ciba command in a pipe', { timeout: 60_000 }, () => {
  let server: Awaited<ReturnType<typeof startFakeServer>>;
  beforeAll(async () => {
    // Far more than a pipe buffer (64 KiB), so the CLI is still writing when head has gone.
    const body = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`field_${i}`, 'x'.repeat(60)]));
    server = await startFakeServer(() => ({ status: 200, body: { client_id: 'demo-client', ...body } }));
  });
  afterAll(() => server.close());

  it('exits 0 with nothing on stderr when head -1 closes its stdout', async () => {
    // Asynchronously: the fake server answers from this process.
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'bash',
        ['-o', 'pipefail', '-c', 'node bin/ciba.js client get demo-client | head -1'],
        { env: { ...process.env, CIBA_BASE_URL: server.url, CIBA_ADMIN_TOKEN: 'x' }, timeout: 50_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
    expect(r.stdout).toMatch(/^client_id: +demo-client\n$/);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
