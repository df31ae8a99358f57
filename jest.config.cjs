/** Tests run as CommonJS through ts-jest; the package itself ships ESM and CJS. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.cjs.json', diagnostics: false }]
  },
  testTimeout: 120000
};
