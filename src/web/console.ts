// The porchlight console, in the browser: signing in and out, and the page's parts put together.
// Every module here is served as JavaScript, its types stripped at server start, at /<name>.js
// (src/http/console-routes.ts): erasable TypeScript only, and a module imports another by the
// .js name the browser asks for (TypeScript finds the .ts behind it). The state is the one
// ConsoleStore below.
import { ApiClient, Unauthorized } from './api-client.js';
import type { ConsoleStatus } from './console-api.ts';
import { message } from './dom.js';
import { closeLiveUpdates, openLiveUpdates, showLiveState } from './live-updates.js';
import { stopWatching, wireViewerControls } from './live-view.js';
import { findUi, type ConsolePage } from './page.js';
import { clearStatus, renderStatus } from './status-view.js';
import { ConsoleStore } from './store.js';

const TOKEN_KEY = 'porchlight.adminToken';
const NOTICE_MS = 8000;

class ConsoleApp implements ConsolePage {
  readonly ui = findUi();
  readonly store = new ConsoleStore();
  readonly api = new ApiClient(this.store);

  readonly showError = (err: unknown): void => {
    if (err instanceof Unauthorized) return this.signOut('wrong token');
    this.notify(message(err));
  };

  notify(text: string): void {
    const { ui, store } = this;
    ui.notice.textContent = text;
    ui.notice.hidden = false;
    clearTimeout(store.noticeTimer);
    store.noticeTimer = setTimeout(() => (ui.notice.hidden = true), NOTICE_MS);
  }

  start(): void {
    const { ui } = this;
    ui.loginForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const candidate = ui.token.value.trim();
      if (candidate) void this.signIn(candidate);
    });
    ui.logout.addEventListener('click', () => this.signOut());
    wireViewerControls(this);

    // A /#token=… link followed while the page is open changes only the fragment: no reload.
    addEventListener('hashchange', () => {
      const fromLink = tokenFromLink();
      if (fromLink !== undefined) void this.signIn(fromLink, true);
    });
    const fromLink = tokenFromLink();
    const candidate = fromLink ?? localStorage.getItem(TOKEN_KEY);
    if (candidate) void this.signIn(candidate, fromLink !== undefined);
    else this.showLogin();
  }

  /** Signing in: the login form, a remembered token, or /#token=… (taken out of the URL at once). */
  async signIn(candidate: string, fromLink = false): Promise<void> {
    const { ui, store } = this;
    store.token = candidate;
    let status: ConsoleStatus;
    try {
      status = await this.api.request<ConsoleStatus>('/api/status');
    } catch (err) {
      if (err instanceof Unauthorized) {
        // A stale or mistyped link must not cost the token this browser remembered.
        const remembered = localStorage.getItem(TOKEN_KEY);
        if (fromLink && remembered && remembered !== candidate) {
          this.notify('the link\'s token was refused: signed in with the one this browser remembered');
          return this.signIn(remembered);
        }
        return this.signOut('wrong token', candidate === remembered);
      }
      store.token = undefined;
      return this.showLogin(`cannot reach porchlight: ${message(err)}`);
    }
    localStorage.setItem(TOKEN_KEY, candidate);
    ui.login.hidden = true;
    ui.console.hidden = false;
    ui.logout.hidden = false;
    renderStatus(this, status);
    openLiveUpdates(this);
  }

  signOut(error = '', forget = true): void {
    // Called first: its hang-up still goes out with the token.
    void stopWatching(this);
    this.store.token = undefined;
    if (forget) localStorage.removeItem(TOKEN_KEY);
    closeLiveUpdates(this.store);
    clearStatus(this);
    this.showLogin(error);
  }

  showLogin(error = ''): void {
    const { ui } = this;
    ui.console.hidden = true;
    ui.logout.hidden = true;
    ui.login.hidden = false;
    ui.loginError.textContent = error;
    showLiveState(ui, 'offline', '');
    ui.token.value = '';
    ui.token.focus();
  }
}

/** The token of a /#token=… link, taken out of the address bar (and so out of history) at once. */
function tokenFromLink(): string | undefined {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromLink === null) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  return fromLink;
}

new ConsoleApp().start();
