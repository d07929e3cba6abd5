// The porchlight console, in the browser. Served as JavaScript by stripping the types at server
// start (src/http/console-routes.ts): erasable TypeScript only, no imports but `import type`.
import type { ApiError, CameraView, ChecklistItemView, ConsoleStatus, EndedSessionView, OutboxView, RelayView, SessionView, WatchResponse, WsHello } from './console-api.ts';

const TOKEN_KEY = 'porchlight.adminToken';
/** The WebSocket close code for a missing or wrong token (WS_UNAUTHORIZED in console-routes.ts). */
const WS_UNAUTHORIZED = 4401;

class Unauthorized extends Error {}

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
}

const ui = {
  live: byId<HTMLSpanElement>('live'),
  logout: byId<HTMLButtonElement>('logout'),
  login: byId<HTMLElement>('login'),
  loginForm: byId<HTMLFormElement>('login-form'),
  token: byId<HTMLInputElement>('token'),
  loginError: byId<HTMLParagraphElement>('login-error'),
  console: byId<HTMLDivElement>('console'),
  notice: byId<HTMLParagraphElement>('notice'),
  viewer: byId<HTMLElement>('viewer'),
  viewerTitle: byId<HTMLHeadingElement>('viewer-title'),
  video: byId<HTMLVideoElement>('video'),
  viewerState: byId<HTMLSpanElement>('viewer-state'),
  sound: byId<HTMLButtonElement>('sound'),
  stop: byId<HTMLButtonElement>('stop'),
  cameras: byId<HTMLUListElement>('cameras'),
  sessions: byId<HTMLUListElement>('sessions'),
  noSessions: byId<HTMLParagraphElement>('no-sessions'),
  endedBox: byId<HTMLDetailsElement>('ended-box'),
  ended: byId<HTMLUListElement>('ended-sessions'),
  outbox: byId<HTMLElement>('outbox'),
  checklist: byId<HTMLElement>('alexa-checklist'),
};

let token: string | undefined;
let latest: ConsoleStatus | undefined;

// ---------------------------------------------------------------------------------------------
// DOM helpers: text goes in as textContent, never as HTML.

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

function button(label: string, onClick: (button: HTMLButtonElement) => Promise<void>, className = ''): HTMLButtonElement {
  const b = el('button', { type: 'button', ...(className && { class: className }) }, label);
  b.addEventListener('click', () => {
    b.disabled = true;
    onClick(b).catch(showError).finally(() => (b.disabled = false));
  });
  return b;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function showError(err: unknown): void {
  if (err instanceof Unauthorized) return signOut('wrong token');
  notify(message(err));
}

let noticeTimer: number | undefined;
function notify(text: string): void {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (ui.notice.hidden = true), 8000);
}

function bytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function since(iso: string): string {
  const date = new Date(iso);
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return date.toDateString() === new Date().toDateString() ? time : `${date.toLocaleDateString()} ${time}`;
}

// ---------------------------------------------------------------------------------------------
// The API: the admin token on every call.

async function api<T>(path: string, options: { method?: string; body?: unknown; keepalive?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token ?? ''}` };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: options.method ?? 'GET',
    headers,
    cache: 'no-store',
    ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
    ...(options.keepalive && { keepalive: true }),
  });
  if (response.status === 401) throw new Unauthorized('wrong token');
  const json: unknown = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = json as Partial<ApiError>;
    throw new Error(error.reason ?? error.error ?? `HTTP ${response.status}`);
  }
  return json as T;
}

// ---------------------------------------------------------------------------------------------
// Signing in: the login form, a remembered token, or /#token=… (taken out of the URL at once).

async function signIn(candidate: string, fromLink = false): Promise<void> {
  token = candidate;
  let status: ConsoleStatus;
  try {
    status = await api<ConsoleStatus>('/api/status');
  } catch (err) {
    if (err instanceof Unauthorized) {
      // A stale or mistyped link must not cost the token this browser remembered.
      const remembered = localStorage.getItem(TOKEN_KEY);
      if (fromLink && remembered && remembered !== candidate) {
        notify('the link\'s token was refused: signed in with the one this browser remembered');
        return signIn(remembered);
      }
      return signOut('wrong token', candidate === remembered);
    }
    token = undefined;
    return showLogin(`cannot reach porchlight: ${message(err)}`);
  }
  localStorage.setItem(TOKEN_KEY, candidate);
  ui.login.hidden = true;
  ui.console.hidden = false;
  ui.logout.hidden = false;
  render(status);
  openSocket();
}

function signOut(error = '', forget = true): void {
  void stopWatching();
  token = undefined;
  if (forget) localStorage.removeItem(TOKEN_KEY);
  closeSocket();
  // Nothing of what the last token showed stays in the page.
  latest = undefined;
  for (const items of [cameraItems, sessionItems]) {
    for (const item of items.values()) item.root.remove();
    items.clear();
  }
  ui.outbox.replaceChildren();
  ui.checklist.replaceChildren();
  showLogin(error);
}

function showLogin(error = ''): void {
  ui.console.hidden = true;
  ui.logout.hidden = true;
  ui.login.hidden = false;
  ui.loginError.textContent = error;
  setLive('offline', '');
  ui.token.value = '';
  ui.token.focus();
}

// ---------------------------------------------------------------------------------------------
// Live updates: WebSocket /api/ws; the token is its first message (browsers cannot set headers).

let socket: WebSocket | undefined;
let reconnectTimer: number | undefined;
let reconnectDelayMs = 1000;

function setLive(text: string, className: string): void {
  ui.live.textContent = text;
  ui.live.className = `pill ${className}`.trim();
}

function openSocket(): void {
  closeSocket();
  const url = new URL('/api/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url);
  socket = ws;
  ws.addEventListener('open', () => {
    const hello: WsHello = { token: token ?? '' };
    ws.send(JSON.stringify(hello));
  });
  ws.addEventListener('message', (event) => {
    reconnectDelayMs = 1000;
    setLive('live', 'ok');
    render(JSON.parse(String(event.data)) as ConsoleStatus);
  });
  ws.addEventListener('close', (event) => {
    if (socket !== ws) return;
    socket = undefined;
    if (event.code === WS_UNAUTHORIZED) return signOut('wrong token');
    setLive('reconnecting', 'bad');
    reconnectTimer = setTimeout(openSocket, reconnectDelayMs);
    reconnectDelayMs = Math.min(reconnectDelayMs * 2, 15_000);
  });
}

function closeSocket(): void {
  clearTimeout(reconnectTimer);
  const ws = socket;
  socket = undefined;
  ws?.close();
}

// ---------------------------------------------------------------------------------------------
// Rendering. Cards and rows are made once per camera / session and updated in place, so a button
// is never replaced under the user's finger.

interface Item<T> {
  root: HTMLElement;
  update(value: T): void;
}

const cameraItems = new Map<string, Item<CameraView>>();
const sessionItems = new Map<string, Item<SessionView>>();
const endedItems = new Map<string, Item<EndedSessionView>>();

function render(status: ConsoleStatus): void {
  latest = status;
  sync(ui.cameras, cameraItems, status.cameras, cameraItem);
  sync(ui.sessions, sessionItems, status.sessions, sessionItem);
  ui.noSessions.hidden = status.sessions.length > 0;
  sync(ui.ended, endedItems, status.ended ?? [], endedItem);
  ui.endedBox.hidden = !status.ended?.length;
  renderOutbox(status.alexa, status.relay);
  renderChecklist(status.checklist ?? []);
}

function sync<T extends { id: string }>(list: HTMLElement, items: Map<string, Item<T>>, values: T[], make: (value: T) => Item<T>): void {
  const wanted = new Set(values.map((v) => v.id));
  for (const [id, item] of items) {
    if (!wanted.has(id)) {
      item.root.remove();
      items.delete(id);
    }
  }
  for (const value of values) {
    let item = items.get(value.id);
    if (!item) {
      item = make(value);
      items.set(value.id, item);
    }
    item.update(value);
    list.append(item.root); // keeps the server's order
  }
}

function cameraName(id: string): string {
  return latest?.cameras.find((c) => c.id === id)?.name ?? id;
}

function cameraItem(first: CameraView): Item<CameraView> {
  const id = first.id;
  const name = el('strong');
  const kind = el('span', { class: 'pill' });
  const health = el('span', { class: 'pill' });
  const video = el('div', { class: 'muted' });
  const reason = el('div', { class: 'error' });
  const eventLine = el('div', { class: 'muted', 'data-events': '' });
  const recent = el('ul', { class: 'muted recent-events' });
  const recentBox = el('details', {}, el('summary', {}, 'Recent events'), recent);
  const watchButton = button('Watch', () => watch(id, false));
  const talkButton = button('Talk', () => watch(id, true), 'quiet');
  const ringButton = button('Ring', async () => {
    const { status } = await api<{ status: string }>(`/api/cameras/${encodeURIComponent(id)}/doorbell`, { method: 'POST' });
    notify(status === 'folded' ? `${cameraName(id)}: pressed again within the debounce time, one press for Alexa` : `${cameraName(id)}: DoorbellPress sent to Alexa`);
  }, 'quiet');
  const root = el('li', { 'data-camera': id },
    el('div', { class: 'card-title' }, name, kind, health),
    video,
    eventLine,
    recentBox,
    reason,
    el('div', { class: 'actions' }, watchButton, talkButton, ringButton),
  );
  return {
    root,
    update(c) {
      name.textContent = c.name;
      kind.textContent = c.kind;
      health.textContent = c.connectivity === 'OK' ? 'OK' : c.connectivity === 'UNREACHABLE' ? 'unreachable' : 'checking…';
      health.className = `pill health ${c.connectivity === 'OK' ? 'ok' : c.connectivity === 'UNREACHABLE' ? 'bad' : ''}`.trim();
      health.setAttribute('data-health', c.connectivity);
      const facts = [
        c.codec && c.codec.toUpperCase(),
        c.width && c.height && `${c.width}×${c.height}`,
        c.plan,
        c.bitrateKbps !== undefined && `${c.bitrateKbps.toLocaleString()} kb/s`,
        c.stream,
        `${c.viewers} viewer${c.viewers === 1 ? '' : 's'}`,
      ].filter(Boolean);
      video.textContent = facts.join(' · ');
      const talk = c.talkback;
      reason.textContent = c.reason ?? (talk?.capability === 'unsupported' && talk.reason ? `talkback: ${talk.reason}` : '');
      reason.hidden = !reason.textContent;
      talkButton.hidden = !talk || talk.capability === 'unsupported';
      talkButton.title = talk?.talker ? 'someone is talking through this camera now' : '';
      ringButton.hidden = c.kind !== 'doorbell';
      renderEvents(c, eventLine, recentBox, recent);
    },
  };
}

/** Motion, each event source's state, and the last events (kind, source, time). */
function renderEvents(c: CameraView, line: HTMLElement, box: HTMLElement, list: HTMLElement): void {
  const events = c.events;
  line.hidden = !events;
  box.hidden = !events || events.recent.length === 0;
  if (!events) return;
  const parts = [
    events.motion && (events.motion === 'DETECTED' ? 'motion detected' : 'no motion'),
    ...events.sources.map((s) => `${s.name.toUpperCase()}: ${s.state}${s.reason ? ` (${s.reason})` : ''}`),
  ].filter(Boolean);
  line.textContent = parts.join(' · ');
  line.setAttribute('data-motion', events.motion ?? '');
  const rows = events.recent.map((e) => {
    const what = e.kind === 'doorbell' ? 'doorbell press' : `motion ${e.value}`;
    return el('li', {}, `${new Date(e.at).toLocaleTimeString()} ${what} via ${e.source}`);
  });
  list.replaceChildren(...rows);
}

function sessionItem(first: SessionView): Item<SessionView> {
  const camera = el('strong');
  const when = el('span', { class: 'muted' });
  const state = el('span', { class: 'pill' });
  const sent = el('span');
  const origin = el('span', { class: 'pill' });
  const hangUp = button('Hang up', async () => {
    if (viewing?.sessionId === first.id) return stopWatching();
    await api(`/api/sessions/${encodeURIComponent(first.id)}/hangup`, { method: 'POST' });
  }, 'quiet');
  const root = el('li', { 'data-session': first.id }, camera, when, state, sent, origin, hangUp);
  return {
    root,
    update(s) {
      camera.textContent = cameraName(s.camera);
      when.textContent = `since ${since(s.since)}`;
      state.textContent = s.state;
      state.className = `pill ${s.state === 'connected' ? 'ok' : ''}`.trim();
      sent.textContent = bytes(s.bytesSent);
      origin.textContent = s.origin === 'console' ? (viewing?.sessionId === s.id ? 'this console' : 'console') : 'Alexa';
      root.setAttribute('data-origin', s.origin);
    },
  };
}

/** An ended session: when, and why (an ICE failure says what each side offered and what to add). */
function endedItem(first: EndedSessionView): Item<EndedSessionView> {
  const camera = el('strong');
  const when = el('span', { class: 'muted' });
  const outcome = el('span', { class: 'pill' });
  const detail = el('div', { class: 'error' });
  const root = el('li', { 'data-ended': first.id }, camera, when, outcome, detail);
  return {
    root,
    update(s) {
      camera.textContent = cameraName(s.camera);
      when.textContent = `ended ${new Date(s.endedAt).toLocaleTimeString()}`;
      outcome.textContent = s.outcome;
      outcome.className = `pill ${s.detail ? 'bad' : ''}`.trim();
      root.setAttribute('data-outcome', s.outcome);
      detail.textContent = s.detail ?? '';
      detail.hidden = !s.detail;
    },
  };
}

/** The bridge's side of `porchlight skill status`: each step with its fix. */
function renderChecklist(items: ChecklistItemView[]): void {
  ui.checklist.replaceChildren(...items.map((item) => el('li', { 'data-ok': String(item.ok), 'data-id': item.id }, item.what,
    ...(item.ok || !item.fix ? [] : [el('span', { class: 'fix' }, `→ ${item.fix}`)]))));
}

function renderOutbox(alexa: OutboxView, relay: RelayView | undefined): void {
  const facts: [string, string][] = alexa.configured
    ? [
        ['Linked', alexa.linked ? 'yes' : 'no: enable the skill in the Alexa app to link it'],
        ['Queued', String(alexa.queued)],
        ['Delivered', String(alexa.delivered)],
        ['Dropped', String(alexa.dropped)],
        ['Failing', alexa.failing ? `yes, retrying${alexa.lastError ? `: ${alexa.lastError}` : ''}` : 'no'],
        ['Re-link needed', alexa.relinkNeeded ? `YES: disable and enable the skill in the Alexa app${alexa.lastError ? ` (${alexa.lastError})` : ''}` : 'no'],
      ]
    : [['Events', 'off: porchlight skill setup gives the bridge the skill\'s event credentials (or set alexa.clientId and alexa.clientSecret)']];
  if (relay) {
    facts.push(['Relay', `${relay.state} (bridge id ${relay.bridgeId})${relay.lastError ? `: ${relay.lastError}` : ''}`]);
    facts.push(['Through the relay', `${relay.served} answered, ${relay.refused} refused`]);
  }
  ui.outbox.replaceChildren(...facts.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
}

// ---------------------------------------------------------------------------------------------
// Watch and Talk: this browser offers like an Echo; the offer goes through the same
// InitiateSessionWithOffer handler the Echo's does (POST /api/cameras/:id/watch).

interface Viewing {
  cameraId: string;
  pc: RTCPeerConnection;
  mic?: MediaStream;
  sessionId?: string;
}
let viewing: Viewing | undefined;

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

async function watch(cameraId: string, talk: boolean): Promise<void> {
  await stopWatching();
  const own: Viewing = { cameraId, pc: new RTCPeerConnection({ iceServers: [] }) };
  viewing = own;
  const { pc } = own;
  ui.viewer.hidden = false;
  ui.viewerTitle.textContent = `${cameraName(cameraId)}${talk ? ' (talking)' : ''}`;
  ui.viewerState.textContent = 'connecting…';
  ui.video.muted = true;
  ui.sound.textContent = 'Sound on';
  try {
    pc.addTransceiver('video', { direction: 'recvonly' });
    if (talk) {
      if (!navigator.mediaDevices?.getUserMedia) throw new Error('the browser allows the microphone only over HTTPS (server.tls) or on localhost');
      own.mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      const [track] = own.mic.getAudioTracks();
      if (!track) throw new Error('no microphone');
      pc.addTransceiver(track, { direction: 'sendrecv', streams: [own.mic] });
    } else {
      pc.addTransceiver('audio', { direction: 'recvonly' });
    }
    const media = new MediaStream();
    ui.video.srcObject = media;
    pc.addEventListener('track', (event) => {
      media.addTrack(event.track);
      ui.video.play().catch(() => {});
    });
    pc.addEventListener('connectionstatechange', () => {
      if (viewing !== own) return;
      ui.viewerState.textContent = pc.connectionState;
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') notify(`${cameraName(cameraId)}: the live view ended (${pc.connectionState})`);
    });
    await pc.setLocalDescription();
    await iceGathered(pc, 3000);
    if (viewing !== own) return;
    const reply = await api<WatchResponse>(`/api/cameras/${encodeURIComponent(cameraId)}/watch`, {
      method: 'POST',
      body: { offer: pc.localDescription?.sdp ?? '', talk },
    });
    own.sessionId = reply.sessionId;
    if (viewing !== own) {
      // Stopped while the answer was on its way.
      await api(`/api/sessions/${encodeURIComponent(reply.sessionId)}/hangup`, { method: 'POST' }).catch(() => {});
      return;
    }
    ui.viewer.setAttribute('data-session', reply.sessionId);
    await pc.setRemoteDescription({ type: 'answer', sdp: reply.answer });
    if (talk && !reply.talking) notify('someone else is talking through this camera: you can listen only');
  } catch (err) {
    if (viewing === own) await stopWatching();
    throw err instanceof Unauthorized ? err : new Error(`${cameraName(cameraId)}: ${message(err)}`);
  }
}

async function stopWatching(): Promise<void> {
  const was = viewing;
  viewing = undefined;
  if (!was) return;
  was.pc.close();
  for (const track of was.mic?.getTracks() ?? []) track.stop();
  ui.video.srcObject = null;
  ui.viewer.hidden = true;
  ui.viewer.removeAttribute('data-session');
  if (was.sessionId && token) await api(`/api/sessions/${encodeURIComponent(was.sessionId)}/hangup`, { method: 'POST' }).catch(() => {});
}

// ---------------------------------------------------------------------------------------------

function start(): void {
  ui.loginForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const candidate = ui.token.value.trim();
    if (candidate) void signIn(candidate);
  });
  ui.logout.addEventListener('click', () => signOut());
  ui.stop.addEventListener('click', () => void stopWatching());
  ui.sound.addEventListener('click', () => {
    ui.video.muted = !ui.video.muted;
    ui.sound.textContent = ui.video.muted ? 'Sound on' : 'Sound off';
  });
  // Leaving the page ends this console's live view at once rather than at the silence timeout.
  addEventListener('pagehide', () => {
    if (viewing?.sessionId && token) void api(`/api/sessions/${encodeURIComponent(viewing.sessionId)}/hangup`, { method: 'POST', keepalive: true }).catch(() => {});
  });

  // A /#token=… link followed while the page is open changes only the fragment: no reload.
  addEventListener('hashchange', () => {
    const fromLink = tokenFromLink();
    if (fromLink !== undefined) void signIn(fromLink, true);
  });
  const fromLink = tokenFromLink();
  const candidate = fromLink ?? localStorage.getItem(TOKEN_KEY);
  if (candidate) void signIn(candidate, fromLink !== undefined);
  else showLogin();
}

/** The token of a /#token=… link, taken out of the address bar (and so out of history) at once. */
function tokenFromLink(): string | undefined {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromLink === null) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  return fromLink;
}

start();

export {};
