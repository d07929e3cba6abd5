/**
 * The MQTT event source against a broker that speaks only MQTT 3.1.1 (aedes, as Node-RED users
 * run): it falls back from MQTT 5 and hears presses, and a refused subscription (SUBACK 0x80) is
 * an error retried with backoff, not a connection that silently hears nothing.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import pino from 'pino';
import { MqttEventSource } from '../../src/events/mqtt-source.ts';
import { until } from '../helpers/until.ts';

interface Broker {
  url: string;
  aedes: Aedes;
  server: Server;
}

const brokers: Broker[] = [];
after(async () => {
  for (const { aedes, server } of brokers) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  }
});

async function startAedes(options: AedesOptions = {}): Promise<Broker> {
  const aedes = await Aedes.createBroker(options);
  const server = createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const broker = { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, aedes, server };
  brokers.push(broker);
  return broker;
}

function publish(broker: Broker, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) => {
    broker.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, (err) => (err ? reject(err) : resolve()));
  });
}

test('a broker that speaks only MQTT 3.1.1: the source falls back from MQTT 5 and hears the press', async () => {
  const broker = await startAedes();
  const lines: string[] = [];
  const source = new MqttEventSource({
    url: broker.url, topicPrefix: 'porchlight', cameras: [{ id: 'front-door', kind: 'doorbell', motion: false }],
    log: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }), retry: { initialMs: 50, maxMs: 200 },
  });
  const heard: string[] = [];
  source.on('event', (cameraId, kind, on) => heard.push(`${cameraId} ${kind} ${on}`));
  try {
    source.start();
    await until('connected', () => source.status().state === 'connected', 10_000);
    assert.equal(source.status().protocolVersion, 4);
    assert.equal(lines.filter((l) => l.includes('speaks MQTT 3.1.1 only')).length, 1);
    await publish(broker, 'porchlight/front-door/doorbell', 'ON');
    await until('the press heard', () => heard.length > 0, 5_000);
    assert.deepEqual(heard, ['front-door doorbell true']);
  } finally {
    await source.close();
  }
});

test('a broker that refuses every subscription (SUBACK 0x80): an error retried with backoff, never "connected"', async () => {
  let asked = 0;
  const broker = await startAedes({
    authorizeSubscribe: (_client, _subscription, callback) => {
      asked += 1;
      callback(new Error('not on this broker'), null);
    },
  });
  const lines: string[] = [];
  const source = new MqttEventSource({
    url: broker.url, topicPrefix: 'porchlight', cameras: [{ id: 'front-door', kind: 'doorbell', motion: false }],
    log: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }), retry: { initialMs: 50, maxMs: 200 },
  });
  const states: string[] = [];
  source.on('state', (state) => states.push(state));
  try {
    source.start();
    await until('three attempts refused', () => states.filter((s) => s === 'disconnected').length >= 3, 10_000);
    assert.ok(!states.includes('connected'), states.join(' → '));
    assert.ok(asked >= 3);
    assert.match(source.status().lastError ?? '', /refused the subscription to porchlight\/\+\/doorbell, porchlight\/\+\/motion/);
    assert.equal(lines.filter((l) => l.includes('refused every subscription')).length, 1, 'said once');
  } finally {
    await source.close();
  }
});
