import { ffmpegVersionInfo, resolveFfmpegPath, type FfmpegVersion } from '../camera/ffmpeg-path.ts';

/** Which ffmpeg the bridge runs, found once at start-up (and why not, when none works). */
export interface FfmpegStatus {
  path?: string;
  source?: string;
  version?: string;
  /** The release its flags follow (4.x differ); absent = not recognised, treated as current. */
  release?: FfmpegVersion;
  error?: string;
}

/** `override` is used instead of FFMPEG_PATH: tests run another ffmpeg without touching process.env. */
export async function findFfmpeg(override: string | undefined): Promise<FfmpegStatus> {
  const found = await resolveFfmpegPath(override ? { ...process.env, FFMPEG_PATH: override } : process.env);
  if (!found) return { error: 'no ffmpeg: install it (apt install ffmpeg) or set FFMPEG_PATH' };
  try {
    const { line, version } = await ffmpegVersionInfo(found.path);
    return { path: found.path, source: found.source, version: line, ...(version && { release: version }) };
  } catch (err) {
    return { path: found.path, source: found.source, error: `ffmpeg at ${found.path} does not run: ${(err as Error).message}` };
  }
}
