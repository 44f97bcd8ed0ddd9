import {describe, expect, it} from '@jest/globals'
import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {alive} from '../helpers/processes.js'
import {REPO_ROOT, runCli} from '../helpers/run-cli.js'
import {readState} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'

const pipeline = `export default {schedule_interval: '@daily', start_date: '2024-01-01', timezone: 'Europe/Berlin',
  tasks: [
    {task_id: 'extract', bash_command: 'echo extract {{ ds }}'},
    {task_id: 'load', bash_command: 'test {{ ds }} != 2024-01-02 && echo load {{ params.region }}', upstream: ['extract']},
  ]}`
// Records its shell's pid, then sleeps, so a test can stop it mid-run and look for the process.
const slow = `export default {schedule_interval: '@daily', start_date: '2024-01-01',
  tasks: [{task_id: 'nap', bash_command: 'echo $$ > ../nap.pid; sleep 30'}]}`

/** A user's project that depends on updraft by path, with its own script; npm links the package as users get it. */
function scratchProject(files: Record<string, string>): string {
  const root = tmpProject({
    'package.json': JSON.stringify({dependencies: {updraft: `file:${REPO_ROOT}`}, name: 'scratch', private: true, type: 'module'}),
    ...files,
  })
  const install = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], {cwd: root, encoding: 'utf8'})
  expect(install.status).toBe(0)
  return root
}

const node = (root: string, script: string) => {
  const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1'}
  delete env.NODE_ENV
  return spawnSync(process.execPath, [script], {cwd: root, encoding: 'utf8', env})
}

describe("backfill() from a user's script (§14)", () => {
  it('runs what the CLI runs and resolves to the same document, streaming events', () => {
    const root = scratchProject({
      'dags/pipeline.mjs': pipeline,
      'launch.mjs': `import {backfill} from 'updraft'
const events = []
const result = await backfill({dagId: 'pipeline', start: '2024-01-01', end: '2024-01-03', conf: {region: 'eu'}, onEvent: (event) => events.push(event)})
console.log(JSON.stringify({result, types: [...new Set(events.map((event) => event.type))], finished: events.filter((event) => event.type === 'run_finished').length}))`,
    })
    const twin = tmpProject({'dags/pipeline.mjs': pipeline})
    const launched = node(root, 'launch.mjs')
    expect(launched.stderr).toBe('')
    const {finished, result, types} = JSON.parse(launched.stdout)
    const cli = runCli(['dags', 'backfill', 'pipeline', '-s', '2024-01-01', '-e', '2024-01-03', '-c', '{"region":"eu"}', '--json'], {cwd: twin})
    expect(result).toEqual(JSON.parse(cli.stdout))
    expect(result.backfill_id).toBe(1)
    expect(result.runs.map((run: {state: string}) => run.state)).toEqual(['success', 'failed', 'success'])
    expect(types).toEqual(['backfill_started', 'run_started', 'task_state', 'run_finished'])
    expect(finished).toBe(3)
    // The record is the CLI's: `backfills show` reads it.
    expect(JSON.parse(runCli(['backfills', 'show', '1', '--json'], {cwd: root}).stdout).request.conf).toEqual({region: 'eu'})
    expect(runCli(['tasks', 'logs', 'pipeline', 'load', '2024-01-01'], {cwd: root}).stdout).toContain('load eu')
  })

  it('rejects a bad request with the UpdraftError code the CLI prints, and changes nothing', () => {
    const root = scratchProject({
      'dags/pipeline.mjs': pipeline,
      'bad.mjs': `import {backfill, UpdraftError} from 'updraft'
const requests = [
  {dagId: 'pipeline', start: '2024-13-01'},
  {dagId: 'pipline', start: '2024-01-01'},
  {dagId: 'pipeline', start: '2024-01-05', end: '2024-01-01'},
  {dagId: 'pipeline', start: '2024-01-01', batchSize: 0},
  {dagId: 'pipeline', start: '2024-01-01', taskRegex: '^nothing$'},
  {dagId: 'pipeline', start: '2024-01-01', startDate: '2024-01-01'},
]
const codes = []
for (const request of requests) {
  try {
    await backfill(request)
    codes.push('resolved')
  } catch (error) {
    codes.push(error instanceof UpdraftError ? error.code : 'not an UpdraftError: ' + error)
  }
}
console.log(JSON.stringify(codes))`,
    })
    const codes = JSON.parse(node(root, 'bad.mjs').stdout)
    const cliCode = (...args: string[]) => /Code: (\w+)/.exec(runCli(['dags', 'backfill', ...args], {cwd: root}).stderr)?.[1]
    expect(codes).toEqual([
      cliCode('pipeline', '-s', '2024-13-01'),
      cliCode('pipline', '-s', '2024-01-01'),
      cliCode('pipeline', '-s', '2024-01-05', '-e', '2024-01-01'),
      cliCode('pipeline', '-s', '2024-01-01', '--batch-size', '0'),
      cliCode('pipeline', '-s', '2024-01-01', '-t', '^nothing$'),
      'USAGE',
    ])
    expect(codes.slice(0, 5)).toEqual(['INVALID_DATE', 'DAG_NOT_FOUND', 'DATE_RANGE_INVERTED', 'INVALID_BATCH_SIZE', 'NO_TASK_MATCHES'])
    expect(existsSync(join(root, '.updraft'))).toBe(false)
  })

  it('stops on an AbortSignal as the CLI stops on Ctrl-C, and resolves with what was done', () => {
    const root = scratchProject({
      'dags/slow.mjs': slow,
      'abort.mjs': `import {existsSync} from 'node:fs'
import {backfill} from 'updraft'
const controller = new AbortController()
const timer = setInterval(() => existsSync('nap.pid') && controller.abort(), 20)
const result = await backfill({dagId: 'slow', start: '2024-01-01', signal: controller.signal})
clearInterval(timer)
console.log(JSON.stringify(result))`,
    })
    const started = Date.now()
    const aborted = node(root, 'abort.mjs')
    expect(Date.now() - started).toBeLessThan(20_000)
    const result = JSON.parse(aborted.stdout)
    expect(result.backfill_id).toBe(1)
    expect(result.runs[0].task_instances).toEqual({nap: 'none'})
    expect(Object.values(readState(root).dags.slow?.backfills ?? {}).map((record) => record.state)).toEqual(['interrupted'])
    expect(alive(Number(readFileSync(join(root, 'nap.pid'), 'utf8')))).toBe(false)
  })

  it('is typed: options and results check under tsc, and a wrong option does not', () => {
    const root = scratchProject({
      'good.ts': `import {backfill, type BackfillOptions, type BackfillResult, UpdraftError} from 'updraft'
const options: BackfillOptions = {dagId: 'pipeline', start: '2024-01-01', end: new Date('2024-01-03'), batchSize: 'all', onEvent: (event) => console.log(event.type)}
const result: BackfillResult = await backfill(options)
const ids: string[] = result.runs.map((run) => run.run_id)
console.log(ids, result.dag_id, new UpdraftError('USAGE', 'x').code)
`,
      'bad.ts': `import {backfill} from 'updraft'
await backfill({dagId: 'pipeline', start: 20240101, batchSize: 'some'})
`,
    })
    const typecheck = (file: string) => {
      writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({compilerOptions: {module: 'nodenext', moduleResolution: 'nodenext', noEmit: true, strict: true, target: 'es2022'}, files: [file]}))
      return spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {cwd: root, encoding: 'utf8'})
    }

    expect(typecheck('good.ts').stdout).toBe('')
    const bad = typecheck('bad.ts')
    expect(bad.status).not.toBe(0)
    expect(bad.stdout).toMatch(/bad\.ts\(2,\d+\): error TS2\d+/)
    expect(bad.stdout).toContain("'number'")
  })
})
