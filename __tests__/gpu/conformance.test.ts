/**
 * The conformance suite (`__tests__/conformance/suite.ts`) on tfjs' webgpu backend in Node, against cpu: every attack,
 * every loss and its gradient, `fit` with every objective, `evaluate` and `autoAttack`, each within the suite's stated
 * tolerance of cpu's result, with no synchronous readback (it throws on webgpu here) and no tensor leaked.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runConformance, type CheckResult } from '../conformance/suite.js';
import { syncReads, useBackend } from './webgpu.js';

function table(checks: readonly CheckResult[]): string {
  return checks
    .map((c) => `${c.passed ? '[ok]  ' : '[FAIL]'} ${c.backend.padEnd(6)} ${c.group.padEnd(8)} ${c.name.padEnd(44)} ${String(Number(c.measured.toPrecision(3))).padStart(10)} ≤ ${String(c.limit)}  ${c.what}`)
    .join('\n');
}

test('every check agrees with cpu on webgpu, with no synchronous readback', async () => {
  const report = await runConformance({
    backends: ['webgpu'],
    start: async (name) => {
      try {
        await useBackend(name as 'cpu' | 'webgpu');
        return undefined;
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    }
  });
  // Every row goes to a file; the log shows the count and any failed row.
  const file = path.join(__dirname, '..', '..', '.tmp', 'gpu-conformance.txt');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${table(report.checks)}\n`);
  const failedRows = table(report.checks.filter((c) => !c.passed));
  console.log(`${String(report.checks.length)} checks in ${report.seconds.toFixed(1)} s, every row in .tmp/gpu-conformance.txt${failedRows === '' ? '' : `; failed:\n${failedRows}`}`);
  expect(report.backends.map((b) => [b.name, b.available])).toEqual([['cpu', true], ['webgpu', true]]);
  expect(report.checks.filter((c) => c.backend === 'webgpu').length).toBeGreaterThan(150);
  expect(report.checks.filter((c) => !c.passed).map((c) => `${c.backend} ${c.name}: ${c.what}`)).toEqual([]);
  expect(syncReads.count).toBe(0);
});
