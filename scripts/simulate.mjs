#!/usr/bin/env node
// npm run simulate -- --seed S --steps N [--seeds K] [--bug NAME]: the deterministic simulator
// (src/simulator/cli.ts). The TypeScript sources are compiled as they load (transpile only, as ts-jest
// would), so a run needs no build.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ts = require('typescript');
const Module = require('node:module');
const options = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  sourceMap: false,
};
Module._extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(readFileSync(filename, 'utf8'), {
    compilerOptions: options,
    fileName: filename,
  });
  module._compile(outputText, filename);
};
const { main } = require('../src/simulator/cli.ts');
process.exitCode = await main(process.argv.slice(2));
