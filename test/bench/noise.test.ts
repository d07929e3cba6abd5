import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { costPerViewer, costRatio, formatCost, spread } from '../../bench/noise.ts';

describe('bench noise', () => {
  test('spread: mean, min, max and the standard error of the mean', () => {
    const s = spread([10, 12, 14]);
    assert.deepEqual([s.mean, s.min, s.max, s.samples], [12, 10, 14, 3]);
    assert.equal(s.stderr, 1.155);
    assert.equal(spread([]).samples, 0);
  });

  test('a cost that clears the noise is reported with its range', () => {
    const cost = costPerViewer({ viewers: 10, samples: [20, 21, 19, 20] }, { viewers: 50, samples: [40, 41, 39, 40] });
    assert.ok('low' in cost);
    assert.equal(cost.value, 0.5);
    assert.ok(cost.low < 0.5 && cost.high > 0.5);
  });

  test('a negative or tiny difference is unmeasurable, never a negative cost', () => {
    const negative = costPerViewer({ viewers: 10, samples: [20, 25, 15, 22] }, { viewers: 50, samples: [19, 24, 14, 21] });
    assert.ok(Number.isNaN(negative.value));
    assert.ok('unmeasurable' in negative && /within the windows' noise/.test(negative.unmeasurable));
    const noisy = costPerViewer({ viewers: 0, samples: [5, 15, 5, 15] }, { viewers: 1, samples: [6, 16, 6, 16] });
    assert.ok(Number.isNaN(noisy.value));
    assert.match(formatCost(noisy), /^unmeasurable \(/);
  });

  test('no extra viewers or no samples: unmeasurable', () => {
    assert.ok(Number.isNaN(costPerViewer({ viewers: 10, samples: [1] }, { viewers: 10, samples: [2] }).value));
    assert.ok(Number.isNaN(costPerViewer({ viewers: 0, samples: [] }, { viewers: 10, samples: [2] }).value));
  });

  test('a ratio carries its range and says which side was unmeasurable', () => {
    const ratio = costRatio({ value: 1, low: 0.8, high: 1.2 }, { value: 0.5, low: 0.4, high: 0.6 });
    assert.deepEqual(ratio, { value: 2, low: 1.33, high: 3 });
    const bad = costRatio({ value: 1, low: 0.8, high: 1.2 }, { value: Number.NaN, unmeasurable: 'x' });
    assert.ok('unmeasurable' in bad && bad.unmeasurable === 'denominator: x');
    assert.equal(formatCost(ratio, '×'), '2× (1.33–3)');
  });
});
