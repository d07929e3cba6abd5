/**
 * Mouth-to-camera latency of talkback (the method is in bench/talkback.ts).
 *
 *   npm run bench:talkback [-- --runs 5]
 *
 * Prints one JSON line: { talkbackLatencyMs: { median, min, max, runs } }.
 */
import { parseArgs } from 'node:util';
import { measureTalkbackLatency } from './talkback.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Math.max(1, Math.min(20, Number(values.runs) || 5));
process.stdout.write(`${JSON.stringify({ talkbackLatencyMs: await measureTalkbackLatency(runs) })}\n`);
