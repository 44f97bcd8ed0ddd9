import jest from 'eslint-plugin-jest'
import tseslint from 'typescript-eslint'

const restrict = (patterns) => ({'no-restricted-imports': ['error', {patterns}]})
const notInCore = [
  {group: ['@oclif/*', 'listr2', 'chalk'], message: 'The core never imports CLI or render libraries.'},
  {group: ['**/commands/**', '**/cli/**', '**/render/**'], message: 'The core imports only other core modules.'},
]

const lowdb = {group: ['lowdb', 'lowdb/*'], message: 'lowdb lives in the embedded store (core/state/embedded) only.'}
const dates = {group: ['cron-parser', 'date-fns', 'date-fns/*', '@date-fns/*'], message: 'Date libraries live in core/schedule and core/template only.'}
const bullmq = {group: ['bullmq', 'ioredis'], message: 'BullMQ lives in core/executor/bullmq-executor.ts and core/executor/worker.ts only.'}
const postgres = {group: ['pg', 'pg/*'], message: 'pg lives in the PostgreSQL store (core/state/postgres) only.'}

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'dags/**', 'bench/results/**']},
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/schedule/**', 'src/core/template/**', 'src/core/state/embedded/**', 'src/core/state/postgres/**', 'src/core/executor/bullmq-executor.ts', 'src/core/executor/worker.ts'],
    rules: restrict([...notInCore, lowdb, postgres, dates, bullmq]),
  },
  {files: ['src/core/schedule/**/*.ts', 'src/core/template/**/*.ts'], rules: restrict([...notInCore, lowdb, postgres, bullmq])},
  {files: ['src/core/state/embedded/**/*.ts'], rules: restrict([...notInCore, postgres, dates, bullmq])},
  {files: ['src/core/state/postgres/**/*.ts'], rules: restrict([...notInCore, lowdb, dates, bullmq])},
  {files: ['src/core/executor/bullmq-executor.ts', 'src/core/executor/worker.ts'], rules: restrict([...notInCore, lowdb, postgres, dates])},
  {
    files: ['src/render/**/*.ts'],
    rules: restrict([{group: ['@oclif/*', 'lowdb', 'lowdb/*', 'cron-parser', 'date-fns', 'date-fns/*', '@date-fns/*', 'bullmq', 'ioredis', 'pg'], message: 'Render only formats; it imports no domain libraries.'}]),
  },
  {
    files: ['src/web/**/*.ts'],
    rules: restrict([
      {group: ['@oclif/*', 'listr2', 'chalk', 'lowdb', 'lowdb/*', 'cron-parser', 'date-fns', 'date-fns/*', '@date-fns/*', 'bullmq', 'ioredis', 'pg'], message: 'The web page reads through core; it imports no CLI, render or domain libraries.'},
      {group: ['**/commands/**', '**/cli/**', '**/render/**', '**/core/executor/**', '**/core/session/**', '!**/core/session/requests.js'], message: 'The web page reads state and acts only through core/session/requests.ts: no executor, no session, no CLI.'},
    ]),
  },
  {
    files: ['src/commands/**/*.ts', 'src/cli/**/*.ts'],
    rules: restrict([{group: ['listr2', 'chalk', 'lowdb', 'lowdb/*', 'cron-parser', 'date-fns', 'date-fns/*', '@date-fns/*', 'bullmq', 'ioredis', 'pg'], message: 'Commands reach these through core and render.'}]),
  },
  {files: ['test/**/*.ts'], ...jest.configs['flat/recommended'], rules: {...jest.configs['flat/recommended'].rules, 'jest/no-focused-tests': 'error', 'jest/expect-expect': 'off', 'jest/no-disabled-tests': 'error'}},
)
