import { test } from 'node:test';
import assert from 'node:assert/strict';
import { table, verdicts, type Figures } from '../../bench/report.ts';

const figures: Figures = {
  answerP50Ms: 12, answerP99Ms: 30, answerP99MsAt20: 95, firstFrameMedianMs: 140, coldFirstFrameMedianMs: 900,
  cpuPerViewerPct: Number.NaN, cpuAt50ViewersPct: 30, dropPctAt50: 0, rssPerSessionMb: 1.2, naiveCpuRatioAt10: 2.4,
  talkbackLatencyMs: 45, relayAddedP50Ms: 1.2, ffmpegLeftAfterLinger: 0,
};

test('an unmeasurable figure is printed as such with its reason, not as a number or a miss', () => {
  const reason = '10 → 50 viewers changed CPU by -0.5 % of a core, within the windows\' noise (±2 %)';
  const printed = table(figures, { cpuPerViewerPct: reason });
  const row = printed.split('\n').find((line) => line.includes('CPU per extra viewer'))!;
  assert.match(row, /\| unmeasurable +\|.*\| unmeasurable +\|$/);
  assert.ok(printed.endsWith(`CPU per extra viewer (bridge, 10→50): ${reason}`));
  assert.equal(verdicts(figures, { cpuPerViewerPct: reason }).cpuPerViewerPct, 'unmeasurable');
  assert.equal(verdicts(figures).cpuPerViewerPct, 'MISSED');
});

test('the naive-pipeline ratio is information, not a target', () => {
  assert.equal(verdicts({ ...figures, naiveCpuRatioAt10: 1.1 }).naiveCpuRatioAt10, '—');
  assert.equal(verdicts(figures).answerP99MsAt20, 'met');
});
