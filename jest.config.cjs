/** Tests run as CommonJS through ts-jest; the package itself ships ESM and CJS. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  // The GPU suite needs a WebGPU adapter: `npm run test:gpu` (jest.gpu.config.cjs) runs it.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/__tests__/gpu/'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.cjs.json', diagnostics: false }]
  },
  testTimeout: 120000
};
