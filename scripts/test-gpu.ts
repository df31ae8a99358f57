/**
 * `npm run test:gpu`: the GPU suite (`__tests__/gpu`, jest.gpu.config.cjs) on tfjs' webgpu backend in Node, through
 * Dawn's Node bindings (npm `webgpu`). On a machine with a GPU, Dawn finds its Vulkan driver; on one without, the
 * SwiftShader Vulkan driver of Debian's `chromium` package (`/usr/lib/chromium/vk_swiftshader_icd.json`, with
 * `libvulkan1`) runs the same WebGPU on the CPU. `VK_ICD_FILENAMES`, when set, is kept as it is.
 *
 *   npm run test:gpu
 *   npm run test:gpu -- __tests__/gpu/mnist.test.ts    # arguments go to jest
 *   VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/nvidia_icd.json npm run test:gpu
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const env = { ...process.env };
if (env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER)) env.VK_ICD_FILENAMES = SWIFTSHADER;
// Dawn warns on every start without it; any writable folder will do.
env.XDG_RUNTIME_DIR ??= '/tmp';
if (env.VK_ICD_FILENAMES === undefined) {
  console.warn(`test:gpu: VK_ICD_FILENAMES is unset and ${SWIFTSHADER} is missing: Dawn will look for the system's Vulkan driver. ` +
    'On Debian without a GPU, `apt-get install chromium libvulkan1` provides SwiftShader\'s.');
}
console.log(`test:gpu: Vulkan driver ${env.VK_ICD_FILENAMES ?? '(the system\'s)'}`);
// jest's package exports only its API; its command line lives beside package.json.
const jest = path.join(path.dirname(createRequire(import.meta.url).resolve('jest/package.json')), 'bin', 'jest.js');
const r = spawnSync(process.execPath, [jest, '-c', 'jest.gpu.config.cjs', ...process.argv.slice(2)], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
