/** Motion to Alexa paced per camera (a flood of ON/OFF lines costs a few reports), and the once-per-cause memory that expires. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MotionPacer } from '../../src/cloud/motion-pacer.ts';
import { OncePerCause } from '../../src/util/once-per-cause.ts';

test('motion pacing: at most one transition per camera per second, the last state wins, other cameras untouched', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const sent: string[] = [];
  const pacer = new MotionPacer({ send: (id, value) => sent.push(`${id} ${value}`) });
  pacer.report('yard', 'DETECTED', new Date());
  // 1 500 alternating lines in 0.2 s (before: 1 500 ChangeReports).
  for (let i = 0; i < 1500; i++) pacer.report('yard', i % 2 ? 'DETECTED' : 'NOT_DETECTED', new Date());
  pacer.report('door', 'DETECTED', new Date());
  assert.deepEqual(sent, ['yard DETECTED', 'door DETECTED']);
  t.mock.timers.tick(999);
  assert.equal(sent.length, 2);
  t.mock.timers.tick(1);
  // The last line said DETECTED, as Alexa was last told: nothing more to say.
  assert.deepEqual(sent, ['yard DETECTED', 'door DETECTED']);
  pacer.report('yard', 'NOT_DETECTED', new Date());
  assert.deepEqual(sent.at(-1), 'yard NOT_DETECTED', 'a second after the last report, a change goes at once');
  pacer.report('yard', 'DETECTED', new Date());
  pacer.report('yard', 'NOT_DETECTED', new Date());
  pacer.report('yard', 'DETECTED', new Date());
  t.mock.timers.tick(1000);
  assert.deepEqual(sent.slice(2), ['yard NOT_DETECTED', 'yard DETECTED']);
  assert.ok(pacer.folded >= 1500);
  pacer.close();
});

test('once per cause: a cause is said again after a minute, and unknown ids cannot crowd out a real problem (before: 600 unknown ids filled it for good)', () => {
  let now = 0;
  const once = new OncePerCause(500, 60_000, () => now);
  for (let i = 0; i < 600; i++) assert.equal(once.first(`unknown-camera-${i}`), true);
  assert.equal(once.first('front-door: bad payload'), true, 'a real camera\'s problem is still logged');
  assert.equal(once.first('front-door: bad payload'), false);
  now += 60_000;
  assert.equal(once.first('front-door: bad payload'), true, 'and again after a minute');
});
