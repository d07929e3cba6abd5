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

export interface FfmpegVersionInfo {
  /** The first line of `ffmpeg -version`, e.g. "ffmpeg version 5.1.9-0+deb12u1 Copyright …". */
  line: string;
  /** parseFfmpegVersion of the whole output; null = not recognised (treat as current). */
  version: FfmpegVersion | null;
}

/** The first line of `ffmpeg -version`, e.g. "ffmpeg version 5.1.9-0+deb12u1 Copyright …". */
export async function ffmpegVersion(path: string, timeoutMs = 5000): Promise<string> {
  return (await ffmpegVersionInfo(path, timeoutMs)).line;
}

export function ffmpegVersionInfo(path: string, timeoutMs = 5000): Promise<FfmpegVersionInfo> {
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
        resolvePromise({ line: first, version: parseFfmpegVersion(stdout) });
      },
    );
  });
}

/**
 * libavutil's version at each release, oldest first. Static and distro builds of git snapshots
 * print "ffmpeg version N-47683-g0e8eb07980-static" (@ffmpeg-installer's "4.1" does): their
 * libavutil line still tells which release they grew from.
 */
const LIBAVUTIL_AT_RELEASE: ReadonlyArray<readonly [major: number, minor: number, release: FfmpegVersion]> = [
  [56, 14, { major: 4, minor: 0 }], [56, 22, { major: 4, minor: 1 }], [56, 31, { major: 4, minor: 2 }],
  [56, 51, { major: 4, minor: 3 }], [56, 70, { major: 4, minor: 4 }], [57, 17, { major: 5, minor: 0 }],
  [57, 28, { major: 5, minor: 1 }], [58, 2, { major: 6, minor: 0 }], [58, 29, { major: 6, minor: 1 }],
  [59, 8, { major: 7, minor: 0 }], [59, 39, { major: 7, minor: 1 }], [60, 8, { major: 8, minor: 0 }],
];

/**
 * `ffmpeg -version` output (or its first line) → {major, minor}: "ffmpeg version 5.1.9-0+deb12u1",
 * "n6.1.1", "6.0-static …"; a git snapshot ("N-113000-g…") → the latest release whose libavutil
 * is not newer than its own. null (no number, no libavutil line, or older than 4.0) means
 * "assume current".
 */
export function parseFfmpegVersion(text: string): FfmpegVersion | null {
  const match = /^ffmpeg version n?(\d+)\.(\d+)/i.exec(text.trim());
  if (match) return { major: Number(match[1]), minor: Number(match[2]) };
  const lavu = /^libavutil\s+(\d+)\.\s*(\d+)\./m.exec(text);
  if (!lavu) return null;
  const [major, minor] = [Number(lavu[1]), Number(lavu[2])];
  const grewFrom = LIBAVUTIL_AT_RELEASE.filter(([m, n]) => m < major || (m === major && n <= minor)).at(-1);
  return grewFrom ? { ...grewFrom[2] } : null;
}
