/**
 * The skill Lambda as deployed: the esbuild bundle (built once into a temp dir and imported by file
 * URL), against real bridges over HTTP/1.1 and over HTTPS + HTTP/2, and against stand-ins that are
 * down, slow, or not porchlight.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { ServerHttp2Session } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { dirname, join } from 'node:path';
import { isBuiltin } from 'node:module';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildSkill, type SkillBuild } from '../../skill/build.ts';
import { writeZip } from '../../skill/zip.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { signReply, signatureHeaders } from '../../src/signing/signature.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { PROXY_SECRET, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive, discoverDirective } from '../helpers/directives.ts';
import { fixture } from '../helpers/echo-offer.ts';

type Skill = typeof import('../../skill/src/index.ts');
type Proxy = ReturnType<Skill['createProxy']>;

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SCOPE_TOKEN = 'user-access-token-xyz'; // what test/helpers/directives.ts puts in every scope

describe('skill Lambda (bundled)', () => {
  let dir: string;
  let built: SkillBuild;
  let skill: Skill;
  let cert: string;
  let plain: TestBridge;
  let secure: TestBridge;
  let handshakes = 0;
  let lastTlsSocket: TLSSocket | undefined;
  let lastSession: ServerHttp2Session | undefined;
  const proxies: Proxy[] = [];
  const servers: HttpServer[] = [];
  /** Every line any proxy logged, to check at the end that none leaks a secret. */
  const logged: string[] = [];
  const log = (line: object) => logged.push(JSON.stringify(line));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'porchlight-skill-'));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    const [build] = await Promise.all([
      buildSkill(join(dir, 'dist')),
      run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', keyFile, '-out', certFile]),
    ]);
    built = build;
    cert = readFileSync(certFile, 'utf8');
    skill = (await import(pathToFileURL(built.bundle).href)) as Skill;
    const cameras = [{ id: 'demo', name: 'Demo', url: `file:${DEMO_CLIP}` }];
    [plain, secure] = await Promise.all([
      startBridge({ cameras }),
      startBridge({ cameras, server: { tls: { cert: certFile, key: keyFile } }, webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '41600-41640' } }),
    ]);
    // Every TLS handshake the HTTPS bridge completes: the proof of HTTP/2 session reuse.
    secure.app.http.server.on('secureConnection', (socket: TLSSocket) => {
      handshakes += 1;
      lastTlsSocket = socket;
    });
    secure.app.http.server.on('session', (session: ServerHttp2Session) => {
      lastSession = session;
    });
  });

  after(async () => {
    await skill?.closeHandler();
    await Promise.all(proxies.map((proxy) => proxy.close()));
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    await Promise.all([plain?.close(), secure?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function proxy(options: Parameters<Skill['createProxy']>[0]): Proxy {
    // The test bridges on loopback are plain http://, which needs allowInsecure (tested below).
    const created = skill.createProxy({ log, allowInsecure: true, ...options });
    proxies.push(created);
    return created;
  }

  /** The same directive under a new messageId: the same bytes twice would be refused as a replay. */
  function twin(original: any): any {
    const copy = structuredClone(original);
    copy.directive.header.messageId = `${copy.directive.header.messageId}-direct`;
    return copy;
  }

  /**
   * A reply without what legitimately differs between two answers to the same question: the fresh
   * messageId, and the age of a state sample (uncertaintyInMilliseconds grows with the clock; a
   * health probe may land between the two calls and move timeOfSample).
   */
  function comparable(reply: any): any {
    const copy = structuredClone(reply);
    delete copy.event.header.messageId;
    for (const property of copy.context?.properties ?? []) {
      delete property.uncertaintyInMilliseconds;
      delete property.timeOfSample;
    }
    return copy;
  }

  /** POST /alexa on any bridge without a network client (it may be HTTPS with our own CA). */
  async function direct(bridge: TestBridge, body: unknown): Promise<any> {
    const raw = JSON.stringify(body);
    const response = await bridge.app.http.inject({ method: 'POST', url: '/alexa', payload: raw, headers: { 'content-type': 'application/json', ...signatureHeaders(PROXY_SECRET, raw) } });
    assert.equal(response.statusCode, 200);
    return response.json();
  }

  /** Starts a stand-in bridge on 127.0.0.1:0. */
  async function standIn(handler: Parameters<typeof createHttpServer>[1]): Promise<string> {
    const server = createHttpServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  async function closedPort(): Promise<number> {
    const server = createNetServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  function assertError(reply: any, type: string, original: any): void {
    assertValidAlexaMessage(reply);
    assert.equal(reply.event.header.name, 'ErrorResponse');
    assert.equal(reply.event.payload.type, type);
    assert.equal(reply.event.header.correlationToken, original.directive.header.correlationToken);
    assert.deepEqual(reply.event.endpoint, original.directive.endpoint && { scope: original.directive.endpoint.scope, endpointId: original.directive.endpoint.endpointId });
    assert.notEqual(reply.event.header.messageId, original.directive.header.messageId);
  }

  test('the bundle needs nothing but Node built-ins: it loads alone, with no node_modules', async () => {
    const code = readFileSync(built.bundle, 'utf8');
    const specifiers = [...code.matchAll(/^import\b[^'"]*["']([^'"]+)["']/gm)].map((m) => m[1]!);
    assert.ok(specifiers.length > 0);
    assert.deepEqual(specifiers.filter((s) => !s.startsWith('node:')), []);
    // mqtt.js (bundled for the relay) is CommonJS: its require()s may name only built-ins, or
    // ws's optional native speed-ups, which it tries and does without.
    const required = [...new Set([...code.matchAll(/\brequire\(["']([^"']+)["']\)/g)].map((m) => m[1]!))];
    assert.deepEqual(required.filter((name) => !isBuiltin(name) && name !== 'bufferutil' && name !== 'utf-8-validate'), []);
    const alone = join(mkdtempSync(join(tmpdir(), 'porchlight-lambda-alone-')), 'index.mjs');
    writeFileSync(alone, code);
    const loaded = await import(pathToFileURL(alone).href);
    assert.equal(typeof loaded.handler, 'function');
    rmSync(dirname(alone), { recursive: true, force: true });
    assert.equal(typeof skill.handler, 'function');
  });

  test('the zip holds index.mjs at its root and passes python3 -m zipfile -t', async () => {
    const listing = (await run(PYTHON, ['-m', 'zipfile', '-l', built.zip])).stdout;
    assert.match(listing, /^index\.mjs\s/m);
    assert.match((await run(PYTHON, ['-m', 'zipfile', '-t', built.zip])).stdout, /Done testing/);
    if (existsSync('/usr/bin/unzip')) assert.match((await run('unzip', ['-l', built.zip])).stdout, /\sindex\.mjs\n/);
    const extracted = join(dir, 'extracted');
    await run(PYTHON, ['-m', 'zipfile', '-e', built.zip, extracted]);
    assert.deepEqual(readFileSync(join(extracted, 'index.mjs')), readFileSync(built.bundle));
  });

  test('writeZip: several entries, nested, empty and UTF-8 names round-trip through python', async () => {
    const entries = [
      { name: 'a.txt', data: 'hello '.repeat(1000) },
      { name: 'nested/dir/b.bin', data: Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)) },
      { name: 'empty', data: '' },
      { name: 'café.txt', data: 'ü' },
    ];
    const zip = join(dir, 'many.zip');
    writeFileSync(zip, writeZip(entries));
    assert.deepEqual(writeZip(entries), readFileSync(zip), 'the same input makes the same bytes');
    await run(PYTHON, ['-m', 'zipfile', '-t', zip]);
    const out = join(dir, 'many');
    await run(PYTHON, ['-m', 'zipfile', '-e', zip, out]);
    for (const entry of entries) assert.deepEqual(readFileSync(join(out, entry.name)), Buffer.from(entry.data));
    assert.throws(() => writeZip([{ name: '../evil', data: '' }]), /bad zip entry name/);
  });

  test('handler over HTTP/1.1: Discover and ReportState as if the bridge were called directly', async (t: TestContext) => {
    const lines = t.mock.method(console, 'log', () => {});
    process.env.BRIDGE_URL = plain.url;
    process.env.PROXY_SECRET = PROXY_SECRET;
    process.env.ALLOW_INSECURE_BRIDGE = '1';
    for (const original of [discoverDirective(), directive('Alexa', 'ReportState', { endpointId: 'demo' })]) {
      const reply: any = await skill.handler(original);
      assertValidAlexaMessage(reply);
      assert.deepEqual(comparable(reply), comparable(await direct(plain, twin(original))));
    }
    assert.equal(lines.mock.callCount(), 2);
    const line = JSON.parse(lines.mock.calls[1]!.arguments[0] as string);
    assert.equal(line.name, 'ReportState');
    assert.equal(line.status, 200);
    assert.equal(typeof line.ms, 'number');
    for (const call of lines.mock.calls) logged.push(String(call.arguments[0]));
  });

  test('HTTPS + HTTP/2: one TLS handshake carries Discover, ReportState, an Echo offer and its end', async () => {
    const lambda = proxy({ bridgeUrl: secure.url, proxySecret: PROXY_SECRET, ca: cert });
    const before = handshakes;
    for (const original of [discoverDirective(), directive('Alexa', 'ReportState', { endpointId: 'demo' })]) {
      const reply: any = await lambda.handle(original);
      assertValidAlexaMessage(reply);
      assert.deepEqual(comparable(reply), comparable(await direct(secure, twin(original))));
    }

    const RTC = 'Alexa.RTCSessionController';
    const sessionId = `skill-${Date.now()}`;
    const offer = directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'demo', payload: { sessionId, offer: { format: 'SDP', value: fixture('echo-show-design') } } });
    const answer: any = await lambda.handle(offer);
    assertValidAlexaMessage(answer);
    assert.equal(answer.event.header.name, 'AnswerGeneratedForSession');
    assert.equal(answer.event.header.correlationToken, offer.directive.header.correlationToken);
    assert.match(answer.event.payload.answer.value, /^v=0\r\n[\s\S]*a=candidate:/);
    const ended: any = await lambda.handle(directive(RTC, 'SessionDisconnected', { endpointId: 'demo', payload: { sessionId } }));
    assertValidAlexaMessage(ended);

    assert.equal(handshakes - before, 1, 'exactly one TLS handshake for five invocations');
    assert.deepEqual(lambda.stats(), { connectionsOpened: 1, protocol: 'h2' });
  });

  test('HTTP/2: a connection the bridge dropped or closed between invocations is replaced', async () => {
    const lambda = proxy({ bridgeUrl: secure.url, proxySecret: PROXY_SECRET, ca: cert });
    const ask = async () => {
      const reply: any = await lambda.handle(directive('Alexa', 'ReportState', { endpointId: 'demo' }));
      assertValidAlexaMessage(reply);
      assert.equal(reply.event.header.name, 'StateReport');
    };
    await ask();
    const before = handshakes;
    lastTlsSocket!.destroy(); // a bridge restart, a NAT timeout
    await new Promise((resolve) => setTimeout(resolve, 50));
    await ask();
    // GOAWAY sent as the next directive goes out (a bridge shutting down, its idle timeout): the
    // stream is refused unprocessed, and the proxy retries once on a fresh connection.
    lastSession!.goaway();
    await ask();
    await ask();
    assert.equal(handshakes - before, 2);
    assert.equal(lambda.stats().connectionsOpened, 3);
  });

  test('HTTPS with a server that only speaks HTTP/1.1: falls back, still one connection', async () => {
    const server = createHttpsServer({ cert, key: readFileSync(join(dir, 'key.pem')) }, (request, response) => {
      request.resume();
      request.on('end', () => {
        const text = JSON.stringify({ event: { header: { namespace: 'Alexa', name: 'ErrorResponse', payloadVersion: '3', messageId: 'm-1' }, payload: { type: 'ENDPOINT_UNREACHABLE', message: 'stand-in' } } });
        // Signed as the bridge signs, so only the transport differs from the real one.
        const requestMac = String(request.headers['x-porchlight-signature']).slice(3);
        response.setHeader('x-porchlight-reply-signature', signReply(PROXY_SECRET, requestMac, text));
        response.setHeader('content-type', 'application/json');
        response.end(text);
      });
    });
    servers.push(server);
    let connections = 0;
    server.on('secureConnection', () => {
      connections += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const lambda = proxy({ bridgeUrl: `https://127.0.0.1:${(server.address() as { port: number }).port}`, proxySecret: PROXY_SECRET, ca: cert });
    for (let i = 0; i < 3; i += 1) {
      const reply: any = await lambda.handle(directive('Alexa', 'ReportState', { endpointId: 'demo' }));
      assert.equal(reply.event.payload.type, 'ENDPOINT_UNREACHABLE');
    }
    assert.deepEqual(lambda.stats(), { connectionsOpened: 1, protocol: 'http/1.1' });
    assert.equal(connections, 1, 'the ALPN probe socket served the first request and stayed alive');
  });

  test('bridge down: BRIDGE_UNREACHABLE with the correlationToken and endpoint, at once', async (t: TestContext) => {
    t.mock.method(console, 'log', (line: string) => logged.push(line));
    process.env.BRIDGE_URL = `http://127.0.0.1:${await closedPort()}`;
    process.env.PROXY_SECRET = PROXY_SECRET;
    process.env.ALLOW_INSECURE_BRIDGE = '1';
    const original = directive('Alexa', 'ReportState', { endpointId: 'demo' });
    const started = performance.now();
    assertError(await skill.handler(original), 'BRIDGE_UNREACHABLE', original);
    assert.ok(performance.now() - started < 2000);

    // Over HTTPS too (the TLS connect path), and a certificate Node does not trust.
    const down = proxy({ bridgeUrl: `https://127.0.0.1:${await closedPort()}`, proxySecret: PROXY_SECRET, ca: cert });
    assertError(await down.handle(original), 'BRIDGE_UNREACHABLE', original);
    const untrusted = proxy({ bridgeUrl: secure.url, proxySecret: PROXY_SECRET });
    assertError(await untrusted.handle(original), 'BRIDGE_UNREACHABLE', original);
    assert.match(logged.at(-1)!, /self-signed|certificate/i);
  });

  test('bridge slower than the deadline: BRIDGE_UNREACHABLE when the deadline passes', async () => {
    const url = await standIn(() => {}); // reads the request, never answers
    const lambda = proxy({ bridgeUrl: url, proxySecret: PROXY_SECRET, deadlineMs: 500 });
    const original = directive('Alexa.RTCSessionController', 'InitiateSessionWithOffer', { endpointId: 'demo', payload: { sessionId: 's', offer: { format: 'SDP', value: 'v=0' } } });
    const started = performance.now();
    const reply = await lambda.handle(original);
    const elapsed = performance.now() - started;
    assertError(reply, 'BRIDGE_UNREACHABLE', original);
    assert.ok(elapsed >= 480 && elapsed < 1000, `answered after ${Math.round(elapsed)} ms`);
    assert.match(logged.at(-1)!, /deadline/);
  });

  test('wrong secret: INTERNAL_ERROR and a log line naming PROXY_SECRET, never its value', async () => {
    const secret = 'not-the-bridge-secret-4242';
    const lambda = proxy({ bridgeUrl: plain.url, proxySecret: secret });
    const original = directive('Alexa', 'ReportState', { endpointId: 'demo' });
    assertError(await lambda.handle(original), 'INTERNAL_ERROR', original);
    const line = JSON.parse(logged.at(-1)!);
    assert.match(line.msg, /PROXY_SECRET is wrong/);
    assert.equal(line.status, 401);
    assert.ok(!logged.some((l) => l.includes(secret)));
  });

  test('AcceptGrant failures are Alexa.Authorization ACCEPT_GRANT_FAILED', async () => {
    const lambda = proxy({ bridgeUrl: plain.url, proxySecret: 'wrong-secret' });
    const grant = directive('Alexa.Authorization', 'AcceptGrant', {
      correlationToken: null,
      payload: { grant: { type: 'OAuth2.AuthorizationCode', code: 'code-123' }, grantee: { type: 'BearerToken', token: SCOPE_TOKEN } },
    });
    const reply: any = await lambda.handle(grant);
    assertValidAlexaMessage(reply);
    assert.equal(reply.event.header.namespace, 'Alexa.Authorization');
    assert.equal(reply.event.payload.type, 'ACCEPT_GRANT_FAILED');
  });

  test('a reply that is not JSON, or not 200: INTERNAL_ERROR saying which', async () => {
    // The base path in BRIDGE_URL is kept: /text/alexa and /fail/alexa.
    const url = await standIn((request, response) => {
      request.resume();
      if (request.url === '/text/alexa') response.end('<html>a router login page</html>');
      else response.writeHead(502).end('{"error":"bad gateway"}');
    });
    const original = directive('Alexa', 'ReportState', { endpointId: 'demo' });
    assertError(await proxy({ bridgeUrl: `${url}/text/`, proxySecret: PROXY_SECRET }).handle(original), 'INTERNAL_ERROR', original);
    assert.match(logged.at(-1)!, /not signed by the bridge/);
    assertError(await proxy({ bridgeUrl: `${url}/fail`, proxySecret: PROXY_SECRET }).handle(original), 'INTERNAL_ERROR', original);
    assert.match(logged.at(-1)!, /HTTP 502/);
  });

  test('an impostor that answers 200 with an Alexa event but no valid reply signature is not passed on', async () => {
    const original = directive('Alexa.RTCSessionController', 'InitiateSessionWithOffer', { endpointId: 'demo', payload: { sessionId: 's', offer: { format: 'SDP', value: 'v=0' } } });
    const forged = JSON.stringify({ event: { header: { namespace: 'Alexa.RTCSessionController', name: 'AnswerGeneratedForSession', messageId: 'm', payloadVersion: '3' }, payload: { answer: { format: 'SDP', value: 'v=0 evil' } } } });
    const url = await standIn((request, response) => {
      request.resume();
      if (request.url === '/forged/alexa') response.setHeader('x-porchlight-reply-signature', `v1=${'0'.repeat(64)}`);
      response.setHeader('content-type', 'application/json');
      response.end(forged);
    });
    for (const base of [url, `${url}/forged`]) {
      const reply: any = await proxy({ bridgeUrl: base, proxySecret: PROXY_SECRET }).handle(original);
      assertError(reply, 'INTERNAL_ERROR', original);
      assert.ok(!JSON.stringify(reply).includes('evil'));
      assert.match(logged.at(-1)!, /not signed by the bridge/);
    }
  });

  test('a 200 MiB reply is cut at 256 KiB: an error, and the Lambda does not grow', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const url = await standIn((request, response) => {
      request.resume();
      let sent = 0;
      const pump = () => {
        while (sent < 200 && !response.destroyed) {
          sent += 1;
          if (!response.write(chunk)) return void response.once('drain', pump);
        }
        response.end();
      };
      pump();
    });
    const before = process.memoryUsage().rss;
    const original = directive('Alexa', 'ReportState', { endpointId: 'demo' });
    assertError(await proxy({ bridgeUrl: url, proxySecret: PROXY_SECRET }).handle(original), 'INTERNAL_ERROR', original);
    assert.match(logged.at(-1)!, /larger than 256 KiB/);
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024, 'the reply was not held in memory');
  });

  test('http:// is refused unless ALLOW_INSECURE_BRIDGE=1; BRIDGE_CA lets the handler trust a self-signed bridge', async (t: TestContext) => {
    assert.throws(() => skill.createProxy({ bridgeUrl: plain.url, proxySecret: PROXY_SECRET, log }), /ALLOW_INSECURE_BRIDGE/);
    t.mock.method(console, 'log', (line: string) => logged.push(line));
    process.env.BRIDGE_URL = plain.url;
    process.env.PROXY_SECRET = PROXY_SECRET;
    delete process.env.ALLOW_INSECURE_BRIDGE;
    const original = directive('Alexa', 'ReportState', { endpointId: 'demo' });
    assertError(await skill.handler(original), 'INTERNAL_ERROR', original);
    assert.match(logged.at(-1)!, /misconfigured.*ALLOW_INSECURE_BRIDGE/);
    process.env.BRIDGE_URL = secure.url;
    process.env.BRIDGE_CA = cert;
    try {
      const reply: any = await skill.handler(original);
      assertValidAlexaMessage(reply);
      assert.equal(reply.event.header.name, 'StateReport');
    } finally {
      delete process.env.BRIDGE_CA;
    }
  });

  test('an event that is not a directive: an error without calling the bridge', async () => {
    let called = false;
    const url = await standIn((_request, response) => {
      called = true;
      response.end('{}');
    });
    const lambda = proxy({ bridgeUrl: url, proxySecret: PROXY_SECRET });
    for (const event of [undefined, null, 'text', {}, { directive: {} }, { directive: { header: { namespace: 'Alexa' } } }]) {
      const reply: any = await lambda.handle(event);
      assertValidAlexaMessage(reply);
      assert.equal(reply.event.payload.type, 'INVALID_DIRECTIVE');
    }
    assert.equal(called, false);
    assert.equal(lambda.stats().connectionsOpened, 0);
  });

  test('no log line carries a token, the secret or a signature', () => {
    assert.ok(logged.length >= 10);
    for (const line of logged) {
      JSON.parse(line);
      assert.doesNotMatch(line, new RegExp(`${SCOPE_TOKEN}|${PROXY_SECRET}|v1=|corr-|code-123`), line);
    }
  });
});
