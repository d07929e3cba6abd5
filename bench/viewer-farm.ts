/**
 * Child process: werift viewers with Echo-shaped offers (test/helpers/echo-offer.ts) that really
 * connect to a bridge through signed POST /alexa and count the video RTP they receive. Kept out
 * of the benchmark's own process so 50 viewers' SRTP work does not stall its timers, and so that
 * killing it always takes every viewer with it. Driven over IPC by bench/viewers.ts.
 */
import type { SocketOptions, SocketType } from 'node:dgram';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { RTCPeerConnection, RtpPacket } from 'werift';
import { signatureHeaders } from '../src/signing/signature.ts';
import { directive } from '../test/helpers/directives.ts';
import { echoViewer } from '../test/helpers/echo-offer.ts';

export interface FarmTarget {
  url: string;
  secret: string;
}

export type FarmRequest =
  | { op: 'open'; id: number; target: FarmTarget; cameraIds: string[]; count: number; prefix: string; timeoutMs: number }
  | { op: 'snapshot'; id: number }
  | { op: 'closeAll'; id: number };

export interface ViewerCounts {
  sessionId: string;
  /** Video RTP packets received. */
  received: number;
  /** Highest extended sequence number − first + 1: what the sender numbered and sent. */
  expected: number;
}

export type FarmReply =
  | { op: 'opened'; id: number; connected: number; errors: string[]; answerMs: number[] }
  | { op: 'snapshot'; id: number; viewers: ViewerCounts[] }
  | { op: 'closed'; id: number; errors: string[] }
  | { op: 'error'; id: number; message: string };

interface Viewer {
  sessionId: string;
  cameraId: string;
  target: FarmTarget;
  pc: RTCPeerConnection;
  received: number;
  first?: number;
  highest?: number;
  last?: number;
  cycles: number;
  /** POST of the offer → its answer, as the skill Lambda would wait for it. */
  answerMs: number;
}

const RTC = 'Alexa.RTCSessionController';
const viewers: Viewer[] = [];

/**
 * Each viewer here stands for an Echo: a device of its own, with its own CPU and socket buffer.
 * Here 50 share one thread, and while it decrypts one viewer's packets the others' queue up in
 * the kernel: a keyframe (~100 packets) fanned out to 50 viewers at once overflows Linux's
 * default 208 KiB receive buffers now and then (seen as `udpDrops.viewers` in the results), which
 * is the bench's shortcoming, not the bridge's. So every UDP socket of this process (werift's)
 * asks for 4 MiB (the kernel caps it at net.core.rmem_max). werift's bundle imports createSocket
 * by name, hence syncBuiltinESMExports().
 */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
const dgram = createRequire(import.meta.url)('node:dgram') as typeof import('node:dgram');
const createSocket = dgram.createSocket;
Object.assign(dgram, {
  createSocket: (type: SocketType | SocketOptions, listener?: (...args: any[]) => void) =>
    createSocket({ recvBufferSize: RECEIVE_BUFFER_BYTES, ...(typeof type === 'string' ? { type } : type) }, listener),
});
syncBuiltinESMExports();

async function post(target: FarmTarget, body: unknown): Promise<any> {
  const raw = JSON.stringify(body);
  const response = await fetch(`${target.url}/alexa`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signatureHeaders(target.secret, raw) },
    body: raw,
    signal: AbortSignal.timeout(15_000),
  });
  return response.json();
}

function onVideo(viewer: Viewer, rtp: RtpPacket): void {
  const seq = rtp.header.sequenceNumber;
  viewer.received += 1;
  if (viewer.last !== undefined && seq < viewer.last && viewer.last - seq > 0x8000) viewer.cycles += 0x10000;
  else if (viewer.last !== undefined && seq > viewer.last && seq - viewer.last > 0x8000) return; // a late packet from before a wrap
  viewer.last = seq;
  const extended = viewer.cycles + seq;
  viewer.first ??= extended;
  viewer.highest = Math.max(viewer.highest ?? extended, extended);
}

let sessions = 0;

/** One viewer, offered and answered; on failure its peer connection is closed and it is not kept. */
async function openOne(target: FarmTarget, cameraId: string, sessionId: string): Promise<Viewer> {
  const { pc, offer } = await echoViewer();
  const viewer: Viewer = { sessionId, cameraId, target, pc, received: 0, cycles: 0, answerMs: Number.NaN };
  try {
    const sent = performance.now();
    const reply = await post(target, directive(RTC, 'InitiateSessionWithOffer', {
      endpointId: cameraId,
      payload: { sessionId, offer: { format: 'SDP', value: offer } },
    }));
    viewer.answerMs = Math.round(performance.now() - sent);
    if (reply?.event?.header?.name !== 'AnswerGeneratedForSession') throw new Error(`${sessionId}: ${JSON.stringify(reply?.event?.payload)}`);
    await pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
  } catch (err) {
    await pc.close().catch(() => {});
    throw err;
  }
  // After setRemoteDescription: werift swaps in an SSRC-bound receive track while applying it.
  const video = pc.getTransceivers().find((t) => t.kind === 'video');
  video?.receiver.track.onReceiveRtp.subscribe((rtp: RtpPacket) => onVideo(viewer, rtp));
  viewers.push(viewer);
  return viewer;
}

async function open(request: Extract<FarmRequest, { op: 'open' }>): Promise<FarmReply> {
  const errors: string[] = [];
  const opened: Viewer[] = [];
  let next = 0;
  // A few offers at a time, as Echos joining one after another would.
  const worker = async () => {
    for (let i = next++; i < request.count; i = next++) {
      const cameraId = request.cameraIds[i % request.cameraIds.length]!;
      try {
        opened.push(await openOne(request.target, cameraId, `${request.prefix}-${sessions++}`));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, request.count) }, worker));
  const deadline = Date.now() + request.timeoutMs;
  while (opened.some((v) => v.received === 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const v of opened) if (v.received === 0) errors.push(`${v.sessionId}: no video within ${request.timeoutMs} ms`);
  return { op: 'opened', id: request.id, connected: opened.filter((v) => v.received > 0).length, errors, answerMs: opened.map((v) => v.answerMs) };
}

async function closeAll(id: number): Promise<FarmReply> {
  const errors: string[] = [];
  const all = viewers.splice(0);
  await Promise.all(all.map(async (viewer) => {
    try {
      await post(viewer.target, directive(RTC, 'SessionDisconnected', { endpointId: viewer.cameraId, payload: { sessionId: viewer.sessionId } }));
    } catch (err) {
      errors.push(`${viewer.sessionId}: ${(err as Error).message}`);
    }
    await Promise.race([viewer.pc.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 3000))]);
  }));
  return { op: 'closed', id, errors };
}

async function handle(request: FarmRequest): Promise<FarmReply> {
  switch (request.op) {
    case 'open':
      return open(request);
    case 'snapshot':
      return {
        op: 'snapshot',
        id: request.id,
        viewers: viewers.map((v) => ({
          sessionId: v.sessionId,
          received: v.received,
          expected: v.first === undefined || v.highest === undefined ? 0 : v.highest - v.first + 1,
        })),
      };
    case 'closeAll':
      return closeAll(request.id);
  }
}

if (process.send) {
  let queue = Promise.resolve();
  process.on('message', (request: FarmRequest) => {
    queue = queue.then(async () => {
      let reply: FarmReply;
      try {
        reply = await handle(request);
      } catch (err) {
        reply = { op: 'error', id: request.id, message: (err as Error).stack ?? String(err) };
      }
      process.send!(reply);
    });
  });
  // The benchmark went away (or closed the channel): leave at once, taking every viewer along.
  process.on('disconnect', () => process.exit(0));
}
