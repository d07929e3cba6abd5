/**
 * RTP fixed-header parsing (RFC 3550 §5.1) for the packets ffmpeg sends us over loopback UDP.
 * Pure and defensive: anything arriving on the port that is not a well-formed RTP v2 packet
 * (RTCP, a port scan, a truncated datagram) yields `undefined`, never an exception, so the
 * receive loop can simply skip it.
 */

export interface RtpHeader {
  version: number;
  padding: boolean;
  extension: boolean;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** Where the payload starts: after the fixed header, the CSRC list and any header extension. */
  payloadOffset: number;
  /** Payload bytes, padding excluded. May be 0 (e.g. a keep-alive or padding-only packet). */
  payloadLength: number;
}

export const RTP_FIXED_HEADER_LENGTH = 12;

export function parseRtpHeader(packet: Buffer): RtpHeader | undefined {
  if (packet.length < RTP_FIXED_HEADER_LENGTH) return undefined;
  const b0 = packet[0]!;
  const b1 = packet[1]!;
  const version = b0 >> 6;
  if (version !== 2) return undefined;
  const padding = (b0 & 0x20) !== 0;
  const extension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;

  let offset = RTP_FIXED_HEADER_LENGTH + csrcCount * 4;
  if (extension) {
    // Extension header: 16-bit profile-defined id, 16-bit length in 32-bit words (excluding itself).
    if (offset + 4 > packet.length) return undefined;
    offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  }
  if (offset > packet.length) return undefined;

  let end = packet.length;
  if (padding) {
    // The last byte counts the padding bytes, itself included, so 0 is malformed (RFC 3550 §5.1).
    const count = packet[packet.length - 1]!;
    if (count === 0 || offset + count > packet.length) return undefined;
    end -= count;
  }

  return {
    version,
    padding,
    extension,
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    payloadOffset: offset,
    payloadLength: end - offset,
  };
}

/** The payload as a view into `packet` (no copy): it lives exactly as long as the packet does. */
export function rtpPayload(packet: Buffer, header: RtpHeader): Buffer {
  return packet.subarray(header.payloadOffset, header.payloadOffset + header.payloadLength);
}

/**
 * RTCP sent to an RTP port (a misconfigured -rtcpport, rtcp-mux) must not be read as media.
 * RTCP packet types SR..APP (200–204) occupy the byte where RTP keeps marker + payload type, and
 * read as RTP they would look like marker-set packets with PT 72–76, which no dynamic video or
 * audio PT (96–127) can be. Feedback types (205+) only flow from receivers, never from ffmpeg.
 */
export function isRtcp(packet: Buffer): boolean {
  if (packet.length < 4 || packet[0]! >> 6 !== 2) return false;
  const packetType = packet[1]!;
  return packetType >= 200 && packetType <= 204;
}

