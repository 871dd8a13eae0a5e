import type { CliContext } from '../../../lib/cli/context.ts';

/** An in-process CLI context: captured output, instant recorded sleeps, no real environment. */
export const testContext = (overrides: Partial<CliContext> = {}) => {
  const out: string[] = [];
  const err: string[] = [];
  const sleeps: number[] = [];
  let clock = 1_700_000_000_000;
  const ctx: CliContext = {
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    stderrIsTTY: false,
    env: {},
    fetch: (input, init) => globalThis.fetch(input, init),
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    cwd: '/nonexistent',
    home: '/nonexistent',
    readStdin: async () => '',
    exitCode: 0,
    ...overrides,
  };
  return {
    ctx,
    sleeps,
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
};
