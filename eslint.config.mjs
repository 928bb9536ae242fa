// @ts-check
// `npm run lint`: the recommended rules of ESLint and typescript-eslint (no type-aware rules, so it
// stays fast), adjusted to the code's existing style. No formatting rules: layout is Prettier's
// (`prettier --check` runs in the same script), and none of these rules conflicts with it, so
// eslint-config-prettier is not needed.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeGlobals = {
  module: 'writable',
  require: 'readonly',
  process: 'readonly',
  console: 'readonly',
  __dirname: 'readonly',
  URL: 'readonly',
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'docs/', 'coverage/'] },
  eslint.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // The compiler reports unused locals and parameters (noUnusedLocals, noUnusedParameters).
      '@typescript-eslint/no-unused-vars': 'off',
      // RunningJob names `this` for the methods of the context object it hands to handlers.
      '@typescript-eslint/no-this-alias': 'off',
      // The sample's error filter keys a Map by error constructor.
      '@typescript-eslint/no-unsafe-function-type': 'off',
    },
  },
  {
    // Test and bench helpers reach into untyped places (raw protocol data, child-process messages).
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'prefer-const': 'off' },
  },
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: nodeGlobals },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The browser client runs in a page as an ES module, not in Node.
    files: ['lib/events/browser/**/*.mjs'],
    languageOptions: {
      sourceType: 'module',
      globals: {
        fetch: 'readonly',
        location: 'readonly',
        EventSource: 'readonly',
        URL: 'readonly',
        URLSearchParams: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        console: 'readonly',
      },
    },
  },
);
