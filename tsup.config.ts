import { defineConfig } from 'tsup';

/** One entry point per folder of the design, plus the root. */
const folders = ['core', 'attacks', 'losses', 'eval', 'data', 'models', 'train', 'backends', 'io'];

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    ...Object.fromEntries(folders.map((f) => [`${f}/index`, `src/${f}/index.ts`]))
  },
  format: ['esm', 'cjs'],
  dts: true,
  tsconfig: 'tsconfig.build.json',
  sourcemap: true,
  clean: true,
  splitting: true,
  treeshake: true,
  target: 'es2020',
  // tfjs is a peer: never bundled, so the user's single copy of tfjs-core is the one ardkit uses. So is `webgpu` (Dawn's
  // Node bindings, a native addon), which registerNodeWebGpu imports only when called.
  external: [/^@tensorflow\//, /^node:/, /^webgpu$/]
});
