/**
 * The benchmark's side of bench/viewer-farm.ts: starts the farm process and asks it to open
 * viewers, count what they received, and hang up. Every request is bounded in time; close()
 * kills the farm whatever state it is in.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FarmReply, FarmRequest, FarmTarget, ViewerCounts } from './viewer-farm.ts';

const FARM = fileURLToPath(new URL('./viewer-farm.ts', import.meta.url));

type Body<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface WindowCounts {
  viewers: number;
  received: number;
  expected: number;
  /** Packets the viewers' sequence numbers say they missed (expected − received, floored at 0). */
  lost: number;
  /** Viewers that received nothing in the window. */
  silent: number;
}

/** What the viewers received between two snapshots (viewers present in both). */
export function windowCounts(before: ViewerCounts[], after: ViewerCounts[]): WindowCounts {
  const start = new Map(before.map((v) => [v.sessionId, v]));
  const counts: WindowCounts = { viewers: 0, received: 0, expected: 0, lost: 0, silent: 0 };
  for (const end of after) {
    const begin = start.get(end.sessionId);
    if (!begin) continue;
    const received = end.received - begin.received;
    const expected = end.expected - begin.expected;
    counts.viewers += 1;
    counts.received += received;
    counts.expected += expected;
    counts.lost += Math.max(0, expected - received);
    if (received === 0) counts.silent += 1;
  }
  return counts;
}

export class ViewerFarm {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (reply: FarmReply) => void>();
  #nextId = 1;
  #exited: Promise<void>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (reply: FarmReply) => {
      this.#waiting.get(reply.id)?.(reply);
      this.#waiting.delete(reply.id);
    });
    child.once('exit', (code, signal) => {
      for (const resolve of this.#waiting.values()) resolve({ op: 'error', id: -1, message: `viewer farm exited (${code ?? signal})` });
      this.#waiting.clear();
    });
  }

  static start(): ViewerFarm {
    // stdout ignored, stderr shown: werift's warnings are rare and worth seeing.
    return new ViewerFarm(fork(FARM, [], { execPath: process.execPath, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  #request(body: Body<FarmRequest>, timeoutMs: number): Promise<FarmReply> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`viewer farm: ${body.op} took over ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.op === 'error') reject(new Error(`viewer farm: ${reply.message}`));
        else resolve(reply);
      });
      this.#child.send({ ...body, id } as FarmRequest);
    });
  }

  /** Opens `count` more viewers (round robin over cameraIds); resolves once each receives video. */
  async open(target: FarmTarget, cameraIds: string[], count: number, prefix: string, timeoutMs = 30_000): Promise<{ connected: number; errors: string[]; answerMs: number[] }> {
    const reply = await this.#request({ op: 'open', target, cameraIds, count, prefix, timeoutMs }, timeoutMs + count * 2000 + 10_000);
    if (reply.op !== 'opened') throw new Error(`viewer farm: unexpected ${reply.op}`);
    return { connected: reply.connected, errors: reply.errors, answerMs: reply.answerMs };
  }

  async snapshot(): Promise<ViewerCounts[]> {
    const reply = await this.#request({ op: 'snapshot' }, 10_000);
    if (reply.op !== 'snapshot') throw new Error(`viewer farm: unexpected ${reply.op}`);
    return reply.viewers;
  }

  /** Hangs every viewer up (SessionDisconnected, then closes its peer connection). */
  async closeAll(): Promise<string[]> {
    const reply = await this.#request({ op: 'closeAll' }, 30_000);
    return reply.op === 'closed' ? reply.errors : [];
  }

  /** Idempotent: ends the farm process, killing it if it does not leave at once. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 3000);
    await this.#exited;
    clearTimeout(timer);
  }
}
