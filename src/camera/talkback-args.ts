/**
 * ffmpeg for talkback: the viewer's Opus (or G.711) RTP, described by an SDP read from stdin,
 * decoded and re-encoded to the camera's G.711, written raw to stdout. Pure; table-tested.
 */

export type G711 = 'PCMU' | 'PCMA';

/** What the viewer sends: Opus, or G.711 when its offer had no Opus. */
export interface ViewerCodec {
  encoding: 'opus' | G711;
  payloadType: number;
}

export interface TalkbackInput {
  /** 127.0.0.1 UDP port ffmpeg listens on for the Opus RTP. */
  port: number;
  /** The Opus payload type the viewer sends (the offer's). */
  payloadType: number;
  codec: G711;
  /** How long ffmpeg may hold packets to put reordered ones back in order: the jitter buffer. */
  jitterMs?: number;
}

export function talkbackSdp(input: Pick<TalkbackInput, 'port' | 'payloadType'> & { encoding?: ViewerCodec['encoding'] }): string {
  const rtpmap = input.encoding === 'PCMU' || input.encoding === 'PCMA' ? `${input.encoding}/8000` : 'opus/48000/2';
  return [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    's=porchlight talkback',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${input.port} RTP/AVP ${input.payloadType}`,
    `a=rtpmap:${input.payloadType} ${rtpmap}`,
    '',
  ].join('\r\n');
}

export function buildTalkbackArgs(input: TalkbackInput): string[] {
  return [
    '-hide_banner', '-nostats', '-loglevel', 'level+warning',
    // Nothing to probe: the SDP names the codec. No input buffering beyond the jitter buffer.
    '-fflags', 'nobuffer', '-flags', 'low_delay', '-probesize', '32', '-analyzeduration', '0',
    '-max_delay', String((input.jitterMs ?? 60) * 1000),
    '-protocol_whitelist', 'pipe,udp,rtp', '-f', 'sdp', '-i', 'pipe:0',
    '-map', '0:a:0', '-ac', '1', '-ar', '8000',
    '-c:a', input.codec === 'PCMU' ? 'pcm_mulaw' : 'pcm_alaw',
    '-f', input.codec === 'PCMU' ? 'mulaw' : 'alaw',
    '-flush_packets', '1', 'pipe:1',
  ];
}
