import { RTCRtpCodecParameters, type RTCIceServer, type RTCPeerConnectionConfig } from 'werift';
import { DEFAULT_GATHER_TIMEOUT_MS, iceServersForWerift } from './ice-servers.ts';
import { isLocalAddress } from '../util/network-interfaces.ts';

/** werift's peer connection settings for one session: codecs, ICE servers, ports, addresses. */

export interface IceSettings {
  iceServers: RTCIceServer[];
  udpPorts: [number, number];
  /**
   * Advertise only these addresses, and bind to the first when they are this machine's (else to
   * every address: Docker bridge networking); default: every usable interface.
   */
  hostAddresses?: string[];
  /** Never advertise these (container bridges found on the host). */
  excludedAddresses: string[];
  /** The most a STUN query or the TURN allocation may add to an answer (default 1000 ms). */
  gatherTimeoutMs?: number;
}

const H264 = () =>
  new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] });
const OPUS = () => new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });
// For offers without Opus (some Echo offers list only static PTs 0/8): the camera's audio as G.711.
const PCMU = () => new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, payloadType: 0 });
const PCMA = () => new RTCRtpCodecParameters({ mimeType: 'audio/PCMA', clockRate: 8000, channels: 1, payloadType: 8 });

/**
 * werift treats a list without a STUN server as "use stun.l.google.com", and its gathering waits
 * up to iceStunGatherTimeout for it. With no STUN server to ask (see iceServersForWerift) we point
 * it at the discard port on loopback and do not wait, so host gathering takes milliseconds. STUN
 * queries and the TURN allocation (iceTurnConnectTimeout bounds all of it: porchlight's werift
 * patch) each get gatherTimeoutMs at most, so a dead server costs that slice of answerTimeoutMs.
 */
export function peerConfig(ice: IceSettings): RTCPeerConnectionConfig {
  const { servers, stun } = iceServersForWerift(ice.iceServers);
  const gatherSec = (ice.gatherTimeoutMs ?? DEFAULT_GATHER_TIMEOUT_MS) / 1000;
  return {
    codecs: { video: [H264()], audio: [OPUS(), PCMU(), PCMA()] },
    iceServers: stun ? servers : [...servers, { urls: 'stun:127.0.0.1:9' }],
    iceStunGatherTimeout: stun ? gatherSec : 0,
    iceTurnConnectTimeout: gatherSec,
    iceUseIpv6: false,
    icePortRange: ice.udpPorts,
    ...(ice.hostAddresses && {
      iceUseIpv4: false,
      iceAdditionalHostAddresses: ice.hostAddresses,
      // Bound to the first when they are all this machine's; else (Docker bridge networking: the
      // host's address, its published ports forwarded to us) bound to every address.
      ...(ice.hostAddresses.every((address) => isLocalAddress(address)) && { iceInterfaceAddresses: { udp4: ice.hostAddresses[0]! } }),
    }),
  };
}
