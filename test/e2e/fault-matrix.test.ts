import {beforeAll, describe, expect, it} from '@jest/globals'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {runCli, startCli} from '../helpers/run-cli.js'
import {taskInstance, tiStates} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'

const dag = (tasks: string, extra = '') => `export default {schedule_interval: '@daily', start_date: '2024-01-01', ${extra} tasks: [${tasks}]}`

describe('task failure modes', () => {
  const root = tmpProject({
    'dags/faults.mjs': dag(`
      {task_id: 'chatty', bash_command: 'head -c 52428800 /dev/zero | tr "\\\\0" x'},
      {task_id: 'missing_command', bash_command: 'no_such_command_for_updraft --flag'},
      {task_id: 'throws', callable: () => { throw new Error('callable exploded on purpose') }},
      {task_id: 'hangs', callable: () => new Promise(() => {}), execution_timeout: {seconds: 1}},
      {task_id: 'sleeps', bash_command: 'sleep 600', execution_timeout: {seconds: 1}},
    `),
  })
  let result: ReturnType<typeof runCli>
  beforeAll(() => {
    result = runCli(['dags', 'backfill', 'faults', '-s', '2024-01-01', '--parallelism', '5'], {cwd: root})
  })
  const ti = (taskId: string) => taskInstance(root, 'faults', '2024-01-01', taskId)

  it('exits 1 and lists every failure with its reason', () => {
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('Failures (4):')
  })

  it('a task that prints 50 MB succeeds and its output lands in its log file, not in the state', () => {
    expect(ti('chatty')).toMatchObject({exit_code: 0, state: 'success'})
    expect(statSync(ti('chatty')?.log_path as string).size).toBe(52_428_800)
    expect(statSync(join(root, '.updraft', 'db.json')).size).toBeLessThan(100_000)
  })

  it('a command that does not exist fails with its exit code and the shell message in the log', () => {
    expect(ti('missing_command')).toMatchObject({exit_code: 127, reason: 'exit-non-zero', state: 'failed'})
    expect(readFileSync(ti('missing_command')?.log_path as string, 'utf8')).toContain('no_such_command_for_updraft')
  })

  it('a callable that throws fails with reason exception and its stack in the log', () => {
    expect(ti('throws')).toMatchObject({reason: 'exception', state: 'failed'})
    expect(readFileSync(ti('throws')?.log_path as string, 'utf8')).toContain('callable exploded on purpose')
  })

  it('a callable that never resolves and a shell that never ends both time out', () => {
    expect(ti('hangs')).toMatchObject({reason: 'timeout', state: 'failed'})
    expect(ti('sleeps')).toMatchObject({reason: 'timeout', state: 'failed'})
  })
})

describe('concurrent backfills on one state file', () => {
  it('two backfills of one DAG started together: exactly one runs, the other names the holder', async () => {
    const root = tmpProject({'dags/slow.mjs': dag(`{task_id: 'nap', bash_command: 'sleep 1'}`)})
    const first = startCli(['dags', 'backfill', 'slow', '-s', '2024-01-01'], {cwd: root})
    const second = startCli(['dags', 'backfill', 'slow', '-s', '2024-01-01'], {cwd: root})
    const results = await Promise.all([first.done, second.done])
    const codes = results.map((result) => result.code).sort()
    expect(codes).toEqual([0, 1])
    const loser = results.find((result) => result.code === 1)
    const winnerPid = results[0]?.code === 0 ? first.child.pid : second.child.pid
    expect(loser?.stderr).toContain('Code: BACKFILL_LOCKED')
    expect(loser?.stderr).toContain(`pid ${winnerPid}`)
  })

  it('backfills of two DAGs sharing one state file both complete and keep each other’s writes', async () => {
    const tasks = `{task_id: 'a', bash_command: 'sleep 0.1'}, {task_id: 'b', bash_command: 'sleep 0.1', upstream: ['a']}`
    const root = tmpProject({'dags/left.mjs': dag(tasks), 'dags/right.mjs': dag(tasks)})
    const left = startCli(['dags', 'backfill', 'left', '-s', '2024-01-01', '-e', '2024-01-12', '--max-active-runs', '2'], {cwd: root})
    const right = startCli(['dags', 'backfill', 'right', '-s', '2024-01-01', '-e', '2024-01-12', '--max-active-runs', '2'], {cwd: root})
    const [leftResult, rightResult] = await Promise.all([left.done, right.done])
    expect([leftResult.code, rightResult.code]).toEqual([0, 0])
    for (const dagId of ['left', 'right']) {
      const states = Object.values(tiStates(root, dagId)).flatMap((tis) => Object.values(tis))
      expect(states).toEqual(Array(24).fill('success'))
    }

    expect(readdirSync(join(root, '.updraft')).filter((name) => name.includes('journal') || name.endsWith('.lock'))).toEqual([])
  })
})

describe('state directory problems', () => {
  it('a read-only state location is a clear error and leaves no file behind', () => {
    const root = tmpProject({'dags/quick.mjs': dag(`{task_id: 'a', bash_command: 'true'}`)})
    const result = runCli(['dags', 'backfill', 'quick', '-s', '2024-01-01', '--db', '/sys/updraft-test/db.json'], {cwd: root})
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('Code: STATE_FILE_UNWRITABLE')
    expect(result.stderr.split('\n')[0]).toContain('/sys/updraft-test')
    expect(existsSync('/sys/updraft-test')).toBe(false)
  })

  it('a state path whose parent is a file is a clear error', () => {
    const root = tmpProject({'dags/quick.mjs': dag(`{task_id: 'a', bash_command: 'true'}`), 'plain-file': ''})
    const result = runCli(['dags', 'backfill', 'quick', '-s', '2024-01-01', '--db', join(root, 'plain-file', 'db.json')], {cwd: root})
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('Code: STATE_FILE_UNREADABLE')
  })
})
