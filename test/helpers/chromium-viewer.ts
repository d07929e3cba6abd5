// A real WebRTC viewer for tests: headless Debian Chromium (driven by playwright-core) that
// offers like a browser would and reports what it decoded. Loopback only: see LOOPBACK below.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export interface ViewerOptions {
  /** sendrecv uses Chromium's fake microphone via getUserMedia (a 440 Hz-ish beep). */
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
  '--allow-loopback-in-peer-connection',
  '--webrtc-ip-handling-policy=default_public_and_private_interfaces',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--no-proxy-server',
  // Muted <video> autoplays anyway; <audio> needs this, and without playout there is no audioLevel.
  '--autoplay-policy=no-user-gesture-required',
];

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
    if (audioMode === 'sendrecv') {
      mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    }
    pc = new RTCPeerConnection({ iceServers: [] });
    pc.addTransceiver('video', { direction: 'recvonly' });
    if (audioMode === 'recvonly') pc.addTransceiver('audio', { direction: 'recvonly' });
    if (audioMode === 'sendrecv') pc.addTransceiver(mic.getAudioTracks()[0], { direction: 'sendrecv', streams: [mic] });
    pc.ontrack = (event) => {
      const element = event.track.kind === 'video' ? video : audio;
      element.srcObject = new MediaStream([event.track]);
      element.play().catch(() => {});
      if (event.track.kind === 'video') {
        video.requestVideoFrameCallback((now) => { firstFrameAtMs ??= now; });
      }
    };
    await pc.setLocalDescription();
    await gatheringComplete();
    window.rawOffer = pc.localDescription.sdp;
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
  },
};
</script></body></html>`;

/**
 * LOOPBACK: keep only 127.0.0.1 UDP candidates and point c= lines at 127.0.0.1, so the answerer
 * never targets (or mDNS-resolves) any other address of this machine.
 */
export function loopbackOnly(sdp: string): string {
  const lines = sdp.split(/\r?\n/).filter((line) => line !== '');
  const kept = lines.filter((line) => !line.startsWith('a=candidate:') || / udp \d+ 127\.0\.0\.1 \d+ typ host/i.test(line));
  return kept.map((line) => (line.startsWith('c=IN IP4 ') ? 'c=IN IP4 127.0.0.1' : line)).join('\r\n') + '\r\n';
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export async function launchChromium(options: { extraArgs?: string[] } = {}): Promise<ChromiumBrowser> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(PAGE);
  });
  const port = await listen(server);
  const url = `http://127.0.0.1:${port}/`;
  const userDataDir = await mkdtemp(join(tmpdir(), 'porchlight-chromium-'));
  if (!process.env.NOLS) await writeFile(join(userDataDir, "Local State"), JSON.stringify({ browser: { enabled_labs_experiments: ['enable-webrtc-hide-local-ips-with-mdns@2'] } }));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...ARGS.filter((a) => !(process.env.DROP && a.startsWith(process.env.DROP))), ...(options.extraArgs ?? [])],
      viewport: { width: 640, height: 360 },
      timeout: 30_000,
    });
  } catch (error) {
    server.close();
    await rm(userDataDir, { recursive: true, force: true });
    throw error;
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await context.close().catch(() => {});
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(userDataDir, { recursive: true, force: true, maxRetries: 3 });
    })());

  return {
    async newViewer() {
      const page = await context.newPage();
      await page.goto(url);
      return makeViewer(page);
    },
    close,
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
