import { MediaStreamTrack, RTCPeerConnection, type RTCRtpTransceiver } from 'werift';
import { viewerAudioCodec } from './media-sender.ts';
import { peerConfig, type IceSettings } from './peer-config.ts';
import { finalizeAnswer, NegotiationError, normalizeOfferForWerift, type OfferAnalysis } from './sdp.ts';

/** One offer to answer on one set of ICE settings (its own UDP ports). */
export interface AnswerRequest {
  offerSdp: string;
  /** analyzeOffer(offerSdp). */
  analysis: OfferAnalysis;
  ice: IceSettings;
  /** Answer audio sendrecv and hand every RTP packet of the viewer's microphone here (talkback). */
  onViewerAudio?: (packet: Buffer) => void;
}

/** A peer connection that has taken in the offer, its transceivers ready to send. */
export interface AnsweringPeer {
  pc: RTCPeerConnection;
  video: RTCRtpTransceiver;
  /** Absent when the viewer takes no audio porchlight can send. */
  audio: RTCRtpTransceiver | undefined;
}

/** Undoes an attach: the peer connection is about to be closed because the answer failed. */
export type Detach = () => void;

/**
 * werift's own SDP reader is stricter than analyzeOffer in places (an empty section, a malformed
 * candidate, a mid missing from BUNDLE): what it throws while taking in the offer is the offer's
 * fault, so it is refused as a bad offer (INVALID_VALUE), not reported as porchlight's error.
 */
async function offerStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof NegotiationError) throw err;
    throw new NegotiationError('MALFORMED_SDP', `The offer could not be read by the WebRTC stack: ${(err as Error).message}`);
  }
}

/**
 * Follows the viewer's microphone. werift replaces the receive track while applying an offer that
 * signals SSRCs (and announces it on onTrack), so both the transceiver's track after
 * setRemoteDescription and any track announced later are followed, each once.
 */
function viewerAudioListener(pc: RTCPeerConnection, onViewerAudio: ((packet: Buffer) => void) | undefined): (track: MediaStreamTrack) => void {
  const followed = new Set<MediaStreamTrack>();
  const follow = (track: MediaStreamTrack) => {
    if (!onViewerAudio || track.kind !== 'audio' || followed.has(track)) return;
    followed.add(track);
    track.onReceiveRtp.subscribe((rtp) => onViewerAudio(rtp.serialize()));
  };
  if (onViewerAudio) pc.onTrack.subscribe(follow);
  return follow;
}

/**
 * Builds a peer connection for an analysed offer and returns its complete answer (no trickle:
 * every candidate is in it). `attach` gets the peer before the local description is set, since
 * DTLS may finish right after it; it may throw to abandon the answer. Throws NegotiationError
 * when the answer cannot be made; on any failure the attach is undone and the peer connection
 * closed before this settles.
 */
export async function answerOffer(request: AnswerRequest, attach: (peer: AnsweringPeer) => Detach): Promise<string> {
  const { analysis } = request;
  const pc = new RTCPeerConnection(peerConfig(request.ice));
  const followViewerAudio = viewerAudioListener(pc, request.onViewerAudio);
  let detach: Detach | undefined;
  try {
    await offerStep(() => pc.setRemoteDescription({ type: 'offer', sdp: normalizeOfferForWerift(request.offerSdp, analysis) }));
    const transceivers = pc.getTransceivers();
    const video = transceivers.find((t) => t.mLineIndex === analysis.video.mLineIndex);
    if (!video) throw new Error('werift made no transceiver for the offered video');
    video.setDirection('sendonly');
    await video.sender.replaceTrack(new MediaStreamTrack({ kind: 'video' }));
    let audio: RTCRtpTransceiver | undefined;
    const talkback = request.onViewerAudio !== undefined;
    if (viewerAudioCodec(analysis)) {
      audio = transceivers.find((t) => t.mLineIndex === analysis.audio!.mLineIndex);
      audio?.setDirection(talkback ? 'sendrecv' : 'sendonly');
      await audio?.sender.replaceTrack(new MediaStreamTrack({ kind: 'audio' }));
      if (audio) followViewerAudio(audio.receiver.track);
    }
    detach = attach({ pc, video, audio });
    await pc.setLocalDescription(await offerStep(() => pc.createAnswer()));
    return finalizeAnswer(pc.localDescription!.sdp, analysis, { talkback, excludedAddresses: request.ice.excludedAddresses });
  } catch (err) {
    // Detached first: the close announces a 'closed' connection, which is no news for the session.
    detach?.();
    // Closing a peer connection that failed to answer: nothing left to do if that fails too.
    await pc.close().catch(() => {});
    throw err;
  }
}
