/**
 * The benchmark's native anchor (issue 15): a minimal RTP forwarder on node-datachannel
 * (libdatachannel: ICE, DTLS and SRTP in C++), run as a process of its own so its CPU can be read
 * from /proc like the bridge's. It speaks just enough of the bridge's surface for
 * bench/viewer-farm.ts: POST /alexa with InitiateSessionWithOffer (→ an answer) and
 * SessionDisconnected, and GET /metrics with the RTP counters bench/cpu-load.ts reads.
 *
 * Per camera one ffmpeg copies the camera's H.264 to a loopback UDP port, as porchlight's does;
 * every packet is then handed to each open viewer track with the viewer's payload type and an
 * SSRC of its own written in place. That is all a forwarder must do, so the per-viewer cost
 * measured here is libdatachannel's send path: the floor porchlight's is compared with.
 *
 *   scripts/node.sh bench/native-forwarder.ts '<json: { cameras: [{ id, url }], udpPorts: "a-b" }>'
 * prints `READY http://127.0.0.1:<port>` on stdout; leaves on SIGTERM or when stdin closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import nodeDataChannel from 'node-datachannel';
import * as sdpTransform from 'sdp-transform';

interface NativeConfig {
  cameras: Array<{ id: string; url: string }>;
  udpPorts: string;
}

interface Viewer {
  pc: nodeDataChannel.PeerConnection;
  track: nodeDataChannel.Track;
  payloadType: number;
  ssrc: number;
  open: boolean;
}

interface Source {
  id: string;
  ffmpeg: ChildProcess;
  socket: Socket;
  viewers: Map<string, Viewer>;
  packets: number;
  bytes: number;
}

/** The offer's video m-line: its mid and the first H.264 payload type (what porchlight picks too). */
export function videoOfOffer(offer: string): { mid: string; payloadType: number } | undefined {
  const media = sdpTransform.parse(offer).media.find((m) => m.type === 'video');
  const h264 = media?.rtp.find((r) => r.codec.toUpperCase() === 'H264');
  if (!media || !h264) return undefined;
  return { mid: String(media.mid ?? '0'), payloadType: h264.payload };
}

/** Writes a viewer's payload type (keeping the marker bit) and SSRC into an RTP packet, in place. */
export function stampRtp(packet: Buffer, payloadType: number, ssrc: number): void {
  packet[1] = (packet[1]! & 0x80) | payloadType;
  packet.writeUInt32BE(ssrc, 8);
}

function ffmpegArgs(url: string, port: number): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', url, '-map', '0:v:0', '-c', 'copy', '-f', 'rtp', `rtp://127.0.0.1:${port}?pkt_size=1200`];
}

async function startSource(id: string, url: string): Promise<Source> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const ffmpeg = spawn('ffmpeg', ffmpegArgs(url, socket.address().port), { stdio: ['ignore', 'ignore', 'inherit'] });
  const source: Source = { id, ffmpeg, socket, viewers: new Map(), packets: 0, bytes: 0 };
  socket.on('message', (packet) => {
    source.packets += 1;
    source.bytes += packet.length;
    for (const viewer of source.viewers.values()) {
      if (!viewer.open) continue;
      stampRtp(packet, viewer.payloadType, viewer.ssrc);
      viewer.track.sendMessageBinary(packet); // copied into libdatachannel before it returns
    }
  });
  return source;
}

const config = JSON.parse(process.argv[2] ?? '{}') as NativeConfig;
const [portBegin, portEnd] = config.udpPorts.split('-').map(Number) as [number, number];
const sources = new Map<string, Source>();
for (const camera of config.cameras) sources.set(camera.id, await startSource(camera.id, camera.url));
let nextSsrc = 0x10000;

function answer(source: Source, sessionId: string, offer: string): Promise<string> {
  const video = videoOfOffer(offer);
  if (!video) throw new Error('no H.264 video in the offer');
  const pc = new nodeDataChannel.PeerConnection(sessionId, { iceServers: [], bindAddress: '127.0.0.1', portRangeBegin: portBegin, portRangeEnd: portEnd });
  const description = new nodeDataChannel.Video(video.mid, 'SendOnly');
  description.addH264Codec(video.payloadType);
  const ssrc = nextSsrc++;
  description.addSSRC(ssrc, 'native', 'native', 'video');
  const track = pc.addTrack(description);
  const viewer: Viewer = { pc, track, payloadType: video.payloadType, ssrc, open: false };
  track.onOpen(() => { viewer.open = true; });
  track.onClosed(() => { viewer.open = false; });
  source.viewers.set(sessionId, viewer);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gathering took over 5 s')), 5000);
    pc.onGatheringStateChange((state) => {
      if (state !== 'complete') return;
      clearTimeout(timer);
      resolve(pc.localDescription()!.sdp);
    });
    pc.setRemoteDescription(offer, 'offer');
  });
}

function hangUp(sessionId: string): void {
  for (const source of sources.values()) {
    const viewer = source.viewers.get(sessionId);
    if (!viewer) continue;
    source.viewers.delete(sessionId);
    viewer.open = false;
    viewer.track.close();
    viewer.pc.close();
  }
}

function metricsText(): string {
  const lines: string[] = [];
  for (const s of sources.values()) {
    lines.push(`porchlight_rtp_packets_total{camera="${s.id}",kind="video"} ${s.packets}`);
    lines.push(`porchlight_rtp_bytes_total{camera="${s.id}",kind="video"} ${s.bytes}`);
  }
  return `${lines.join('\n')}\n`;
}

async function alexa(body: any): Promise<unknown> {
  const name = body?.directive?.header?.name;
  const endpointId = body?.directive?.endpoint?.endpointId;
  const sessionId = body?.directive?.payload?.sessionId;
  if (name === 'SessionDisconnected') {
    hangUp(sessionId);
    return { event: { header: { name: 'SessionDisconnected' }, payload: { sessionId } } };
  }
  const source = sources.get(endpointId);
  if (name !== 'InitiateSessionWithOffer' || !source) return { event: { header: { name: 'ErrorResponse' }, payload: { type: 'NO_SUCH_ENDPOINT' } } };
  const sdp = await answer(source, sessionId, body.directive.payload.offer.value);
  return { event: { header: { name: 'AnswerGeneratedForSession' }, payload: { answer: { format: 'SDP', value: sdp } } } };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

const server = createServer((request: IncomingMessage, response: ServerResponse) => {
  const reply = (status: number, type: string, text: string) => response.writeHead(status, { 'content-type': type }).end(text);
  if (request.method === 'GET' && request.url === '/metrics') return reply(200, 'text/plain', metricsText());
  if (request.method !== 'POST' || request.url !== '/alexa') return reply(404, 'text/plain', 'not found');
  readBody(request)
    .then((raw) => alexa(JSON.parse(raw)))
    .then((event) => reply(200, 'application/json', JSON.stringify(event)))
    .catch((err: unknown) => reply(500, 'text/plain', (err as Error).message));
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`READY http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const id of [...sources.values()].flatMap((s) => [...s.viewers.keys()])) hangUp(id);
  // Reaped before leaving, so no ffmpeg outlives the forwarder even as a zombie.
  await Promise.all([...sources.values()].map((source) => {
    source.socket.close();
    if (source.ffmpeg.exitCode !== null || source.ffmpeg.signalCode !== null) return undefined;
    const exited = new Promise((resolve) => source.ffmpeg.once('exit', resolve));
    source.ffmpeg.kill('SIGKILL');
    return exited;
  }));
  server.close();
  nodeDataChannel.cleanup();
  process.exit(0);
}
const stopNow = () => void stop();
process.once('SIGTERM', stopNow);
process.once('SIGINT', stopNow);
process.stdin.on('end', stopNow).on('error', stopNow).resume();
