import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface CommandRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `porchlight <args>` as a real process (PORCHLIGHT_CONFIG cleared), or any command with
 * `command`; killed after `timeoutMs`. Its output and exit code.
 */
export function runPorchlight(args: string[], options: { command?: string[]; timeoutMs?: number } = {}): Promise<CommandRun> {
  const [program, ...prefix] = options.command ?? [process.execPath, MAIN];
  return new Promise((resolve, reject) => {
    const child = spawn(program!, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORCHLIGHT_CONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`porchlight ${args.join(' ')} did not finish: ${stdout} ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
