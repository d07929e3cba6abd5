import { readFileSync } from 'node:fs';
import { MediaStreamTrack, RTCPeerConnection, useH264, useOPUS, type RTCPeerConnectionConfig } from 'werift';

/**
 * Offers shaped like a real Echo Show's (docs/architecture.md "Echo's offers"), for tests.
 * Candidate addresses are rewritten to 127.0.0.1 so nothing is ever sent off the machine.
 */

export function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/offers/${name}.sdp`, import.meta.url), 'utf8')
    .replace(/^(a=candidate:\S+ \d+ \S+ \d+ )\S+/gm, '$1127.0.0.1')
    .replace(/\r?\n/g, '\r\n');
}

/**
 * A real werift offer rewritten into Echo's shape (docs/architecture.md): H.264 on PT 126 without fmtp,
 * Opus on 111 plus static 0/8 without rtpmap, no msid, port 1 with c=0.0.0.0, uppercase UDP host
 * candidates plus component-2 and TCP ones, no trickle, b=AS.
 */
export function toEchoShape(sdp: string): string {
  return sdp
    .replace(/^o=.*$/m, 'o=- 3911343731 3911343731 IN IP4 0.0.0.0')
    .replace(/^s=.*$/m, 's=a 2 z\r\nc=IN IP4 0.0.0.0')
    .replace(/^a=(extmap-allow-mixed|msid-semantic:.*|msid:.*|ice-options:trickle|end-of-candidates)\r\n/gm, '')
    .replace(/^m=audio \d+ (\S+) \d+$/m, 'm=audio 1 $1 111 0 8')
    .replace(/^m=video \d+ (\S+) \d+$/m, 'm=video 1 $1 126\r\nb=AS:2500')
    .replace(/^a=rtpmap:\d+ OPUS\/48000\/2$/m, 'a=rtpmap:111 opus/48000/2')
    .replace(/^a=rtpmap:\d+ H264\/90000$/m, 'a=rtpmap:126 H264/90000')
    .replace(/^a=fmtp:\d+ .*packetization-mode.*\r\n/m, '')
    .replace(/^a=rtcp-fb:\d+ /gm, 'a=rtcp-fb:126 ')
    .replace(/^a=candidate:\S+ 1 udp (\d+) (\S+) (\d+) typ host.*$/gm, (_line, priority: string, ip: string, port: string) =>
      `a=candidate:1 1 UDP ${priority} ${ip} ${port} typ host\r\n`
      + `a=candidate:1 2 UDP ${Number(priority) - 1} ${ip} ${Number(port) + 1} typ host\r\n`
      + `a=candidate:2 1 TCP 1015021823 ${ip} 9 typ host tcptype active`);
}


/**
 * werift peer settings for a test viewer on loopback: it gathers 127.0.0.1 alone and pairs only
 * with 127.0.0.1. There is no STUN switch in werift (`[]` means Google's), so the STUN server is
 * the discard port on loopback and gathering does not wait for it.
 */
export const LOOPBACK_PEER: RTCPeerConnectionConfig = {
  iceServers: [{ urls: 'stun:127.0.0.1:9' }],
  iceStunGatherTimeout: 0,
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ['127.0.0.1'],
  iceInterfaceAddresses: { udp4: '127.0.0.1' },
  iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === '127.0.0.1',
};

/**
 * An Echo stand-in: a werift viewer whose offer is rewritten to Echo's shape. max-bundle like
 * Echo (werift's default max-compat offerer leaks its unused socket on close, werift 0.25).
 */
export async function echoViewer(): Promise<{ pc: RTCPeerConnection; offer: string; micTrack: MediaStreamTrack }> {
  const pc = new RTCPeerConnection({ ...LOOPBACK_PEER, bundlePolicy: 'max-bundle', codecs: { video: [useH264()], audio: [useOPUS()] } });
  const micTrack = new MediaStreamTrack({ kind: 'audio' });
  pc.addTransceiver(micTrack, { direction: 'sendrecv' });
  pc.addTransceiver('video', { direction: 'sendrecv' });
  await pc.setLocalDescription(await pc.createOffer());
  return { pc, offer: toEchoShape(pc.localDescription!.sdp), micTrack };
}
