import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { App, type AppOptions } from '../../src/app/app.ts';
import { installSrtpKeyCache } from '../../src/webrtc/srtp-key-cache.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { withSecrets } from '../../src/config/secrets.ts';
import { createLogger } from '../../src/log.ts';
import { signatureHeaders } from '../../src/signing/signature.ts';

export const PROXY_SECRET = 'test-proxy-secret-0123456789abcdef';
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestBridge {
  app: App;
  url: string;
  dir: string;
  /** Every log line the bridge wrote, raw. */
  logText(): string;
  /** POSTs a body to /alexa, signed unless told otherwise. */
  postAlexa(body: unknown, options?: { headers?: Record<string, string>; unsigned?: boolean; raw?: string | Buffer }): Promise<{ status: number; json: any; text: string }>;
  close(): Promise<void>;
}

/**
 * A real bridge on 127.0.0.1:0 with a config file written to a fresh temp dir, or to `dir` to
 * restart on an earlier bridge's data (the caller then removes it).
 */
export async function startBridge(config: Record<string, unknown>, options: { dir?: string; app?: AppOptions } = {}): Promise<TestBridge> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'porchlight-test-'));
  const path = join(dir, 'porchlight.yaml');
  const server = { host: '127.0.0.1', port: 0, proxySecret: PROXY_SECRET, adminToken: ADMIN_TOKEN, ...(config.server as object) };
  writeFileSync(path, stringify({ dataDir: join(dir, 'data'), ...config, server }));
  const { config: file, source } = loadConfigFile(path, {});
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  // As main.ts does for the real bridge (process-wide, idempotent).
  installSrtpKeyCache();
  const app = new App(withSecrets(file, source), createLogger({ level: 'debug', destination }), options.app);
  const url = await app.start();
  return {
    app,
    url,
    dir,
    logText: () => lines.join(''),
    async postAlexa(body, options = {}) {
      const raw = options.raw ?? JSON.stringify(body);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        ...(options.unsigned ? {} : signatureHeaders(PROXY_SECRET, raw)),
        ...options.headers,
      };
      const response = await fetch(`${url}/alexa`, { method: 'POST', headers, body: raw });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json, text };
    },
    async close() {
      await app.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
