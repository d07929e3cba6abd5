/** Time that passes only when the code under test sleeps: backoff is asserted, never waited out. */
export function virtualClock() {
  let t = Date.parse('2026-11-21T20:00:00Z');
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}
