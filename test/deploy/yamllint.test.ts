import { describe, expect, it } from 'vitest';
import { findTool, run, warnMissing } from './support/tools.js';

/* Every YAML file of the repository (k8s/, alert rules, settings) through yamllint, strict. */

const yamllint = findTool('yamllint');
if (!yamllint) warnMissing('yamllint', 'linting the YAML files');

describe('YAML', () => {
  it.skipIf(!yamllint)('passes yamllint --strict with .yamllint.yaml', () => {
    // Run from the root, yamllint reads .yamllint.yaml and skips what it ignores (node_modules/).
    const result = run(yamllint!, ['--strict', '-f', 'parsable', '.']);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
