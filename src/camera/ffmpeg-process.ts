/**
 * One running ffmpeg: spawn, read stderr for stream info and failure reasons, stop it cleanly.
 * The owner (one per camera) decides about restarts; this class only reports what happened.
 *
 * Secrets: `args` holds the camera URL with its password. It is logged only through
 * redactArgs(), stderr lines only after redactSecrets() (reduceStderr does it for `recent`),
 * and spawn errors only by code and message — Node's spawn error carries `spawnargs`, which
 * pino's err serializer would print in full.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { redactArgs } from './ffmpeg-args.ts';
import { redactSecrets } from '../util/redact.ts';
import {
  initialStderrState, inputStreams, parseLogLine, reduceStderr, splitLines,
  type FfmpegFailure, type StderrState, type StreamInfo,
} from './ffmpeg-stderr.ts';

export interface FfmpegProcessOptions {
  ffmpegPath: string;
  args: string[];
  log: Logger;
  /** Grace period between SIGTERM and SIGKILL in close(). Default 2000 ms. */
  killAfterMs?: number;
  /** Written to ffmpeg's stdin, which is then closed (an SDP read with `-i pipe:0`). */
  stdin?: string;
  /** ffmpeg's stdout, when it writes its output there (`pipe:1`). */
  onStdout?: (chunk: Buffer) => void;
}

export interface FfmpegStreams {
  video?: StreamInfo;
  audio?: StreamInfo;
}

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it stopped, from stderr (or SPAWN_FAILED). After close() it is usually absent. */
  failure?: FfmpegFailure;
  /** The last few warning/error lines, secrets redacted: for diagnostics when no rule matched. */
  recent: string[];
  /** True when close() asked for it; false when ffmpeg died on its own or was killed by others. */
  requested: boolean;
  runtimeMs: number;
}

export interface FfmpegProcessEvents {
  /** Once per process, when ffmpeg has dumped its input streams (to re-plan copy vs transcode). */
  streams: [streams: FfmpegStreams];
  /** Exactly once per start(), also when the spawn itself failed. Never an 'error' event. */
  exit: [exit: FfmpegExit];
}

const DEFAULT_KILL_AFTER_MS = 2000;
/** What ffmpeg needs from our environment; nothing else (no admin token or proxy secret) reaches it. */
const FFMPEG_ENV_KEYS = ['PATH', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'HOME', 'TMPDIR', 'LD_LIBRARY_PATH'];

/** The minimal environment ffmpeg runs with. Pure. */
export function ffmpegEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const minimal: NodeJS.ProcessEnv = {};
  for (const key of FFMPEG_ENV_KEYS) if (env[key] !== undefined) minimal[key] = env[key];
  return minimal;
}

/** After 'exit', wait this long for stderr to drain (so the failure line is parsed) at most. */
const STDERR_DRAIN_MS = 1000;
const NOISY_LEVELS = new Set(['warning', 'error', 'fatal', 'panic']);

export class FfmpegProcess extends EventEmitter<FfmpegProcessEvents> {
  readonly #options: FfmpegProcessOptions;
  readonly #log: Logger;
  #child: ChildProcess | undefined;
  #state: StderrState = initialStderrState();
  #pending = '';
  #streamsEmitted = false;
  #started = false;
  #startedAt = 0;
  #exitCode: number | null = null;
  #exitSignal: NodeJS.Signals | null = null;
  #exited = false; // the OS process is gone (or never existed)
  #finished = false; // the 'exit' event has been emitted
  #requested = false;
  #closing: Promise<void> | undefined;
  readonly #finishedSignal = Promise.withResolvers<void>();
  #killTimer: NodeJS.Timeout | undefined;
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(options: FfmpegProcessOptions) {
    super();
    this.#options = options;
    this.#log = options.log;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Spawned and not yet exited. */
  get running(): boolean {
    return this.#started && !this.#exited;
  }

  /** The input streams seen so far (empty until ffmpeg has dumped them). */
  get streams(): FfmpegStreams {
    return inputStreams(this.#state);
  }

  get failure(): FfmpegFailure | undefined {
    return this.#state.failure ?? undefined;
  }

  /** Spawns ffmpeg. One process per instance: a second start(), or start() after close(), throws. */
  start(): void {
    if (this.#closing) throw new Error('FfmpegProcess is closed');
    if (this.#started) throw new Error('FfmpegProcess already started');
    this.#started = true;
    this.#startedAt = performance.now();
    this.#log.debug({ ffmpeg: this.#options.ffmpegPath, args: redactArgs(this.#options.args) }, 'starting ffmpeg');
    let child: ChildProcess;
    try {
      // An args array and no shell: the URL cannot be interpreted as anything but one argument.
      const { stdin, onStdout } = this.#options;
      child = spawn(this.#options.ffmpegPath, this.#options.args, {
        stdio: [stdin === undefined ? 'ignore' : 'pipe', onStdout ? 'pipe' : 'ignore', 'pipe'],
        windowsHide: true,
        env: ffmpegEnvironment(process.env),
      });
      if (stdin !== undefined) {
        child.stdin?.on('error', () => {}); // EPIPE when ffmpeg dies first: the exit reports it
        child.stdin?.end(stdin);
      }
      if (onStdout) {
        child.stdout?.on('data', onStdout);
        child.stdout?.on('error', () => {});
      }
    } catch (err) {
      // Synchronous throws (bad argument types, NUL bytes): report like any spawn failure, after
      // the caller has had a chance to attach its 'exit' listener.
      process.nextTick(() => this.#spawnFailed(err));
      return;
    }
    this.#child = child;
    child.on('error', (err) => {
      // 'error' without a pid = the spawn failed (ENOENT, EACCES); Node then also emits 'close',
      // which #finish ignores. With a pid it is a failed kill(): nothing to report.
      if (child.pid === undefined) this.#spawnFailed(err);
      else this.#log.debug({ pid: child.pid, code: (err as NodeJS.ErrnoException).code }, 'ffmpeg process error');
    });
    const stderr = child.stderr;
    if (stderr) {
      stderr.setEncoding('utf8');
      stderr.on('data', (chunk: string) => this.#onStderr(chunk));
      stderr.on('end', () => this.#flushStderr());
      stderr.on('error', () => {}); // EPIPE and the like on teardown: the exit is what matters
    }
    child.once('exit', (code, signal) => {
      this.#exited = true;
      this.#exitCode = code;
      this.#exitSignal = signal;
      this.#clearKillTimer();
      // 'close' follows once stderr is drained; a grandchild holding the pipe open must not
      // hold back the exit event forever.
      this.#drainTimer = setTimeout(() => {
        stderr?.destroy();
        this.#finish();
      }, STDERR_DRAIN_MS);
    });
    child.once('close', () => {
      if (child.pid === undefined) return; // spawn failure, handled by 'error'
      this.#flushStderr();
      this.#finish();
    });
    if (child.pid !== undefined) this.#log.debug({ pid: child.pid }, 'ffmpeg started');
  }

  /**
   * Stops ffmpeg: SIGTERM (ffmpeg finishes its outputs and exits 255), SIGKILL after killAfterMs.
   * Resolves once the process is gone and 'exit' was emitted; at once if never started.
   */
  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    if (!this.#started) return;
    const child = this.#child;
    if (child && child.pid !== undefined && !this.#exited) {
      this.#requested = true;
      child.kill('SIGTERM');
      const killAfterMs = this.#options.killAfterMs ?? DEFAULT_KILL_AFTER_MS;
      this.#killTimer = setTimeout(() => {
        this.#log.debug({ pid: child.pid, killAfterMs }, 'ffmpeg ignored SIGTERM: SIGKILL');
        child.kill('SIGKILL');
      }, killAfterMs);
    }
    await this.#finishedSignal.promise;
  }

  #onStderr(chunk: string): void {
    const { lines, pending } = splitLines(this.#pending, chunk);
    this.#pending = pending;
    for (const line of lines) this.#onLine(line);
  }

  #flushStderr(): void {
    const last = this.#pending;
    this.#pending = '';
    if (last !== '') this.#onLine(last);
  }

  #onLine(line: string): void {
    if (this.#finished) return; // a late line after the drain timeout: the exit is reported
    const parsed = parseLogLine(line);
    // ffmpeg's own warnings are many and mostly harmless (missed RTP packets, DTS fix-ups): debug.
    if (parsed.text.trim() !== '' && (parsed.level === undefined || NOISY_LEVELS.has(parsed.level))) {
      this.#log.debug({ pid: this.pid, context: parsed.context }, redactSecrets(parsed.text));
    }
    const before = this.#state;
    this.#state = reduceStderr(before, line);
    // The stream dump is complete when ffmpeg moves on to the output or the mapping.
    if (before.section === 'input' && this.#state.section !== 'input') this.#emitStreams();
  }

  #emitStreams(): void {
    if (this.#streamsEmitted || this.#state.inputs.length === 0) return;
    this.#streamsEmitted = true;
    this.emit('streams', inputStreams(this.#state));
  }

  #spawnFailed(err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not executable' : code;
    const failure: FfmpegFailure = {
      code: 'SPAWN_FAILED',
      message: `cannot run ffmpeg at ${this.#options.ffmpegPath} (${reason}): install ffmpeg or set FFMPEG_PATH`,
      line: redactSecrets(err instanceof Error ? err.message : String(err)),
    };
    this.#state = { ...this.#state, failure };
    this.#exited = true;
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#exited = true;
    this.#clearKillTimer();
    clearTimeout(this.#drainTimer);
    this.#emitStreams(); // ffmpeg failed before printing its output section
    const failure = this.#state.failure ?? undefined;
    const runtimeMs = Math.round(performance.now() - this.#startedAt);
    const exit: FfmpegExit = { code: this.#exitCode, signal: this.#exitSignal, recent: [...this.#state.recent], requested: this.#requested, runtimeMs };
    if (failure) exit.failure = failure;
    const fields = { pid: this.pid, code: exit.code, signal: exit.signal, runtimeMs: exit.runtimeMs };
    // Logged here, once per process, with the final (most telling) cause. A requested stop is
    // routine; a failure seen before it (a decode error mid-stream) is then only debug.
    if (failure && !exit.requested) {
      this.#log.warn({ ...fields, failure: failure.code, line: failure.line }, `ffmpeg failed: ${failure.message}`);
    } else if (!exit.requested) {
      this.#log.info({ ...fields, last: exit.recent.at(-1) }, 'ffmpeg exited unexpectedly');
    } else {
      this.#log.debug({ ...fields, failure: failure?.code }, 'ffmpeg stopped');
    }
    this.#finishedSignal.resolve(); // first: a throwing 'exit' listener must not hang close()
    this.emit('exit', exit);
  }

  #clearKillTimer(): void {
    clearTimeout(this.#killTimer);
  }
}
