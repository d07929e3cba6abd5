/**
 * A hostile camera must never stop the bridge (issue: a negative Content-Length made the RTSP
 * reader spin at 100 % CPU, freezing every timer, camera and HTTP route). A fake RTSP server
 * answers with framing attacks and random mutations; the health probe, the RTSP client and the
 * backchannel each read them in a worker whose heartbeat must keep firing, and every request
 * must end within its timeout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { HAND_PICKED, mutatedCases } from './rtsp-hostile-cases.ts';
import type { ParserResult } from './rtsp-hostile-worker.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 1217);
const CASES = [...HAND_PICKED, ...mutatedCases(150, SEED)];
const TIMEOUT_MS = 600;

let server: Server;
const sockets = new Set<Socket>();

before(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    socket.on('data', (data) => {
      pending += data.toString('latin1');
      // Every request gets the case's bytes; the connection stays open, as a stuck camera's would.
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const request = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const index = Number(/\/case\/(\d+)/.exec(request)?.[1]);
        const cseq = /^CSeq: (\d+)/im.exec(request)?.[1] ?? '1';
        const bytes = CASES[index]?.[1];
        // Answer as that request's (its CSeq), so a well-framed answer reaches the next step.
        if (bytes && !socket.destroyed) socket.write(Buffer.from(bytes.toString('latin1').replace('CSeq: 1\r\n', `CSeq: ${cseq}\r\n`), 'latin1'));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

test('hostile answers: every reader ends each request within its timeout and the event loop never stalls', async (t) => {
  const { port } = server.address() as { port: number };
  const worker = new Worker(new URL('./rtsp-hostile-worker.ts', import.meta.url), { workerData: { port, cases: CASES.length, timeoutMs: TIMEOUT_MS, batch: 20 } });
  const deadlineMs = 60_000;
  let timer: NodeJS.Timeout | undefined;
  const report = await Promise.race([
    new Promise<{ results: ParserResult[]; maxGapMs: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the RTSP readers froze: no result within ${deadlineMs} ms`)), deadlineMs);
    }),
  ]).finally(async () => {
    clearTimeout(timer);
    await worker.terminate();
  });
  assert.equal(report.results.length, CASES.length * 3);
  // Each request has TIMEOUT_MS (the probe one deadline for all its requests; the backchannel up
  // to five requests); nothing may take much longer, nor block the loop.
  const slow = report.results.filter((r) => r.ms > TIMEOUT_MS * 5 + 1000);
  assert.deepEqual(slow.map((r) => `${CASES[r.caseIndex]![0]} ${r.parser} ${r.ms} ms`), []);
  assert.ok(report.maxGapMs < 500, `the event loop stalled for ${report.maxGapMs} ms`);
  const byName = (name: string) => report.results.filter((r) => CASES[r.caseIndex]![0] === name);
  for (const result of byName('negative Content-Length')) assert.match(result.outcome, /malformed|not speak RTSP|PROTOCOL/i, result.parser);
  // The client refuses a malformed answer at once instead of waiting out its timeout.
  assert.ok(byName('Content-Length of minus the head').every((r) => r.ms < TIMEOUT_MS), JSON.stringify(byName('Content-Length of minus the head')));
  assert.match(byName('a DESCRIBE with 1000 tracks').find((r) => r.parser === 'backchannel')!.outcome, /at most 8/);
  t.diagnostic(`${CASES.length} answers × 3 readers; longest event-loop gap ${report.maxGapMs} ms; seed ${SEED}`);
});
