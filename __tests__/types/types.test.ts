/**
 * The compile test of the attack and evaluation types (issue "A user's first hour": attacks keep the input's tensor
 * type, evaluate's attacks are keyed by the names given): `attack-types.ts` is type-checked here with the project's
 * compiler options and must give no diagnostic, its `@ts-expect-error` lines included (an unused one is an error).
 */
import * as path from 'node:path';
import ts from 'typescript';

it('attack-types.ts type-checks with the project\'s compiler options', () => {
  const root = path.resolve(__dirname, '..', '..');
  const configPath = path.join(root, 'tsconfig.json');
  const read = ts.readConfigFile(configPath, (file) => ts.sys.readFile(file));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root);
  const file = path.join(__dirname, 'attack-types.ts');
  const program = ts.createProgram([file], { ...parsed.options, noEmit: true });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  expect(diagnostics).toEqual([]);
});
