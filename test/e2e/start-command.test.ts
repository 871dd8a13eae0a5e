/** `npm start` (lib/local/main.ts) refuses a bad setting in the environment at once, naming it and what it takes. */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const start = (env: Record<string, string>) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'lib/local/main.ts'],
      { env: { ...process.env, CIBA_DATA_DIR: 'memory', PORT: '0', ...env }, timeout: 60_000 },
      (error, _stdout, stderr) => resolve({ code: error ? (error.code as number | null) : 0, stderr }),
    );
  });

describe('npm start with a bad setting', () => {
  it.each([
    [{ CIBA_PUBLIC_URL: 'id.example.com' }, 'CIBA_PUBLIC_URL must be an http or https URL without query or fragment'],
    [{ DYNAMODB_ENDPOINT: 'localhost:8000' }, 'DYNAMODB_ENDPOINT must be an http or https URL'],
    [{ PORT: '80000' }, 'PORT must be a port number'],
    [{ CIBA_LOG_LEVEL: 'verbose' }, 'CIBA_LOG_LEVEL must be one of debug, info, warn, error'],
    [{ CIBA_EMBEDDED_STORE: 'thread' }, 'CIBA_EMBEDDED_STORE must be one of worker, direct, child, inline'],
    [{ CIBA_DYNALITE_PARSE_CACHE: 'no' }, 'CIBA_DYNALITE_PARSE_CACHE must be one of on, off (got "no")'],
  ])('%o: exits 1 and says why', async (env, message) => {
    const { code, stderr } = await start(env);
    expect(code).toBe(1);
    expect(stderr).toContain(`ciba-service failed to start: ${message}`);
  });
});
