// A real WebRTC viewer for tests: headless Debian Chromium (driven by playwright-core) that
// offers like a browser would and reports what it decoded. Loopback only: see LOOPBACK below.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export interface ViewerOptions {
  /** sendrecv sends Chromium's fake microphone (getUserMedia: a beep every second). Default none. */
  audio?: 'none' | 'recvonly' | 'sendrecv';
}

export interface ViewerStats {
  framesDecoded: number;
  frameWidth?: number;
  frameHeight?: number;
  decoderImplementation?: string;
  codec?: string;
  videoBytesReceived: number;
  audioPacketsReceived: number;
  audioBytesReceived: number;
  audioLevel?: number;
  connectionState: string;
  iceConnectionState: string;
  /** performance.now() in the page when the <video> element got its first frame. */
  firstFrameAtMs?: number;
  /** Every ICE candidate pair Chromium formed, "local -> remote state", to check loopback use. */
  candidatePairs: string[];
}

export interface ChromiumViewer {
  /** Offer SDP after ICE gathering completed (no trickle), carrying only 127.0.0.1 UDP candidates. */
  createOffer(options?: ViewerOptions): Promise<string>;
  setAnswer(sdp: string): Promise<void>;
  stats(): Promise<ViewerStats>;
  /** Polls stats() until predicate holds; rejects with the last stats in the message on timeout. */
  waitFor(predicate: (s: ViewerStats) => boolean, timeoutMs: number): Promise<ViewerStats>;
  /** The page's performance.now(), to measure first-frame latency against firstFrameAtMs. */
  markAnswerTime(): Promise<number>;
  closePeer(): Promise<void>;
  screenshot(path: string): Promise<void>;
  /** Escape hatch for diagnostics (page.evaluate, console events). */
  readonly page: Page;
}

export interface ChromiumBrowser {
  newViewer(): Promise<ChromiumViewer>;
  close(): Promise<void>;
}

export const CHROMIUM_PATH = '/usr/bin/chromium';

// LOOPBACK. The machine has another interface (eth0) and tests must never address it, nor send
// anything off the machine. What Chromium does by default, and what each switch below changes:
// - It binds one UDP socket per interface and, given a 127.0.0.1 remote candidate, checks it from
//   *every* socket: the eth0 socket's check reaches the answerer from eth0's address, the answerer
//   (werift) answers to that address, and a peer-reflexive pair on eth0's address follows. The
//   --webrtc-ip-handling-policy below turns off per-interface sockets: Chromium binds a single
//   0.0.0.0 socket (which the kernel sends to 127.0.0.1 from 127.0.0.1) and advertises it under
//   the default route's address, which loopbackOnly() rewrites to 127.0.0.1. (That also makes
//   --allow-loopback-in-peer-connection, which only adds lo to the enumerated interfaces, moot.)
// - With WebRtcHideLocalIpsWithMdns on, Chromium joins the mDNS group 224.0.0.251 on eth0 (an IGMP
//   report leaves the machine) even when no .local candidate is used. It is turned off through
//   the about:flags entry in Local State, because a second --disable-features switch would
//   replace playwright's own --disable-features list (the last switch wins), not extend it.
// - At start-up Chromium resolves update.googleapis.com and accounts.google.com despite
//   --disable-background-networking: the resolver rules fail every name lookup locally.
// - Not preventable by a switch: Chromium connect()s UDP sockets, sending nothing, to 8.8.8.8:53
//   and [2001:4860:4860::8888]:53 (WebRTC's default-route lookup, unconditional) and :443 (the
//   resolver's IPv6 probe). The route lookup for the IPv6 one makes this kernel
//   (CONFIG_IPV6_ROUTER_PREF, router_probe_interval 60 s) send one neighbour solicitation to
//   the unreachable IPv6 default router, at most once a minute. No datagram leaves.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', // moot under the policy below; kept from the setup that first worked here
  '--webrtc-ip-handling-policy=default_public_and_private_interfaces',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--no-proxy-server',
  // Muted <video> autoplays anyway; <audio> needs this to play out.
  '--autoplay-policy=no-user-gesture-required',
];
const LOCAL_STATE = { browser: { enabled_labs_experiments: ['enable-webrtc-hide-local-ips-with-mdns@2'] } };

// The page side. Plain JS served over http://127.0.0.1 (getUserMedia needs a secure-ish origin,
// which a data: URL is not). Kept as a string so the tsconfig needs no DOM lib.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>porchlight test viewer</title>
<style>body{margin:0;background:#222}video{width:640px;height:360px;background:#000}</style></head>
<body><video id="v" autoplay muted playsinline></video><audio id="a" autoplay></audio>
<script>
let pc = null;
let mic = null;
let firstFrameAtMs;
const video = document.getElementById('v');
const audio = document.getElementById('a');

function gatheringComplete() {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });
}

window.viewer = {
  async createOffer(audioMode) {
    window.viewer.closePeer();
    firstFrameAtMs = undefined;
    // Always capture the fake microphone: Chromium reports decoderImplementation only to a page
    // that is capturing. It is sent only with audio 'sendrecv'.
    mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    pc = new RTCPeerConnection({ iceServers: [] });
    pc.addTransceiver('video', { direction: 'recvonly' });
    if (audioMode === 'recvonly') pc.addTransceiver('audio', { direction: 'recvonly' });
    if (audioMode === 'sendrecv') pc.addTransceiver(mic.getAudioTracks()[0], { direction: 'sendrecv', streams: [mic] });
    pc.ontrack = (event) => {
      const element = event.track.kind === 'video' ? video : audio;
      element.srcObject = new MediaStream([event.track]);
      element.play().catch(() => {});
      if (event.track.kind === 'video') {
        video.requestVideoFrameCallback((now, frame) => { firstFrameAtMs ??= frame.presentationTime ?? now; });
      }
    };
    await pc.setLocalDescription();
    await gatheringComplete();
    window.rawOffer = pc.localDescription.sdp; // as Chromium made it, for debugging via viewer.page
    return pc.localDescription.sdp;
  },
  async setAnswer(sdp) {
    await pc.setRemoteDescription({ type: 'answer', sdp });
  },
  async stats() {
    const s = {
      framesDecoded: 0, videoBytesReceived: 0, audioPacketsReceived: 0, audioBytesReceived: 0,
      connectionState: pc ? pc.connectionState : 'new', iceConnectionState: pc ? pc.iceConnectionState : 'new',
      firstFrameAtMs, candidatePairs: [],
    };
    if (!pc) return s;
    const report = await pc.getStats();
    const address = (id) => { const c = report.get(id); return c ? c.address + ':' + c.port : '?'; };
    for (const r of report.values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'video') {
        s.framesDecoded = r.framesDecoded ?? 0;
        s.frameWidth = r.frameWidth;
        s.frameHeight = r.frameHeight;
        s.decoderImplementation = r.decoderImplementation;
        s.videoBytesReceived = r.bytesReceived ?? 0;
        const codec = report.get(r.codecId);
        if (codec) s.codec = codec.mimeType;
      } else if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        s.audioPacketsReceived = r.packetsReceived ?? 0;
        s.audioBytesReceived = r.bytesReceived ?? 0;
        s.audioLevel = r.audioLevel;
      } else if (r.type === 'candidate-pair') {
        s.candidatePairs.push(address(r.localCandidateId) + ' -> ' + address(r.remoteCandidateId) + ' ' + r.state);
      }
    }
    return s;
  },
  closePeer() {
    if (pc) pc.close();
    if (mic) for (const track of mic.getTracks()) track.stop();
    mic = null;
  },
};
</script></body></html>`;

/**
 * Makes Chromium's offer loopback-only: every IPv4 UDP host candidate gets address 127.0.0.1 (it
 * names the 0.0.0.0 socket, which 127.0.0.1 reaches, see LOOPBACK above), c= lines say 127.0.0.1,
 * and every other candidate (TCP, IPv6, mDNS .local, srflx) goes, so the answerer never targets or
 * mDNS-resolves anything but 127.0.0.1.
 */
export function loopbackOnly(sdp: string): string {
  const out: string[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (line === '') continue;
    if (line.startsWith('c=IN IP4 ')) {
      out.push('c=IN IP4 127.0.0.1');
    } else if (line.startsWith('a=candidate:')) {
      const host = /^(a=candidate:\S+ \d+ udp \d+ )(\d+\.\d+\.\d+\.\d+)( \d+ typ host.*)$/i.exec(line);
      if (host) out.push(`${host[1]}127.0.0.1${host[3]}`);
    } else {
      out.push(line);
    }
  }
  return out.join('\r\n') + '\r\n';
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * Live processes of one Chromium: the browser (found by its user-data dir), its descendants (the
 * zygotes, renderers, GPU and utility processes do not carry that switch) and the crashpad
 * handlers, which daemonize but name the dir in --database (HOME points into it).
 */
async function chromiumProcesses(userDataDir: string): Promise<number[]> {
  const all = new Map<number, { ppid: number; cmdline: string }>();
  for (const name of await readdir('/proc').catch(() => [])) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue; // exited, waiting to be reaped: not running
      all.set(pid, { ppid: Number(ppid), cmdline: (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ') });
    } catch {
      // gone meanwhile
    }
  }
  const ours = new Set([...all].filter(([, p]) => p.cmdline.includes(userDataDir)).map(([pid]) => pid));
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of all) {
      if (!ours.has(pid) && ours.has(p.ppid)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  return [...ours];
}

export interface ChromiumContext {
  /** A persistent context of its own Chromium, launched with the LOOPBACK switches above. */
  readonly context: BrowserContext;
  /** Idempotent: closes the browser, kills what is left of its processes, removes its profile. */
  close(): Promise<void>;
}

/**
 * Headless Debian Chromium with a fresh profile and the LOOPBACK switches, for tests that bring
 * their own pages (launchChromium's viewer page, the console page).
 */
export async function launchChromiumContext(options: { extraArgs?: string[]; viewport?: { width: number; height: number } } = {}): Promise<ChromiumContext> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'porchlight-chromium-'));
  await writeFile(join(userDataDir, 'Local State'), JSON.stringify(LOCAL_STATE));
  // Crash reports, PulseAudio and dconf files would otherwise land in the real ~/.config.
  const home = join(userDataDir, 'home');
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache') };

  let context: BrowserContext | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const pids = await chromiumProcesses(userDataDir);
      const closed = context?.close().catch(() => {});
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      // Children normally die with the browser; make sure, then kill what is left.
      const deadline = Date.now() + 5000;
      let alive = pids;
      while (alive.length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const now = new Set(await chromiumProcesses(userDataDir));
        alive = alive.filter((pid) => now.has(pid));
      }
      for (const pid of alive) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await rm(userDataDir, { recursive: true, force: true, maxRetries: 3 });
    })());

  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...ARGS, ...(options.extraArgs ?? [])],
      env,
      viewport: options.viewport ?? { width: 640, height: 360 },
      timeout: 30_000,
    });
  } catch (error) {
    await close();
    throw error;
  }
  return { context, close };
}

export async function launchChromium(options: { extraArgs?: string[] } = {}): Promise<ChromiumBrowser> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(PAGE);
  });
  const port = await listen(server);
  const url = `http://127.0.0.1:${port}/`;
  const closeServer = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  let browser: ChromiumContext;
  try {
    browser = await launchChromiumContext(options);
  } catch (error) {
    await closeServer();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    async newViewer() {
      const page = await browser.context.newPage();
      await page.goto(url);
      return makeViewer(page);
    },
    close: () =>
      (closing ??= (async () => {
        await browser.close();
        await closeServer();
      })()),
  };
}

function makeViewer(page: Page): ChromiumViewer {
  const stats = (): Promise<ViewerStats> => page.evaluate(() => (globalThis as any).viewer.stats());
  return {
    page,
    async createOffer(options = {}) {
      const sdp: string = await page.evaluate((audio) => (globalThis as any).viewer.createOffer(audio), options.audio ?? 'none');
      return loopbackOnly(sdp);
    },
    async setAnswer(sdp) {
      await page.evaluate((answer) => (globalThis as any).viewer.setAnswer(answer), sdp);
    },
    stats,
    async waitFor(predicate, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const last = await stats();
        if (predicate(last)) return last;
        if (Date.now() >= deadline) {
          throw Object.assign(new Error(`viewer condition not met within ${timeoutMs} ms; last stats: ${JSON.stringify(last)}`), { stats: last });
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    markAnswerTime: () => page.evaluate(() => performance.now()),
    async closePeer() {
      await page.evaluate(() => (globalThis as any).viewer.closePeer());
    },
    async screenshot(path) {
      await page.screenshot({ path });
    },
  };
}
