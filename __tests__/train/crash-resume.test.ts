/**
 * Crash-safe training: `fit` runs in a child process that is killed with SIGKILL at 20 moments (at random times
 * while it trains, and in the middle of checkpoint saves), and resumed each time in a new process. The final weights
 * must equal, bit for bit, those of a run that was never interrupted: with SGD (momentum), Adam and RMSProp.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { testRandom } from '../helpers.js';

const EPOCHS = 24;
const KILLS = 20;

let child = '';
let tmp = '';

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-crash-'));
  child = path.join(tmp, 'child.cjs');
  // tfjs stays external: the child loads the repository's copies, as a user's program would.
  await build({
    entryPoints: [path.join(__dirname, 'crash', 'child.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: child,
    external: ['@tensorflow/*'],
    nodePaths: [path.join(__dirname, '..', '..', 'node_modules')],
    logLevel: 'silent'
  });
}, 60_000);
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** Time from 'ready' (tfjs loaded) to the end. */
  readonly trainMs: number;
}

/** Runs the child once; `killAfterMs` sends SIGKILL that long after it is ready, `killAtRename` makes it kill itself mid-save. */
function run(dir: string, optimizer: string, kill: { afterMs?: number; atRename?: number }): Promise<Outcome> {
  return new Promise((resolve) => {
    const env = { ...process.env, NODE_PATH: path.join(__dirname, '..', '..', 'node_modules'), ...(kill.atRename === undefined ? {} : { KILL_AT_RENAME: String(kill.atRename) }) };
    const p = spawn(process.execPath, [child, dir, optimizer, String(EPOCHS)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let readyAt = 0;
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdout.on('data', (d: Buffer) => {
      if (!d.toString().includes('ready')) return;
      readyAt = performance.now();
      if (kill.afterMs !== undefined) setTimeout(() => p.kill('SIGKILL'), kill.afterMs);
    });
    p.on('close', (code, signal) => { resolve({ code, signal, stderr, trainMs: readyAt === 0 ? 0 : performance.now() - readyAt }); });
  });
}

async function uninterrupted(optimizer: string): Promise<{ weights: unknown; epochMs: number }> {
  const dir = path.join(tmp, `whole-${optimizer}`);
  const out = await run(dir, optimizer, {});
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  return { weights: JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')) as unknown, epochMs: out.trainMs / EPOCHS };
}

describe.each(['sgd', 'adam', 'rmsprop'])('kill and resume with %s', (optimizer) => {
  it(`${String(KILLS)} SIGKILLs, each followed by a resume in a new process, end with the uninterrupted run's weights`, async () => {
    const reference = await uninterrupted(optimizer);
    const dir = path.join(tmp, `killed-${optimizer}`);
    const r = testRandom(optimizer.length * 7 + 1);
    let kills = 0;
    let midSave = 0;
    for (let i = 0; i < KILLS; i++) {
      // Half the kills at a random moment within the next few epochs, half inside one of the next two saves (at one
      // of its renames: before the checkpoint folder is in place, or before latest.json points to it).
      const kill = i % 2 === 0 ? { afterMs: Math.floor(r() * reference.epochMs * 3) } : { atRename: 1 + Math.floor(r() * 4) };
      const out = await run(dir, optimizer, kill);
      if (out.signal === 'SIGKILL') {
        kills += 1;
        if (kill.atRename !== undefined) midSave += 1;
      } else {
        expect(out.stderr).toBe('');
        expect(out.code).toBe(0);
      }
      // A run that finished before its kill leaves a result; the next ones resume to the end at once.
    }
    const last = await run(dir, optimizer, {});
    expect(last.stderr).toBe('');
    expect(last.code).toBe(0);
    expect(kills).toBe(KILLS);
    expect(midSave).toBe(KILLS / 2);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'))).toEqual(reference.weights);
  }, 300_000);
});
