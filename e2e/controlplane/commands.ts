// Runs a command-line tool (kubectl, helm) to completion and captures what it printed.
import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's standard input, e.g. a manifest for `kubectl apply -f -`. */
  input?: string;
  /** Throw when the command exits non-zero (default true). */
  check?: boolean;
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
}

export class CommandError extends Error {
  readonly result: CommandResult;
  constructor(command: string, result: CommandResult) {
    super(
      `${command} exited ${String(result.code)}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
    this.name = 'CommandError';
    this.result = result;
  }
}

export async function runCommand(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: RunOptions = {},
): Promise<CommandResult> {
  const child = spawn(command, args, {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 120_000,
    killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, signal) => {
      resolve(exitCode ?? (signal === null ? 1 : 128));
    });
  });
  const result = { code, stdout, stderr };
  const name = command.split('/').pop() ?? command;
  if (options.check !== false && code !== 0) {
    throw new CommandError(`${name} ${args.join(' ')}`, result);
  }
  return result;
}
