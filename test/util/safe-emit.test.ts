import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { SafeEmitter } from '../../src/util/safe-emit.ts';

interface Events {
  packet: [size: number];
  closed: [reason: string];
}

function recordingLog() {
  const lines: Array<{ event: string; err: unknown; msg: string }> = [];
  return { lines, log: { error: (fields: { event: string; err: unknown }, msg: string) => lines.push({ ...fields, msg }) } as never };
}

test('a listener that throws reaches neither the emitter\'s caller nor the listeners after it; logged once per event name', () => {
  const emitter = new EventEmitter<Events>();
  const { lines, log } = recordingLog();
  const seen: number[] = [];
  emitter.on('packet', () => {
    throw new Error('broken listener');
  });
  emitter.on('packet', (size) => seen.push(size));
  const safe = new SafeEmitter(emitter, log);
  for (const size of [1, 2, 3]) assert.equal(safe.emit('packet', size), true);
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(lines.length, 1, 'a broken listener on the packet path must not flood the log');
  assert.equal(lines[0]!.event, 'packet');
  assert.match(lines[0]!.msg, /'packet'/);
  assert.equal((lines[0]!.err as Error).message, 'broken listener');

  emitter.once('closed', () => {
    throw new Error('also broken');
  });
  safe.emit('closed', 'shutdown');
  assert.deepEqual(lines.map((l) => l.event), ['packet', 'closed'], 'each event name is logged once');
  assert.equal(emitter.listenerCount('closed'), 0, 'a once listener is removed as emit() would remove it');
  assert.equal(safe.emit('closed', 'again'), false, 'no listener left');

  const other = new EventEmitter<Events>();
  other.on('packet', () => {
    throw new Error('another emitter');
  });
  new SafeEmitter(other, log).emit('packet', 1);
  assert.equal(lines.length, 3, 'one SafeEmitter per emitter: another session\'s broken listener is reported too');
});

test('a listener that rejects is logged, not left as an unhandled rejection', async () => {
  const emitter = new EventEmitter<Events>();
  const { lines, log } = recordingLog();
  emitter.on('closed', async () => {
    throw new Error('async failure');
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    assert.equal(new SafeEmitter(emitter, log).emit('closed', 'disconnected'), true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(lines.map((l) => [l.event, (l.err as Error).message]), [['closed', 'async failure']]);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
