/** Finding and launching the system Chromium for the browser tests (never a downloaded browser). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext } from 'playwright-core';

/** Where Chromium is looked for when `CHROMIUM_PATH` is not set (Debian's `chromium` package first). */
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome-stable', '/usr/bin/google-chrome'];

/**
 * The flags every launch uses (see DEVELOPERS.md): headless, no sandbox (CI runs as root), no background traffic of
 * any kind, and WebGPU on SwiftShader: `--enable-unsafe-webgpu --enable-unsafe-swiftshader
 * --use-webgpu-adapter=swiftshader` give a page served from localhost (a secure context) a WebGPU adapter on the CPU.
 * There is deliberately no `--disable-gpu`: it removes the GPU process, and WebGPU with it (WebGL then still runs on
 * SwiftShader, as it does with these flags).
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run'
];

/** The Chromium executable to use, or undefined when there is none. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = env.CHROMIUM_PATH;
  if (given !== undefined && given !== '') return fs.existsSync(given) ? given : undefined;
  return CHROMIUM_CANDIDATES.find((p) => fs.existsSync(p));
}

/** How to get a Chromium, for the error message. */
export function missingChromiumMessage(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.CHROMIUM_PATH;
  const where =
    given !== undefined && given !== '' ? `CHROMIUM_PATH=${given} does not exist` : `none of ${CHROMIUM_CANDIDATES.join(', ')} exists`;
  return [
    `no Chromium found (${where}).`,
    'Install it with:  sudo apt-get update && sudo apt-get install -y chromium   (Debian/Ubuntu; .ci/run does this)',
    'or point CHROMIUM_PATH at a Chromium or Chrome executable. ardkit never downloads a browser.'
  ].join('\n');
}

/** A launched browser with a fresh profile; `close` also removes the profile. */
export interface LaunchedChromium {
  readonly context: BrowserContext;
  readonly version: string;
  close(): Promise<void>;
}

/** Launches Chromium headless with {@link CHROMIUM_FLAGS} and a fresh `--user-data-dir`. */
export async function launchChromium(executablePath: string, extraFlags: readonly string[] = []): Promise<LaunchedChromium> {
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-chromium-'));
  // launchPersistentContext passes the fresh profile as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...extraFlags],
    timeout: 60_000
  });
  const version = chromiumVersion(executablePath);
  return {
    context,
    version,
    close: async () => {
      try {
        await context.close();
      } finally {
        fs.rmSync(profile, { recursive: true, force: true });
      }
    }
  };
}

/** `chromium --version`, or 'unknown version'. */
export function chromiumVersion(executablePath: string): string {
  try {
    return execFileSync(executablePath, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15_000 }).trim();
  } catch {
    return 'unknown version';
  }
}
