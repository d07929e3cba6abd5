/** The log: readable lines at a terminal, JSON with level names elsewhere, secrets censored in both. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger, logFormat, type LogFormat } from '../src/log.ts';
import { until } from './helpers/until.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'porchlight-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Colours and the pty's carriage returns removed: what a person reads. */
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');
const PRETTY_LINE = /^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): /;

function capture(format: LogFormat) {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _e, done) { lines.push(chunk.toString()); done(); } });
  return { log: createLogger({ level: 'debug', format, destination }), text: () => plain(lines.join('')) };
}

describe('log format', () => {
  test('PORCHLIGHT_LOG_FORMAT wins; otherwise pretty on a TTY, JSON when piped (Docker, systemd, files)', () => {
    assert.equal(logFormat({}, true), 'pretty');
    assert.equal(logFormat({}, false), 'json');
    assert.equal(logFormat({}, undefined), 'json');
    assert.equal(logFormat({ PORCHLIGHT_LOG_FORMAT: '' }, true), 'pretty');
    assert.equal(logFormat({ PORCHLIGHT_LOG_FORMAT: 'json' }, true), 'json');
    assert.equal(logFormat({ PORCHLIGHT_LOG_FORMAT: 'pretty' }, false), 'pretty');
    assert.throws(() => logFormat({ PORCHLIGHT_LOG_FORMAT: 'text' }, true), /PORCHLIGHT_LOG_FORMAT must be json or pretty, not "text"/);
  });

  test('JSON lines carry the level name', () => {
    const { log, text } = capture('json');
    log.warn({ cameraId: 'front' }, 'camera stream failed');
    const entry = JSON.parse(text());
    assert.equal(entry.level, 'warn');
    assert.equal(entry.msg, 'camera stream failed');
  });

  test('pretty lines: time, level name, component/camera/session, message, the other fields on the same line', async () => {
    const { log, text } = capture('pretty');
    log.child({ component: 'webrtc' }).child({ cameraId: 'front', sessionId: 's-1' }).info({ viewer: 'host/udp' }, 'session started');
    log.debug('plain message');
    // A camera or viewer supplied this text: it must not clear or recolour the terminal.
    log.child({ component: 'camera' }).warn('bad \x1b[2Jframe');
    const lines = (await until('three lines', () => text().split('\n').length > 3 && text(), 2000)).trimEnd().split('\n');
    assert.match(lines[0]!, PRETTY_LINE);
    assert.match(lines[0]!, /INFO: \[webrtc camera=front session=s-1\] session started \{"viewer":"host\/udp"\}$/);
    assert.match(lines[1]!, /DEBUG: plain message$/);
    assert.match(lines[2]!, /WARN: \[camera\] bad \[2Jframe$/);
    assert.ok(!text().includes('"pid"') && !text().includes('"hostname"'));
  });

  for (const format of ['json', 'pretty'] as const) {
    test(`${format}: camera URLs, bearer tokens, proxySecret and secrets in error messages are censored`, async () => {
      const { log, text } = capture(format);
      log.info({ url: 'rtsp://admin:hunter2-url@cam.local/stream' }, 'opening rtsp://admin:hunter2-msg@cam.local/stream');
      log.warn('upstream said: Authorization: Bearer tok-abc.def');
      log.info({ proxySecret: 'ps-top-level', server: { proxySecret: 'ps-nested' } }, 'configuration loaded');
      log.error({ err: new Error('DESCRIBE rtsp://admin:hunter2-err@cam.local/ failed; password=pw-in-err') }, 'camera stream failed');
      await until('four entries', () => text().includes('camera stream failed'), 2000);
      const out = text();
      for (const secret of ['hunter2-url', 'hunter2-msg', 'tok-abc.def', 'ps-top-level', 'ps-nested', 'hunter2-err', 'pw-in-err']) {
        assert.ok(!out.includes(secret), `${secret} in the ${format} log:\n${out}`);
      }
      // Censored, not dropped: the rest of each line is still there.
      assert.match(out, /rtsp:\/\/admin:\*\*\*@cam\.local\/stream/);
      assert.match(out, /Bearer \*\*\*/);
      assert.match(out, /DESCRIBE rtsp:\/\/admin:\*\*\*@cam\.local\/ failed; password=\*\*\*/);
      if (format === 'json') assert.deepEqual(out.trim().split('\n').map((l) => JSON.parse(l).level), ['info', 'warn', 'info', 'error']);
      else assert.ok(out.includes('ERROR: camera stream failed'));
    });
  }

  test('every string field is censored: nested objects, arrays, child bindings, an error\'s own fields and cause', async () => {
    const { log, text } = capture('json');
    const child = log.child({ camera: { url: 'rtsp://op:b1nd@ng@cam/x' } });
    const err = Object.assign(new Error('SETUP failed', { cause: new Error('DESCRIBE rtsp://op:c@use@cam/') }), { uri: 'rtsp://op:own@field@cam/' });
    child.warn({ uri: 'rtsp://op:p@ss:w0rd@cam/trackID=1', tracks: [{ control: 'rtsp://cam/t?pwd=arr4y' }], err }, 'backchannel: camera refused SETUP');
    await until('the entry', () => text().includes('refused SETUP'), 2000);
    const out = text();
    for (const secret of ['b1nd', 'p@ss', 'w0rd', 'arr4y', 'c@use', 'own@field']) assert.ok(!out.includes(secret), `${secret} in the log:\n${out}`);
    const entry = JSON.parse(out);
    assert.equal(entry.camera.url, 'rtsp://op:***@cam/x');
    assert.equal(entry.uri, 'rtsp://op:***@cam/trackID=1');
    assert.equal(entry.tracks[0].control, 'rtsp://cam/t?pwd=***');
    assert.equal(entry.err.uri, 'rtsp://op:***@cam/');
  });

  test('an unknown PORCHLIGHT_LOG_LEVEL is named', () => {
    assert.throws(() => createLogger({ level: 'verbose', format: 'json', destination: new Writable({ write: (_c, _e, done) => done() }) }), /must be one of trace, debug, info, warn, error, fatal, silent, not "verbose"/);
  });
});

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** The environment of `npm start` on the embedded demo camera, without the caller's PORCHLIGHT_* settings. */
function bridgeEnv(name: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PORCHLIGHT_')));
  return { ...env, PORCHLIGHT_HOST: '127.0.0.1', PORCHLIGHT_PORT: '0', PORCHLIGHT_DATA_DIR: join(dir, name), ...extra };
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * Runs the bridge with stdout a pipe, or under a pseudo-terminal (util-linux `script`) as at a
 * terminal. Once `until` matches, it is stopped the way a person stops it: Ctrl-C on the terminal,
 * SIGINT when piped. Killed outright after the deadline (the pty's hang-up ends the bridge too).
 */
function runBridge(tty: boolean, env: NodeJS.ProcessEnv, options: { args?: string[]; until?: RegExp } = {}): Promise<Run> {
  const args = [MAIN, ...(options.args ?? [])];
  const child = tty
    ? spawn('script', ['-qfec', `exec ${[process.execPath, ...args].map(quote).join(' ')}`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let stopping = false;
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the bridge did not finish:\n${out}\n${err}`));
    }, 15_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (!stopping && options.until?.test(plain(out))) {
        stopping = true;
        if (tty) child.stdin.write('\x03');
        else child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, out: plain(out), err: plain(err) });
    });
  });
}

describe('the bridge\'s own output', () => {
  test('at a terminal: readable lines, no JSON, no generated secret; Ctrl-C logs the shutdown', { skip: !HAS_SCRIPT && 'no util-linux script' }, async () => {
    const run = await runBridge(true, bridgeEnv('tty', {}), { until: /porchlight listening/ });
    assert.equal(run.code, 0, run.out + run.err);
    const lines = run.out.split('\n').filter((l) => l.startsWith('['));
    assert.ok(lines.length >= 4, run.out);
    for (const line of lines) assert.match(line, PRETTY_LINE);
    assert.ok(!run.out.includes('{"level"'), run.out);
    assert.match(run.out, /INFO: configuration loaded \{"config":"embedded demo","cameras":\["demo"\]\}/);
    assert.match(run.out, /WARN: generated proxySecret/);
    assert.match(run.out, /INFO: porchlight listening \{"address":"http:\/\/127\.0\.0\.1:\d+"\}/);
    assert.match(run.out, /INFO: shutting down \{"signal":"SIGINT"\}/);
    const { proxySecret, adminToken } = JSON.parse(readFileSync(join(dir, 'tty', 'secrets.json'), 'utf8'));
    assert.ok(!run.out.includes(proxySecret) && !run.out.includes(adminToken), 'a generated secret was printed');
  });

  test('piped: JSON lines with level names; PORCHLIGHT_LOG_FORMAT forces either format', async () => {
    const piped = await runBridge(false, bridgeEnv('piped', {}), { until: /porchlight listening/ });
    assert.equal(piped.code, 0, piped.err);
    const entries = piped.out.trim().split('\n').map((line) => JSON.parse(line));
    assert.ok(entries.some((e) => e.level === 'warn' && /^generated proxySecret/.test(e.msg)));
    assert.ok(entries.some((e) => e.level === 'info' && e.msg === 'shutting down'));
    assert.ok(entries.every((e) => typeof e.level === 'string'));

    const forcedPretty = await runBridge(false, bridgeEnv('forced-pretty', { PORCHLIGHT_LOG_FORMAT: 'pretty' }), { until: /porchlight listening/ });
    assert.equal(forcedPretty.code, 0, forcedPretty.err);
    assert.match(forcedPretty.out, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: configuration loaded/);
    if (HAS_SCRIPT) {
      const forcedJson = await runBridge(true, bridgeEnv('forced-json', { PORCHLIGHT_LOG_FORMAT: 'json' }), { until: /porchlight listening/ });
      assert.equal(forcedJson.code, 0, forcedJson.out);
      assert.equal(JSON.parse(forcedJson.out.split('\n')[0]!).msg, 'configuration loaded');
    }
  });

  test('startup failures are said plainly in both formats', async () => {
    const badConfig = join(dir, 'bad.yaml');
    writeFileSync(badConfig, 'cameras:\n  - id: a\n    name: A\n    url: http://admin:secret123@cam/video\n');
    const busy = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => busy.once('listening', resolve));
    after(() => busy.close());
    const busyPort = String((busy.address() as AddressInfo).port);
    for (const tty of HAS_SCRIPT ? [true, false] : [false]) {
      const format = tty ? 'pretty' : 'json';
      // Under `script` stderr reaches the same terminal, so the message is in `out`.
      const said = (run: Run) => run.out + run.err;
      const config = await runBridge(tty, bridgeEnv(`bad-config-${format}`, {}), { args: ['--config', badConfig] });
      assert.equal(config.code, 1, format);
      assert.match(said(config), /^porchlight: invalid configuration \(.*bad\.yaml\):\n\s+cameras\[0\]\.url: must be rtsp:\/\/, rtsps:\/\/ or file:/m, format);
      assert.ok(!said(config).includes('secret123'), format);

      const level = await runBridge(tty, bridgeEnv(`bad-level-${format}`, { PORCHLIGHT_LOG_LEVEL: 'verbose' }));
      assert.equal(level.code, 1, format);
      assert.match(said(level), /^porchlight: PORCHLIGHT_LOG_LEVEL must be one of .*, not "verbose"/m, format);

      const port = await runBridge(tty, bridgeEnv(`busy-port-${format}`, { PORCHLIGHT_PORT: busyPort }));
      assert.equal(port.code, 1, format);
      if (tty) assert.match(port.out, /FATAL: could not start *\n\s+err: \{[\s\S]*EADDRINUSE/);
      else assert.ok(port.out.trim().split('\n').map((l) => JSON.parse(l)).some((e) => e.level === 'fatal' && e.msg === 'could not start' && e.err.code === 'EADDRINUSE'), port.out);
    }
    const format = await runBridge(false, bridgeEnv('bad-format', { PORCHLIGHT_LOG_FORMAT: 'text' }));
    assert.equal(format.code, 1);
    assert.match(format.err, /^porchlight: PORCHLIGHT_LOG_FORMAT must be json or pretty, not "text"/);
  });
});
