/** The GPU suite (`npm run test:gpu`): __tests__/gpu on tfjs' webgpu backend in Node, through Dawn (npm `webgpu`). */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  testMatch: ['**/__tests__/gpu/**/*.test.ts'],
  testPathIgnorePatterns: [],
  setupFiles: ['<rootDir>/__tests__/gpu/setup.ts'],
  // One worker: a second Dawn instance would double the SwiftShader threads on a small machine.
  maxWorkers: 1,
  testTimeout: 600000
};
