import { homedir } from 'node:os';
import type { AwsCredentialIdentity, Provider } from '@smithy/types';

/** Everything a command touches outside itself, so that tests can run commands in-process. */
export interface CliContext {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stderr is a terminal (the spinner only shows then). */
  stderrIsTTY: boolean;
  /** Whether stdout is a terminal. */
  stdoutIsTTY?: boolean;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  /** Epoch milliseconds. */
  now: () => number;
  cwd: string;
  home: string;
  /** The AWS credential chain; tests inject static credentials. */
  awsCredentials?: (profile: string | undefined) => AwsCredentialIdentity | Provider<AwsCredentialIdentity>;
  /** All of standard input (`--ticket -`). */
  readStdin: () => Promise<string>;
  /** Set by the command that ran; 0 unless something failed. */
  exitCode: number;
}

export const nodeContext = (): CliContext => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
  stdoutIsTTY: process.stdout.isTTY === true,
  env: process.env,
  fetch: (input, init) => globalThis.fetch(input, init),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => Date.now(),
  cwd: process.cwd(),
  home: homedir(),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  exitCode: 0,
});

/** A failure with a wire-style error code, printed as `error: <error> — <description>`. */
export class CliError extends Error {
  constructor(
    readonly error: string,
    readonly description?: string,
    readonly exitCode = 1,
  ) {
    super(description ? `${error}: ${description}` : error);
  }
}
