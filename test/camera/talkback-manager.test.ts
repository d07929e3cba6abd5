// TalkbackManager taking a new camera list while running (issue 27): its status bookkeeping and
// talks, against a scripted RTSP camera that holds each DESCRIBE until the test lets it answer
// "551 Option not supported" (no backchannel), so checks begun before a change land after it.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TalkbackManager } from '../../src/camera/talkback-manager.ts';
import type { CameraConfig } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log.ts';
import { until } from '../helpers/until.ts';

const log = createLogger({ level: 'silent' });

interface HeldDescribe {
  path: string;
  answer(): void;
}

/** Answers OPTIONS; holds DESCRIBE until answer(); counts connections that ended. */
async function holdingCamera() {
  const held: HeldDescribe[] = [];
  const sockets = new Set<Socket>();
  let describes = 0;
  let hungUp = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      hungUp += 1;
    });
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n\r\n'); end >= 0; end = buffer.indexOf('\r\n\r\n')) {
        const [requestLine = '', ...headers] = buffer.slice(0, end).split('\r\n');
        buffer = buffer.slice(end + 4);
        const [method, uri = ''] = requestLine.split(' ');
        const cseq = headers.find((line) => /^cseq:/i.test(line))?.split(':')[1]?.trim() ?? '0';
        const reply = (status: string, extra: string[] = []) => socket.write([`RTSP/1.0 ${status}`, `CSeq: ${cseq}`, ...extra, '', ''].join('\r\n'));
        if (method === 'DESCRIBE') {
          describes += 1;
          held.push({ path: new URL(uri).pathname, answer: () => reply('551 Option not supported') });
        } else {
          reply('200 OK', ['Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER']);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `rtsp://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: (path: string) => `${base}${path}`,
    held: (path: string) => held.filter((describe) => describe.path === path).length,
    /** Answers the held DESCRIBEs for `path`; resolves once their connections have ended. */
    async answer(path: string): Promise<void> {
      const answering = held.filter((describe) => describe.path === path);
      const target = hungUp + answering.length;
      for (const describe of answering) {
        held.splice(held.indexOf(describe), 1);
        describe.answer();
      }
      await until(`the checks of ${path} to hang up`, () => hungUp >= target, 5000);
    },
    get describes() {
      return describes;
    },
    async close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function camera(id: string, url: string, settings: Partial<CameraConfig> = {}): CameraConfig {
  return { id, name: id, kind: 'camera', url, talkback: 'onvif', transcode: 'auto', preload: false, ...settings };
}

describe('TalkbackManager.setCameras', () => {
  test('forgets removed cameras and closes their talk, starts changed ones over, ignores answers that land late', async () => {
    const rtsp = await holdingCamera();
    const manager = new TalkbackManager({
      cameras: [camera('door', rtsp.url('/door')), camera('yard', rtsp.url('/yard')), camera('plain', rtsp.url('/plain'), { talkback: 'none' })],
      ffmpegPath: () => 'ffmpeg',
      log,
    });
    try {
      manager.setCameras([camera('door', rtsp.url('/door')), camera('yard', rtsp.url('/yard')), camera('porch', rtsp.url('/porch'))]);
      assert.deepEqual(manager.status('porch'), { capability: 'unknown' });
      assert.equal(manager.status('plain'), undefined);
      await sleep(100);
      assert.equal(rtsp.describes, 0, 'nothing is checked before checkAll()');

      const talk = manager.claim('door', 'session-1', { encoding: 'opus', payloadType: 111 });
      assert.ok(talk);
      manager.checkAll();
      await until('the talk and the three checks under way', () => rtsp.held('/door') === 2 && rtsp.held('/yard') === 1 && rtsp.held('/porch') === 1, 5000);

      const next = [camera('yard', rtsp.url('/yard2')), camera('porch', rtsp.url('/porch'))];
      manager.setCameras(next);
      assert.equal(manager.status('door'), undefined, 'a removed camera is forgotten');
      assert.ok(talk.released, "a removed camera's talk is closed");
      assert.equal(manager.claim('door', 'session-2', { encoding: 'opus', payloadType: 111 }), undefined);
      assert.deepEqual(manager.status('yard'), { capability: 'unknown' }, 'a re-pointed camera starts over');
      await until('the re-pointed camera checked again', () => rtsp.held('/yard2') === 1, 5000);

      // The answers about the old configuration land now: neither brings a status back.
      await Promise.all([rtsp.answer('/door'), rtsp.answer('/yard')]);
      await sleep(50);
      assert.equal(manager.status('door'), undefined);
      assert.deepEqual(manager.status('yard'), { capability: 'unknown' });

      await rtsp.answer('/porch');
      await until('the unchanged camera’s check to land', () => manager.status('porch')?.capability === 'unsupported', 5000);
      await rtsp.answer('/yard2');
      await until('the re-pointed camera’s own check to land', () => manager.status('yard')?.capability === 'unsupported', 5000);

      const describes = rtsp.describes;
      manager.setCameras(next);
      await sleep(100);
      assert.equal(manager.status('yard')?.capability, 'unsupported', 'the same list again changes nothing');
      assert.equal(rtsp.describes, describes, 'and checks nothing again');
    } finally {
      await manager.close();
      await rtsp.close();
    }
  });
});
