import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jitteredBackoff } from './informer.ts';

void describe('jitteredBackoff', () => {
  it('stays within [base, min(cap, base × 2^attempt)] and spreads', () => {
    for (const attempt of [0, 1, 3, 10, 40]) {
      const delays = Array.from({ length: 200 }, () => jitteredBackoff(attempt, 200, 30_000));
      const ceiling = Math.min(30_000, 200 * 2 ** attempt);
      assert.ok(
        delays.every((d) => d >= 200 && d <= Math.max(200, ceiling)),
        `attempt ${attempt}`,
      );
      if (ceiling > 400) assert.ok(new Set(delays).size > 100, 'jittered');
    }
  });
});
