import type { SignatureLedger } from '../signing/signature.ts';
import type { CloudStore } from './store.ts';

/** The seen_signatures table: proxy signatures accepted within the window, kept across restarts. */
export class StoredSignatureLedger implements SignatureLedger {
  readonly #store: CloudStore;

  constructor(store: CloudStore) {
    this.#store = store;
  }

  alive(nowSec: number): Array<[string, number]> {
    const rows = this.#store.db.prepare('SELECT mac, expires_at FROM seen_signatures WHERE expires_at >= ? ORDER BY expires_at').all(nowSec) as Array<{ mac: string; expires_at: number }>;
    return rows.map((row) => [row.mac, row.expires_at]);
  }

  add(mac: string, expiresAtSec: number): void {
    this.#store.db.prepare('INSERT OR REPLACE INTO seen_signatures (mac, expires_at) VALUES (?, ?)').run(mac, expiresAtSec);
  }

  prune(nowSec: number): void {
    this.#store.db.prepare('DELETE FROM seen_signatures WHERE expires_at < ?').run(nowSec);
  }
}
