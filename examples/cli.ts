/** A tiny argument parser for the examples: `--name value` and `--flag`, with `--help`. */
import { parseArgs } from 'node:util';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  readonly default?: string | boolean;
}

export function parseOptions<T extends Record<string, OptionSpec>>(
  usage: string,
  spec: T
): { [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : string } {
  const { values } = parseArgs({
    options: { ...Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, { type: v.type }])), help: { type: 'boolean' } },
    strict: true
  });
  if (values.help === true) {
    const lines = Object.entries(spec).map(([k, v]) => `  --${k.padEnd(14)} ${v.description}${v.default === undefined ? '' : ` (default: ${String(v.default)})`}`);
    console.log(`${usage}\n\nOptions:\n${lines.join('\n')}\n  --help           show this help`);
    process.exit(0);
  }
  const given = values as Record<string, string | boolean | undefined>;
  return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, given[k] ?? v.default])) as never;
}

/** Parses a positive number option, exiting with a clear message when it is not one. */
export function positive(name: string, value: string, integer = false): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    console.error(`--${name} must be a positive ${integer ? 'integer' : 'number'} (got ${JSON.stringify(value)})`);
    process.exit(2);
  }
  return n;
}

/** Parses an option that takes one of `allowed`, exiting with a clear message otherwise. */
export function choice<const T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  console.error(`--${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  process.exit(2);
}

/** The values of `--backend`: `auto`, or one of the backends `useBestBackend` knows. */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;

/** Parses `--backend`: `auto` or one of the backends `useBestBackend` knows, exiting with a clear message otherwise. */
export function backendOption(value: string): (typeof BACKEND_CHOICES)[number] {
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as (typeof BACKEND_CHOICES)[number];
  console.error(`--backend must be auto, tensorflow, webgpu, wasm or cpu (got ${JSON.stringify(value)})`);
  process.exit(2);
}

/** The `--backend` and `--threads` options every example takes (see {@link chooseBackend} in common.ts). */
export const BACKEND_OPTIONS = {
  backend: {
    type: 'string',
    description: 'tfjs backend: auto (tensorflow, else wasm, else cpu), tensorflow (tfjs-node-gpu, else tfjs-node), webgpu (npm webgpu: Dawn on the Vulkan driver, e.g. VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json), wasm or cpu',
    default: 'auto'
  },
  threads: { type: 'string', description: 'threads of the wasm backend, 1 to 8, or auto (one per core)', default: 'auto' }
} as const satisfies Record<string, OptionSpec>;

/** Parses `--threads`: `auto` or an integer from 1 to 8, exiting with a clear message otherwise. */
export function threadsOption(value: string): number | 'auto' {
  if (value === 'auto') return value;
  const n = Number(value);
  if (Number.isInteger(n) && n >= 1 && n <= 8) return n;
  console.error(`--threads must be auto or an integer from 1 to 8 (got ${JSON.stringify(value)})`);
  process.exit(2);
}
