/**
 * Sockets cannot be hoarded without credentials: a flood of idle and slow connections from one
 * address is capped, idle and trickling sockets are closed on time, and a signed directive from
 * elsewhere (the skill Lambda) and /healthz are answered throughout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { discoverDirective } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';

let bridge: TestBridge;
const sockets: Socket[] = [];

before(async () => {
  bridge = await startBridge({ cameras: [{ id: 'demo', name: 'Demo', url: `file:${DEMO_CLIP}` }] }, {
    app: { httpLimits: { idleTimeoutMs: 1500, requestTimeoutMs: 2500, headersTimeoutMs: 2000, maxPerAddress: 16 } },
  });
});
after(async () => {
  for (const socket of sockets) socket.destroy();
  await bridge?.close();
});

/** A socket from 127.0.0.9 (the attacker); resolves when it is open or refused. */
function attackerSocket(port: number): Promise<{ socket: Socket; closedAt: () => number | undefined }> {
  return new Promise((resolve) => {
    let closedAt: number | undefined;
    const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.9' });
    sockets.push(socket);
    socket.on('error', () => {});
    socket.on('close', () => (closedAt = Date.now()));
    socket.once('connect', () => resolve({ socket, closedAt: () => closedAt }));
    socket.once('close', () => resolve({ socket, closedAt: () => closedAt }));
  });
}

test('200 idle and slow sockets from one address: capped, closed on time, and a signed Discover still answered', async () => {
  const port = Number(new URL(bridge.url).port);
  const startedAt = Date.now();
  const flood = await Promise.all(Array.from({ length: 200 }, () => attackerSocket(port)));
  const head = `POST /alexa HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 65000\r\n\r\n`;
  // Half of them send the headers at once and trickle the body; the other half stay silent.
  for (const [n, { socket }] of flood.entries()) if (n % 2 === 0 && !socket.destroyed) socket.write(head);
  const trickle = setInterval(() => {
    for (const [n, { socket }] of flood.entries()) if (n % 2 === 0 && !socket.destroyed) socket.write('{');
  }, 500);
  try {
    const discover = await bridge.postAlexa(discoverDirective());
    assert.equal(discover.status, 200);
    assertValidAlexaMessage(discover.json);
    assert.equal((await fetch(`${bridge.url}/healthz`)).status, 200);

    await until('the capped sockets refused', () => flood.filter((f) => f.closedAt() !== undefined).length >= 200 - 16, 2000);
    // The 16 admitted: idle ones closed after idleTimeoutMs, trickling ones after requestTimeoutMs.
    await until('every flood socket closed', () => flood.every((f) => f.closedAt() !== undefined), 8000);
    const lastClosed = Math.max(...flood.map((f) => f.closedAt()!));
    assert.ok(lastClosed - startedAt < 7000, `closed after ${lastClosed - startedAt} ms`);
    assert.match(bridge.logText(), /too many connections from one address/);
  } finally {
    clearInterval(trickle);
  }
});
