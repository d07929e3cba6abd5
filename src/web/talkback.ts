// Talk: this browser's microphone goes to the camera's speaker on the live view's audio line.

/** Adds the microphone to the offer as its send-and-receive audio; the caller stops it when done. */
export async function offerMicrophone(pc: RTCPeerConnection): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('the browser allows the microphone only over HTTPS (server.tls) or on localhost');
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  try {
    const [track] = mic.getAudioTracks();
    if (!track) throw new Error('no microphone');
    pc.addTransceiver(track, { direction: 'sendrecv', streams: [mic] });
    return mic;
  } catch (err) {
    stopMicrophone(mic);
    throw err;
  }
}

/** Turns the microphone off (the browser's recording indicator with it). */
export function stopMicrophone(mic: MediaStream | undefined): void {
  for (const track of mic?.getTracks() ?? []) track.stop();
}
