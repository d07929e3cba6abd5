/**
 * Finds the ffmpeg binary: FFMPEG_PATH, then the optional `ffmpeg-static` package, then `ffmpeg`
 * on PATH. ffmpeg-static is an optionalDependency whose install-time download often fails (and
 * npm then drops the package), so its absence is normal, not an error.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

export type FfmpegPathSource = 'FFMPEG_PATH' | 'ffmpeg-static' | 'PATH';

export interface ResolvedFfmpeg {
  path: string;
  source: FfmpegPathSource;
}

export interface FfmpegVersion {
  major: number;
  minor: number;
}

export interface ResolveOptions {
  /** Loads ffmpeg-static's default export (its binary path). Tests replace it. */
  loadStatic?: () => Promise<unknown>;
  platform?: NodeJS.Platform;
}

export async function resolveFfmpegPath(
  env: NodeJS.ProcessEnv = process.env,
  options: ResolveOptions = {},
): Promise<ResolvedFfmpeg | null> {
  const platform = options.platform ?? process.platform;
  const configured = env.FFMPEG_PATH?.trim();
  if (configured) {
    // An explicit setting that points nowhere is a configuration error: falling back to another
    // ffmpeg would hide it behind a different version's behaviour.
    const path = resolve(configured);
    if (!(await isExecutableFile(path))) throw new Error(`FFMPEG_PATH=${configured} is not an executable file`);
    return { path, source: 'FFMPEG_PATH' };
  }

  const staticPath = await loadStaticPath(options.loadStatic ?? importFfmpegStatic);
  if (staticPath !== null && (await isExecutableFile(staticPath))) return { path: staticPath, source: 'ffmpeg-static' };

  const names = platform === 'win32' ? ['ffmpeg.exe', 'ffmpeg'] : ['ffmpeg'];
  // Empty PATH entries mean "current directory" to a shell; never pick up ./ffmpeg that way.
  const dirs = (env.PATH ?? '').split(platform === 'win32' ? ';' : delimiter).filter((dir) => dir !== '' && isAbsolute(dir));
  for (const dir of dirs.slice(0, 256)) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (await isExecutableFile(candidate)) return { path: candidate, source: 'PATH' };
    }
  }
  return null;
}

async function importFfmpegStatic(): Promise<unknown> {
  // A variable specifier keeps tsc from demanding the (usually absent) package's types.
  const specifier = 'ffmpeg-static';
  const mod = (await import(specifier)) as { default?: unknown };
  return mod.default;
}

async function loadStaticPath(load: () => Promise<unknown>): Promise<string | null> {
  try {
    const value = await load();
    // ffmpeg-static exports null on platforms it has no binary for.
    return typeof value === 'string' && value !== '' ? value : null;
  } catch {
    return null; // not installed: the normal case on machines without its download
  }
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first line of `ffmpeg -version`, e.g. "ffmpeg version 5.1.9-0+deb12u1 Copyright …". */
export function ffmpegVersion(path: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      path,
      ['-hide_banner', '-version'],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 256 * 1024, windowsHide: true },
      (error, stdout) => {
        if (error) {
          const reason = error.killed ? `no answer within ${timeoutMs} ms` : error.message;
          reject(new Error(`${path} -version failed: ${reason}`));
          return;
        }
        const first = stdout.split(/\r?\n/, 1)[0]?.trim() ?? '';
        if (!first.startsWith('ffmpeg version')) {
          reject(new Error(`${path} -version printed no "ffmpeg version" line`));
          return;
        }
        resolvePromise(first);
      },
    );
  });
}

/**
 * "ffmpeg version 5.1.9-0+deb12u1", "ffmpeg version n6.1.1", "ffmpeg version 6.0-static …" →
 * {major, minor}. Git snapshots ("N-113000-g…") carry no number: null means "assume current".
 */
export function parseFfmpegVersion(line: string): FfmpegVersion | null {
  const match = /^ffmpeg version n?(\d+)\.(\d+)/i.exec(line.trim());
  if (!match) return null;
  return { major: Number(match[1]), minor: Number(match[2]) };
}
