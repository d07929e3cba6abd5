import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id      TEXT NOT NULL UNIQUE,
  name            TEXT NOT NULL,
  coalesce_key    TEXT,
  body            TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  expires_at      INTEGER,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT
);
CREATE INDEX IF NOT EXISTS outbox_coalesce ON outbox (coalesce_key);
CREATE TABLE IF NOT EXISTS seen_signatures (
  mac        TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
`;

/**
 * porchlight's durable state in dataDir/porchlight.db (node:sqlite, no native build): Login with
 * Amazon tokens, the event outbox, what was last reported to Alexa. The file holds tokens, so it
 * is created 0600 in a 0700 folder.
 */
export class CloudStore {
  readonly db: DatabaseSync;
  #closed = false;

  private constructor(db: DatabaseSync) {
    this.db = db;
  }

  static open(dataDir: string): CloudStore {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, 'porchlight.db');
    const db = new DatabaseSync(path);
    chmodSync(path, 0o600);
    // WAL: a crash mid-write never loses a committed event; NORMAL sync is durable enough with WAL.
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;');
    db.exec(SCHEMA);
    return new CloudStore(db);
  }

  getJson<T>(key: string): T | undefined {
    const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  setJson(key: string, value: unknown): void {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(value));
  }

  delete(key: string): void {
    this.db.prepare('DELETE FROM settings WHERE key = ?').run(key);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.db.close();
  }
}
