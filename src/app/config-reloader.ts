import { createHash } from 'node:crypto';
import { watch, type FSWatcher, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { ConfigChanges } from './config-changes.ts';

/**
 * Re-reads the configuration file and applies it to the running bridge: on SIGHUP (main.ts),
 * when the file changes on disk (watched, debounced), and after porchlight saved an edit. A file
 * that no longer validates is refused with its fields named, and the running cameras are kept.
 * Reloads run one at a time; a file whose bytes did not change is not applied again.
 */

export interface ConfigReloaderOptions {
  /** The file to watch: the one the bridge started with, or where the first save will create it. */
  path: string;
  /** Reads and checks the file as start-up does (throws ConfigError). */
  load: (path: string) => Config;
  apply: (config: Config) => Promise<ConfigChanges>;
  log: Logger;
  /** Editors write a file in several steps: wait this long after the last change (default 300 ms). */
  debounceMs?: number;
}

export type ReloadReason = 'sighup' | 'file-changed' | 'saved';

export type ReloadResult =
  | { ok: true; changes: ConfigChanges | undefined }
  | { ok: false; problems: string[] };

export class ConfigReloader {
  readonly #options: ConfigReloaderOptions;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  /** The bytes last applied (or found at start): the same bytes again are no change. */
  #appliedDigest: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: ConfigReloaderOptions) {
    this.#options = options;
    this.#appliedDigest = this.#digest();
  }

  /** Watches the file's folder (editors replace the file: a watch on the file itself would be lost). */
  watch(): void {
    if (this.#watcher || this.#closed) return;
    const name = basename(this.#options.path);
    try {
      this.#watcher = watch(dirname(this.#options.path), (_event, changed) => {
        if (changed === null || changed.toString() === name) this.#changed();
      });
      this.#watcher.on('error', (err) => this.#options.log.warn({ err, path: this.#options.path }, 'cannot watch the configuration file any more: send SIGHUP after editing it'));
    } catch (err) {
      this.#options.log.warn({ path: this.#options.path, reason: (err as NodeJS.ErrnoException).code ?? String(err) }, 'cannot watch the configuration file: send SIGHUP after editing it');
    }
  }

  /** Reads the file and applies it, after any reload in progress. Never throws. */
  reload(reason: ReloadReason): Promise<ReloadResult> {
    const run = this.#queue.then(() => this.#reload(reason));
    this.#queue = run.catch(() => {});
    return run;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #changed(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      if (!this.#closed && this.#digest() !== this.#appliedDigest) void this.reload('file-changed');
    }, this.#options.debounceMs ?? 300);
  }

  async #reload(reason: ReloadReason): Promise<ReloadResult> {
    const { path, log } = this.#options;
    const digest = this.#digest();
    if (this.#closed) return { ok: true, changes: undefined };
    let config: Config;
    try {
      config = this.#options.load(path);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [String((err as Error).message ?? err)];
      log.error({ path, reason, problems }, 'the configuration file does not validate: not applied, the running cameras are kept');
      return { ok: false, problems };
    }
    try {
      const changes = await this.#options.apply(config);
      this.#appliedDigest = digest;
      return { ok: true, changes };
    } catch (err) {
      log.error({ err, path, reason }, 'applying the configuration failed');
      return { ok: false, problems: [`applying the configuration failed: ${(err as Error).message}`] };
    }
  }

  #digest(): string | undefined {
    try {
      return createHash('sha256').update(readFileSync(this.#options.path)).digest('hex');
    } catch {
      return undefined;
    }
  }
}
