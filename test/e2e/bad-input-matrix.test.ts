import {beforeAll, describe, expect, it} from '@jest/globals'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {runCli} from '../helpers/run-cli.js'
import {tmpProject} from '../helpers/tmp-project.js'
import {folderSnapshot} from '../helpers/state-file.js'

const task = `{task_id: 'a', bash_command: 'true'}`
const daily = (tasks = task, extra = '') => `export default {schedule_interval: '@daily', start_date: '2024-01-01', ${extra} tasks: [${tasks}]}`

const root = tmpProject({
  'dags/bad_cron.mjs': `export default {schedule_interval: '0 25 * * *', start_date: '2024-01-01', tasks: [${task}]}`,
  'dags/bad_template.mjs': daily(`{task_id: 'cut', bash_command: 'echo {{ ds_nodash[6:] }}'}`),
  'dags/bad_zone.mjs': daily(task, `timezone: 'Europe/Atlantis',`),
  'dags/cycle.mjs': daily(`{task_id: 'a', bash_command: 'true', upstream: ['b']}, {task_id: 'b', bash_command: 'true', upstream: ['a']}`),
  'dags/duplicate.mjs': daily(`${task}, ${task}`),
  'dags/missing_upstream.mjs': daily(`${task}, {task_id: 'b', bash_command: 'true', upstream: ['a_']}`),
  'dags/once.mjs': `export default {schedule_interval: '@once', start_date: '2024-01-01', tasks: [${task}]}`,
  'dags/past.mjs': daily(task, 'default_args: {depends_on_past: true},'),
  'dags/pipeline.mjs': daily(`${task}, {task_id: 'b', bash_command: 'true', upstream: ['a']}`),
  'dags/syntax.ts': 'export default {schedule_interval: "@daily",, }',
  'dags/unknown_key.mjs': daily(task, `retries: 3,`),
  'dags/regional.mjs': daily(task, `partitions: ['us', 'eu', 'apac'],`),
  'dags/weekdays.mjs': `export default {schedule_interval: null, partitions: ['M', 'Tu', 'W'], tasks: [${task}]}`,
  'dags/once_keys.mjs': `export default {schedule_interval: '@once', start_date: '2024-01-01', partitions: ['us'], tasks: [${task}]}`,
  'dags/twice_keyed.mjs': daily(task, `partitions: ['us', 'us'],`),
  'dags/bad_key.mjs': daily(task, `partitions: ['us east'],`),
  'dags/bad_policy.mjs': daily(task, `backfill_policy: 'weekly',`),
  'dags/zero_policy.mjs': daily(task, `backfill_policy: {max_dates_per_run: 0},`),
})
const stateFolder = join(root, '.updraft')
let seeded: Record<string, string> = {}

beforeAll(() => {
  const seed = runCli(['dags', 'backfill', 'pipeline', '-s', '2024-01-01'], {cwd: root})
  if (seed.code !== 0) throw new Error(`seeding the state file failed: ${seed.stderr}`)
  seeded = folderSnapshot(stateFolder)
})

// [flags after `dags backfill`, exit code, error code, text the one-line message must contain]
const cases: Array<[string[], number, string, string]> = [
  [['pipeline', '-s', '2024-13-01'], 2, 'INVALID_DATE', 'got "2024-13-01"'],
  [['pipeline', '-s', '2024-02-30'], 2, 'INVALID_DATE', 'got "2024-02-30"'],
  [['pipeline', '-s', '2024-01-01', '-e', '2024-01-02T25:00'], 2, 'INVALID_DATE', 'got "2024-01-02T25:00"'],
  [['pipeline', '-s', '2024-01-05', '-e', '2024-01-01'], 2, 'DATE_RANGE_INVERTED', 'got 2024-01-05 after 2024-01-01'],
  [['pipeline', '-l', '2024-01-03T12:00'], 2, 'DATE_NOT_A_TICK', 'got 2024-01-03T12:00'],
  [['pipeline', '-l', '2024-01-03', '-s', '2024-01-01'], 2, 'USAGE', '--start-date cannot also be provided when using --logical-dates'],
  [['pipeline', '-D', '2024-01-03', '-l', '2024-01-04'], 2, 'USAGE', '--logical-dates'],
  [['pipeline', '-e', '2024-01-03'], 2, 'USAGE', '--start-date'],
  [['pipeline', '-s', '2024-01-01', '-i'], 2, 'USAGE', '--task-regex'],
  [['pipeline', '-s', '2024-01-01', '-t', '(unclosed'], 2, 'INVALID_REGEX', 'got "(unclosed"'],
  [['pipeline', '-s', '2024-01-01', '-t', '^zzz$'], 2, 'NO_TASK_MATCHES', 'no task matches /^zzz$/ in DAG pipeline (tasks: a, b)'],
  [['pipeline', '-s', '2024-01-01', '-c', '{region: us}'], 2, 'INVALID_CONF', 'got "{region: us}"'],
  [['pipeline', '-s', '2024-01-01', '-c', '[1,2]'], 2, 'INVALID_CONF', 'got an array'],
  [['pipeline', '-s', '2024-01-01', '--max-active-runs', '0'], 2, 'USAGE', 'got "0"'],
  [['pipeline', '-s', '2024-01-01', '--parallelism', '1.5'], 2, 'USAGE', 'got "1.5"'],
  [['pipeline'], 2, 'MISSING_DATES', 'got none'],
  [['pipeline', '-s', '2024-01-01', '--frobnicate'], 2, 'USAGE', '--frobnicate'],
  [[], 2, 'USAGE', 'dag_id'],
  [['pipelin', '-s', '2024-01-01'], 1, 'DAG_NOT_FOUND', 'got "pipelin"'],
  [['past', '-s', '2024-01-01', '-e', '2024-01-03', '-B'], 2, 'RUN_BACKWARDS_WITH_DEPENDS_ON_PAST', 'got a in DAG past'],
  [['once', '-s', '2024-01-01'], 2, 'SCHEDULE_NOT_PERIODIC', 'got schedule_interval @once'],
  [['pipeline', '-s', '2024-01-01', '--reset-dagruns'], 2, 'CONFIRMATION_REQUIRED', 'got no -y'],
  [['pipeline', '-s', '2024-01-01', '--dags-folder', '/nonexistent/dags'], 1, 'DAGS_FOLDER_UNREADABLE', "got ENOENT: no such file or directory, scandir '/nonexistent/dags'"],
  [['syntax', '-s', '2024-01-01'], 1, 'DAG_SYNTAX_ERROR', 'syntax.ts: syntax error'],
  [['cycle', '-s', '2024-01-01'], 1, 'DAG_CYCLE', 'a → b → a'],
  [['duplicate', '-s', '2024-01-01'], 1, 'DAG_DUPLICATE_TASK', 'duplicate task_id "a"'],
  [['unknown_key', '-s', '2024-01-01'], 1, 'DAG_UNKNOWN_KEY', 'unknown key "retries" in DAG'],
  [['bad_cron', '-s', '2024-01-01'], 1, 'DAG_INVALID_SCHEDULE', '"0 25 * * *"'],
  [['bad_zone', '-s', '2024-01-01'], 1, 'DAG_INVALID_TIMEZONE', 'got "Europe/Atlantis"'],
  [['bad_template', '-s', '2024-01-01', '--dry-run'], 1, 'DAG_INVALID_TEMPLATE', 'task "cut" bash_command to be a template that parses, got an error at line 1, column 18: expected comma after expression'],
  [['missing_upstream', '-s', '2024-01-01'], 1, 'DAG_MISSING_UPSTREAM', 'upstream "a_"'],
  [['pipeline', '-D', '2024-01-03T12:00'], 2, 'DATE_NOT_A_TICK', 'Expected each --date value'],
  [['pipeline', '-s', '2024-01-01', '--end', '2024-01-02'], 2, 'USAGE', 'Nonexistent flag: --end'],
  [['regional', '-s', '2024-01-01', '--partitions', 'euu'], 2, 'UNKNOWN_PARTITION', 'partition key of regional (us, eu, apac), got "euu"; did you mean "eu"?'],
  [['regional', '-s', '2024-01-01', '--from', 'apac', '--to', 'us'], 2, 'PARTITION_RANGE_INVERTED', 'got apac after us'],
  [['regional', '-s', '2024-01-01', '--partitions', 'us', '--from', 'eu'], 2, 'MIXED_SELECTION_FLAGS', 'got --partitions and --from'],
  [['regional', '--partitions', 'us'], 2, 'MISSING_DATES', 'got none'],
  [['weekdays', '-s', '2024-01-01'], 2, 'DATES_ON_KEY_ONLY_DAG', 'Expected --partitions or --from/--to for DAG weekdays'],
  [['weekdays', '--to', 'X'], 2, 'UNKNOWN_PARTITION', 'got "X"'],
  [['once_keys', '-s', '2024-01-01'], 2, 'SCHEDULE_NOT_PERIODIC', 'got schedule_interval @once'],
  [['pipeline', '--from', '2024-01-01', '-s', '2024-01-01'], 2, 'MIXED_SELECTION_FLAGS', 'got both'],
  [['pipeline', '-D', '2024-01-01', '--to', '2024-01-03'], 2, 'MIXED_SELECTION_FLAGS', 'got both'],
  [['pipeline', '--to', '2024-01-03'], 2, 'MISSING_DATES', 'got only --to 2024-01-03'],
  [['pipeline', '--from', '2024-01-05', '--to', '2024-01-03'], 2, 'DATE_RANGE_INVERTED', 'Expected --from to be on or before --to, got 2024-01-05 after 2024-01-03'],
  [['pipeline', '--from', '2024-01-33'], 2, 'INVALID_DATE', 'got "2024-01-33"'],
  [['pipeline', '--partitions', '2024-01-03T12:00'], 2, 'DATE_NOT_A_TICK', 'Expected each --partitions value'],
  [['pipeline', '-s', '2024-01-01', '--batch-size', '0'], 2, 'INVALID_BATCH_SIZE', 'integer of at least 1 or "all", got "0"'],
  [['pipeline', '-s', '2024-01-01', '--batch-size', 'few'], 2, 'INVALID_BATCH_SIZE', 'got "few"'],
  [['twice_keyed', '-s', '2024-01-01'], 1, 'DAG_INVALID_VALUE', 'got "us" twice'],
  [['bad_key', '-s', '2024-01-01'], 1, 'DAG_INVALID_VALUE', 'got "us east"'],
  [['bad_policy', '-s', '2024-01-01'], 1, 'DAG_INVALID_VALUE', `expected backfill_policy to be 'single_run' or {max_dates_per_run: n}`],
  [['zero_policy', '-s', '2024-01-01'], 1, 'DAG_INVALID_VALUE', 'got {"max_dates_per_run":0}'],
]

// [argv, exit code, error code, text of the message, text one of the suggestions must contain]
const messages: Array<[string[], number, string, string, string]> = [
  [['dags', 'backfil', 'pipeline', '-s', '2024-01-01'], 2, 'COMMAND_NOT_FOUND', 'got "dags backfil pipeline"', 'updraft dags backfill pipeline -s 2024-01-01'],
  [['dags', 'backfill'], 2, 'USAGE', 'dag_id', 'updraft dags backfill --help'],
  [['dags', 'backfill', 'pipeline', '-s', '2024-01-01', '--end', '2024-01-02'], 2, 'USAGE', '--end', 'Did you mean --end-date?'],
  [['dags', 'list-runs', 'pipelin'], 1, 'DAG_NOT_FOUND', 'got "pipelin"', 'Did you mean "pipeline"?'],
  [['dags', 'backfill', 'missing_upstream', '-s', '2024-01-01'], 1, 'DAG_MISSING_UPSTREAM', '(tasks: a, b)', `Did you mean upstream: ['a'] in task "b"?`],
  [['dags', 'backfill', 'pipeline', '-D', '2024-01-03T12:00'], 2, 'DATE_NOT_A_TICK', 'nearest ticks: 2024-01-03 (before) and 2024-01-04 (after)', '--date 2024-01-04'],
]

describe('error messages say what was expected and suggest what to type', () => {
  it.each(messages)('%j exits %i with %s', (argv, exit, code, text, suggestion) => {
    const result = runCli(argv, {cwd: root})
    expect(result.code).toBe(exit)
    const lines = result.stderr.trim().split('\n')
    expect(lines[0]).toMatch(/^Error: /)
    expect(lines[0]).toContain(text)
    // A missing argument is not about --logical-dates, whatever oclif's note says.
    expect(lines[0]).not.toContain('Note:')
    expect(lines[1]).toBe(`Code: ${code}`)
    expect(lines.slice(2).some((line) => line.startsWith('Try this: ') && line.includes(suggestion))).toBe(true)
    expect(folderSnapshot(stateFolder)).toEqual(seeded)
  })
})

describe('bad input leaves state untouched', () => {
  it.each(cases)('dags backfill %j exits %i with %s', (args, exit, code, text) => {
    const result = runCli(['dags', 'backfill', ...args], {cwd: root})
    expect(result.code).toBe(exit)
    const [message, codeLine] = result.stderr.trim().split('\n')
    expect(message).toMatch(/^Error: /)
    expect(message).toContain(text)
    expect(codeLine).toBe(`Code: ${code}`)
    expect(folderSnapshot(stateFolder)).toEqual(seeded)
  })
})

describe('bad state files are refused and never rewritten', () => {
  it.each([
    ['{"schema_version": 1, "dags": ', 'STATE_FILE_CORRUPT'],
    ['[]', 'STATE_FILE_CORRUPT'],
    [JSON.stringify({dags: {}, schema_version: 4}), 'STATE_SCHEMA_TOO_NEW'],
  ])('%s → %s', (content, code) => {
    const project = tmpProject({'.updraft/db.json': content, 'dags/pipeline.mjs': daily()})
    const result = runCli(['dags', 'backfill', 'pipeline', '-s', '2024-01-01'], {cwd: project})
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`Code: ${code}`)
    expect(readFileSync(join(project, '.updraft', 'db.json'), 'utf8')).toBe(content)
  })
})
