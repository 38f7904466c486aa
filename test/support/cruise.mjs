// Runs dependency-cruiser's API on a folder with a rules file, from the working directory given, and prints
// the violations as JSON. A script of its own because dependency-cruiser is ES modules only, which jest's
// CommonJS module system cannot load. Usage: node test/support/cruise.mjs RULES_FILE DIR...
import { cruise } from 'dependency-cruiser';
import extractDepcruiseConfig from 'dependency-cruiser/config-utl/extract-depcruise-config';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const [rulesFile, ...dirs] = process.argv.slice(2);
const ruleSet = await extractDepcruiseConfig(rulesFile);
const tsConfigFile = ruleSet.options?.tsConfig?.fileName;
const tsConfig = tsConfigFile ? extractTSConfig(tsConfigFile) : undefined;
const { output } = await cruise(dirs, { validate: true, ruleSet }, {}, { tsConfig });
const violations = output.summary.violations.map((v) => ({
  rule: v.rule.name,
  severity: v.rule.severity,
  from: v.from,
  to: v.to,
}));
process.stdout.write(`${JSON.stringify(violations)}\n`);
