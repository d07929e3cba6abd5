// Watch and Talk: this browser offers like an Echo; the offer goes through the same
// InitiateSessionWithOffer handler the Echo's does (POST /api/cameras/:id/watch).
import { Unauthorized } from './api-client.js';
import type { WatchResponse } from './console-api.ts';
import { message } from './dom.js';
import type { ConsolePage } from './page.js';
import { offerMicrophone, stopMicrophone } from './talkback.js';

export interface Viewing {
  cameraId: string;
  pc: RTCPeerConnection;
  mic?: MediaStream;
  sessionId?: string;
}

const ICE_GATHERING_TIMEOUT_MS = 3000;

/** The offer must carry every candidate: porchlight does not trickle ICE (nor does Alexa). */
function iceGathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    };
    const timer = setTimeout(() => {
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    }, timeoutMs);
    pc.addEventListener('icegatheringstatechange', done);
    done();
  });
}

export async function watch(page: ConsolePage, cameraId: string, talk: boolean): Promise<void> {
  const { ui, store, api } = page;
  await stopWatching(page);
  const own: Viewing = { cameraId, pc: new RTCPeerConnection({ iceServers: [] }) };
  store.viewing = own;
  const { pc } = own;
  ui.viewer.hidden = false;
  ui.viewerTitle.textContent = `${store.cameraName(cameraId)}${talk ? ' (talking)' : ''}`;
  ui.viewerState.textContent = 'connecting…';
  ui.video.muted = true;
  ui.sound.textContent = 'Sound on';
  try {
    pc.addTransceiver('video', { direction: 'recvonly' });
    if (talk) own.mic = await offerMicrophone(pc);
    else pc.addTransceiver('audio', { direction: 'recvonly' });
    const media = new MediaStream();
    ui.video.srcObject = media;
    pc.addEventListener('track', (event) => {
      media.addTrack(event.track);
      ui.video.play().catch(() => {});
    });
    pc.addEventListener('connectionstatechange', () => {
      if (store.viewing !== own) return;
      ui.viewerState.textContent = pc.connectionState;
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') page.notify(`${store.cameraName(cameraId)}: the live view ended (${pc.connectionState})`);
    });
    await pc.setLocalDescription();
    await iceGathered(pc, ICE_GATHERING_TIMEOUT_MS);
    if (store.viewing !== own) return;
    const reply = await api.request<WatchResponse>(`/api/cameras/${encodeURIComponent(cameraId)}/watch`, {
      method: 'POST',
      body: { offer: pc.localDescription?.sdp ?? '', talk },
    });
    own.sessionId = reply.sessionId;
    if (store.viewing !== own) {
      // Stopped while the answer was on its way.
      await api.hangUp(reply.sessionId).catch(() => {});
      return;
    }
    ui.viewer.setAttribute('data-session', reply.sessionId);
    await pc.setRemoteDescription({ type: 'answer', sdp: reply.answer });
    if (talk && !reply.talking) page.notify('someone else is talking through this camera: you can listen only');
  } catch (err) {
    if (store.viewing === own) await stopWatching(page);
    throw err instanceof Unauthorized ? err : new Error(`${store.cameraName(cameraId)}: ${message(err)}`);
  }
}

export async function stopWatching(page: ConsolePage): Promise<void> {
  const { ui, store } = page;
  const was = store.viewing;
  store.viewing = undefined;
  if (!was) return;
  was.pc.close();
  stopMicrophone(was.mic);
  ui.video.srcObject = null;
  ui.viewer.hidden = true;
  ui.viewer.removeAttribute('data-session');
  if (was.sessionId && store.token) await page.api.hangUp(was.sessionId).catch(() => {});
}

/** Stop, Sound on / off, and leaving the page. */
export function wireViewerControls(page: ConsolePage): void {
  const { ui, store } = page;
  ui.stop.addEventListener('click', () => void stopWatching(page));
  ui.sound.addEventListener('click', () => {
    ui.video.muted = !ui.video.muted;
    ui.sound.textContent = ui.video.muted ? 'Sound on' : 'Sound off';
  });
  // Leaving the page ends this console's live view at once rather than at the silence timeout.
  addEventListener('pagehide', () => {
    if (store.viewing?.sessionId && store.token) void page.api.hangUp(store.viewing.sessionId, { keepalive: true }).catch(() => {});
  });
}
