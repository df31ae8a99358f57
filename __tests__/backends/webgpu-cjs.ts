/**
 * What the npm package `webgpu` exports (`create`, `globals`), for jest: the package's entry is an ES module (it uses
 * `import.meta`), which jest's CommonJS runtime cannot load, so a test file maps it here with
 * `jest.mock('webgpu', () => jest.requireActual('./webgpu-cjs'))`. Both load the same native addon,
 * `dist/<platform>-<arch>/dawn.node`; the entry's patch of `GPUDevice.destroy` (unmapping buffers) is left out.
 */
import * as path from 'node:path';

const arch = process.platform === 'darwin' ? 'universal' : process.arch;
const addon = path.join(path.dirname(require.resolve('webgpu/package.json')), 'dist', `${process.platform}-${arch}`, 'dawn.node');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dawn = require(addon) as { create: (options: string[]) => unknown; globals: Record<string, unknown> };

export const create = dawn.create;
export const globals = dawn.globals;
