import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/*
 * The layers of src/, lowest first: a module imports only from its own layer or lower ones,
 * and peers of one layer (dba, metrics, status) not from each other. The order is the pass's
 * own: config <- db <- sql <- reconcile <- dba/metrics/status/terminal <- commands/serve <- cli.
 * import-x/no-restricted-paths enforces it; import-x/no-cycle keeps circles out.
 */
const LAYERS = [
  { parts: ['config'] },
  { parts: ['db'] },
  { parts: ['sql'] },
  { parts: ['log.ts'] },
  { parts: ['reconcile'] },
  { parts: ['dba', 'metrics', 'status.ts', 'terminal'], peersApart: true },
  { parts: ['commands', 'serve.ts', 'signals.ts'] },
  { parts: ['cli.ts'] },
];
const path = (part) => `./src/${part}`;
const zones = LAYERS.flatMap((layer, i) =>
  layer.parts.map((part) => ({
    target: path(part),
    from: [
      ...LAYERS.slice(i + 1).flatMap((l) => l.parts),
      ...(layer.peersApart ? layer.parts.filter((p) => p !== part) : []),
    ].map(path),
    message: `src/${part} is in layer ${i + 1} of eslint.config.js: it imports only from lower layers`,
  })),
).filter((zone) => zone.from.length > 0);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      // no-cycle parses the modules it follows: with TypeScript's parser, or it sees nothing.
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver()],
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-duplicates': 'error',
      'import-x/no-cycle': 'error',
      'import-x/no-self-import': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'import-x/no-restricted-paths': ['error', { zones }] },
  },
);
