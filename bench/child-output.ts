/**
 * A child process's stdout and stderr, kept as a bounded tail, and a wait for the line that says
 * it is ready: the bridge's "porchlight listening", a fixture's READY. Settles by the deadline, or
 * as soon as the child exits, with the tail in the error.
 */
import type { ChildProcess } from 'node:child_process';

export interface ChildOutput {
  /** The last `maxBytes` of what it wrote, both streams interleaved. */
  tail(): string;
  /** The first capture group of `pattern` once the output matches it. */
  ready(pattern: RegExp, timeoutMs: number, what: string): Promise<string>;
}

export function watchOutput(child: ChildProcess, maxBytes = 64 * 1024): ChildOutput {
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-maxBytes);
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return {
    tail: () => text,
    ready(pattern, timeoutMs, what) {
      return new Promise<string>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        const check = () => {
          const value = pattern.exec(text)?.[1];
          if (value === undefined) return;
          done();
          resolve(value);
        };
        const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
          done();
          reject(new Error(`${what} exited at start (code ${code}, signal ${signal})\n${text.slice(-4000)}`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${what} was not ready within ${timeoutMs} ms\n${text.slice(-4000)}`));
        }, timeoutMs);
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
  };
}
