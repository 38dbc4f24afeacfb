import { describe, expect, it } from 'vitest';
import { requireTool } from '../helpers/tools.js';
import { run } from './support/tools.js';

/* Every YAML file of the repository (k8s/, alert rules, settings) through yamllint, strict. */

describe('YAML', () => {
  it('passes yamllint --strict with .yamllint.yaml', (context) => {
    const yamllint = requireTool('yamllint', context);
    // Run from the root, yamllint reads .yamllint.yaml and skips what it ignores (node_modules/).
    const result = run(yamllint, ['--strict', '-f', 'parsable', '.']);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
