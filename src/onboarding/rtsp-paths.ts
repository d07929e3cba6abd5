/**
 * For a camera that does not speak ONVIF (or refuses it): the RTSP paths cameras commonly serve,
 * by brand, each tried with an RTSP DESCRIBE with the credentials (the health probe,
 * camera/rtsp-probe.ts). The first path in the table's order that answers 200 wins.
 *
 * The first path is tried alone: a wrong password shows there, with one failed login (Dahua and
 * Hikvision lock an account after a few), and a host where nothing speaks RTSP costs one probe.
 * The rest go a few at a time within one deadline.
 */
import type { AuthScheme } from '../camera/rtsp-auth.ts';
import { probeRtsp, type ProbeResult } from '../camera/rtsp-probe.ts';

export interface RtspPathCandidate {
  brand: string;
  /** Path and query, as the camera serves it. */
  path: string;
  stream: 'main' | 'sub';
}

export const RTSP_PATHS: readonly RtspPathCandidate[] = [
  { brand: 'Hikvision', path: '/Streaming/Channels/101', stream: 'main' },
  { brand: 'Hikvision', path: '/Streaming/Channels/102', stream: 'sub' },
  { brand: 'Dahua', path: '/cam/realmonitor?channel=1&subtype=0', stream: 'main' },
  { brand: 'Dahua', path: '/cam/realmonitor?channel=1&subtype=1', stream: 'sub' },
  { brand: 'Reolink', path: '/h264Preview_01_main', stream: 'main' },
  { brand: 'Reolink', path: '/h264Preview_01_sub', stream: 'sub' },
  { brand: 'Reolink', path: '/Preview_01_main', stream: 'main' },
  { brand: 'Axis', path: '/axis-media/media.amp', stream: 'main' },
  { brand: 'Uniview', path: '/media/video1', stream: 'main' },
  { brand: 'Uniview', path: '/media/video2', stream: 'sub' },
  { brand: 'Foscam', path: '/videoMain', stream: 'main' },
  { brand: 'Foscam', path: '/videoSub', stream: 'sub' },
  { brand: 'TP-Link', path: '/stream1', stream: 'main' },
  { brand: 'TP-Link', path: '/stream2', stream: 'sub' },
  { brand: 'Hanwha', path: '/profile2/media.smp', stream: 'main' },
  { brand: 'Vivotek', path: '/live.sdp', stream: 'main' },
  { brand: 'generic', path: '/live', stream: 'main' },
  { brand: 'generic', path: '/h264', stream: 'main' },
  { brand: 'generic', path: '/11', stream: 'main' },
  { brand: 'generic', path: '/12', stream: 'sub' },
  { brand: 'generic', path: '/live/ch00_0', stream: 'main' },
  { brand: 'generic', path: '/ch0_0.h264', stream: 'main' },
  { brand: 'generic', path: '/onvif1', stream: 'main' },
  { brand: 'generic', path: '/video1', stream: 'main' },
  { brand: 'generic', path: '/stream', stream: 'main' },
  { brand: 'generic', path: '/', stream: 'main' },
];

/** Brands that serve another brand's paths (OEM firmware). */
const SAME_PATHS_AS: Record<string, string> = { amcrest: 'dahua', lorex: 'dahua', imou: 'dahua', annke: 'hikvision', hilook: 'hikvision', tapo: 'tp-link', tplink: 'tp-link', wisenet: 'hanwha', samsung: 'hanwha', unv: 'uniview' };

/** The table with the brand's own paths first (any other order kept). Pure. */
export function candidatePaths(brand?: string, table: readonly RtspPathCandidate[] = RTSP_PATHS): RtspPathCandidate[] {
  const key = brand?.trim().toLowerCase().split(/\s+/)[0] ?? '';
  const wanted = SAME_PATHS_AS[key] ?? key;
  const mine = wanted ? table.filter((c) => c.brand.toLowerCase() === wanted) : [];
  const seen = new Set<string>();
  return [...mine, ...table.filter((c) => !mine.includes(c))].filter((c) => !seen.has(c.path) && seen.add(c.path));
}

export interface FindRtspPathOptions {
  /** IP or host name; an IPv6 address without brackets. */
  host: string;
  /** Default 554. */
  port?: number;
  username?: string;
  password?: string;
  /** A brand's paths are tried first (from ONVIF or discovery, when known). */
  brand?: string;
  /** Default RTSP_PATHS. */
  paths?: readonly RtspPathCandidate[];
  /** Probes at once after the first (default 4). */
  concurrency?: number;
  /** The whole search (default 20 000 ms). */
  totalTimeoutMs?: number;
  /** One DESCRIBE (default 3000 ms). */
  probeTimeoutMs?: number;
  signal?: AbortSignal;
}

export type RtspPathFailureCode = 'CREDENTIALS' | 'NO_RTSP' | 'NOT_FOUND' | 'TIMEOUT' | 'ABORTED';

export type RtspPathResult =
  /** `url` is without credentials. */
  | { found: true; url: string; candidate: RtspPathCandidate; status: number; scheme?: AuthScheme; tried: number }
  | { found: false; code: RtspPathFailureCode; reason: string; tried: number };

const DEFAULT_PORT = 554;

/** rtsp://host[:port]<path>, with percent-encoded credentials when given. */
export function candidateUrl(host: string, port: number, path: string, credentials?: { username: string; password?: string }): string {
  const authority = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const url = new URL(`rtsp://${authority}${port === DEFAULT_PORT ? '' : `:${port}`}${path}`);
  if (credentials) {
    url.username = encodeURIComponent(credentials.username);
    url.password = encodeURIComponent(credentials.password ?? '');
  }
  return url.toString();
}

type Verdict = 'found' | 'credentials' | 'no-rtsp' | 'next';

function verdict(result: ProbeResult): Verdict {
  if (result.reachable) return result.status === 200 ? 'found' : 'next';
  if (result.code === 'AUTH_REJECTED' || result.code === 'AUTH_REQUIRED' || result.code === 'AUTH_DOWNGRADE') return 'credentials';
  if (result.code === 'REFUSED' || result.code === 'DNS' || result.code === 'TIMEOUT' || result.code === 'NETWORK' || (result.code === 'PROTOCOL' && result.status === undefined)) return 'no-rtsp';
  return 'next';
}

export async function findRtspPath(options: FindRtspPathOptions): Promise<RtspPathResult> {
  const paths = options.paths ?? candidatePaths(options.brand);
  const port = options.port ?? DEFAULT_PORT;
  const credentials = options.username === undefined ? undefined : { username: options.username, ...(options.password !== undefined && { password: options.password }) };
  const urlOf = (index: number, withCredentials: boolean) => candidateUrl(options.host, port, paths[index]!.path, withCredentials ? credentials : undefined);
  try {
    urlOf(0, false);
  } catch {
    return { found: false, code: 'NO_RTSP', reason: `"${options.host}" is not a host RTSP can be asked at`, tried: 0 };
  }
  if (paths.length === 0) return { found: false, code: 'NOT_FOUND', reason: 'no paths to try', tried: 0 };

  const everything = new AbortController();
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    everything.abort();
  }, options.totalTimeoutMs ?? 20_000);
  const onAbort = () => everything.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) everything.abort();
  const probe = (index: number, signal: AbortSignal): Promise<ProbeResult> =>
    probeRtsp(urlOf(index, true), { timeoutMs: options.probeTimeoutMs ?? 3000, signal })
      .catch((err: unknown): ProbeResult => ({ reachable: false, code: 'NETWORK', reason: (err as Error).message }));
  const where = `${options.host}:${port}`;
  const found = (index: number, result: ProbeResult & { reachable: true }, tried: number): RtspPathResult =>
    ({ found: true, url: urlOf(index, false), candidate: paths[index]!, status: result.status, ...(result.scheme && { scheme: result.scheme }), tried });
  const refused = (tried: number, result: ProbeResult & { reachable: false }): RtspPathResult => ({
    found: false, code: 'CREDENTIALS', tried,
    reason: result.code === 'AUTH_REQUIRED'
      ? `the camera at ${where} asks for a user and password`
      : `the camera at ${where} refused the user and password (${result.status ?? 401}): the password is wrong`,
  });
  const ended = (tried: number): RtspPathResult | undefined => {
    if (timedOut) return { found: false, code: 'TIMEOUT', reason: `no path answered 200 within ${options.totalTimeoutMs ?? 20_000} ms (${tried} tried)`, tried };
    if (everything.signal.aborted) return { found: false, code: 'ABORTED', reason: 'cancelled', tried };
    return undefined;
  };

  try {
    const first = await probe(0, everything.signal);
    const firstVerdict = verdict(first);
    if (first.reachable && firstVerdict === 'found') return found(0, first, 1);
    if (ended(1)) return ended(1)!;
    if (!first.reachable && firstVerdict === 'credentials') return refused(1, first);
    if (!first.reachable && firstVerdict === 'no-rtsp') return { found: false, code: 'NO_RTSP', reason: `nothing answers RTSP at ${where}: ${first.reason}`, tried: 1 };

    let tried = 1;
    let next = 1;
    let winner: { index: number; result: ProbeResult & { reachable: true } } | undefined;
    let refusal: (ProbeResult & { reachable: false }) | undefined;
    const running = new Map<number, AbortController>();
    await new Promise<void>((resolve) => {
      const launch = () => {
        while (!refusal && !everything.signal.aborted && running.size < (options.concurrency ?? 4) && next < paths.length && (winner === undefined || next < winner.index)) {
          const index = next++;
          const own = new AbortController();
          const cancel = () => own.abort();
          everything.signal.addEventListener('abort', cancel, { once: true });
          running.set(index, own);
          tried += 1;
          // Awaited through `running`: the search resolves only once every probe has settled
          // (probe() never rejects).
          void probe(index, own.signal).then((result) => {
            everything.signal.removeEventListener('abort', cancel);
            running.delete(index);
            const said = verdict(result);
            if (result.reachable && said === 'found' && (winner === undefined || index < winner.index)) {
              winner = { index, result };
              // A later path in the table cannot win any more; an earlier one still running can.
              for (const [other, controller] of running) if (other > index) controller.abort();
            } else if (!result.reachable && said === 'credentials' && !own.signal.aborted) {
              refusal = result;
              for (const controller of running.values()) controller.abort();
            }
            launch();
          });
        }
        if (running.size === 0) resolve();
      };
      launch();
    });
    if (refusal) return refused(tried, refusal);
    if (winner) return found(winner.index, winner.result, tried);
    return ended(tried) ?? { found: false, code: 'NOT_FOUND', reason: `none of the ${paths.length} common paths answered 200 at ${where}: give the camera's RTSP URL by hand (its manual or web page names it)`, tried };
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
