import {describe, expect, it} from '@jest/globals'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {startWebserver} from '../helpers/browser.js'
import {runCli} from '../helpers/run-cli.js'
import {tiStates} from '../helpers/state-file.js'
import {tmpProject} from '../helpers/tmp-project.js'

// enrich fails until ../fixed exists; load and report come after it.
const chain = `export default {schedule_interval: '@daily', start_date: '2024-01-01', timezone: 'Europe/Berlin',
  tasks: [
    {task_id: 'extract', bash_command: 'true'},
    {task_id: 'enrich', bash_command: '[ -f ../fixed ]', upstream: ['extract']},
    {task_id: 'load', bash_command: 'true', upstream: ['enrich']},
    {task_id: 'report', bash_command: 'true', upstream: ['load']},
  ]}`

const json = <T>(stdout: string) => JSON.parse(stdout) as T
type RunsDocument = {runs: Array<{logical_date: string; state: string; task_instances: Record<string, string>}>}

describe('a run whose failure lies outside the selected tasks', () => {
  it('says why nothing ran, stays failed after the selected task is fixed, and names the command that finishes it', () => {
    const root = tmpProject({'dags/chain.mjs': chain})
    expect(runCli(['dags', 'backfill', 'chain', '-D', '2024-03-05'], {cwd: root}).code).toBe(1)

    // Selecting the failed task again without --rerun-failed-tasks runs nothing: the output says how to re-run it.
    const again = runCli(['dags', 'backfill', 'chain', '-D', '2024-03-05', '-t', '^enrich$'], {cwd: root})
    expect(again.code).toBe(1)
    expect(again.stdout).toContain('had already failed and were not run again; add --rerun-failed-tasks')

    writeFileSync(join(root, 'fixed'), '')
    const fixed = runCli(['dags', 'backfill', 'chain', '-D', '2024-03-05', '-t', '^enrich$', '-i', '--rerun-failed-tasks'], {cwd: root})
    expect(fixed.code).toBe(0)
    expect(fixed.stdout).toContain('2024-03-05 is still failed: load upstream_failed, report upstream_failed were not selected.')
    expect(fixed.stdout).toContain('Run them with: updraft dags backfill chain -D 2024-03-05 --rerun-failed-tasks')
    const runs = json<{runs: Array<{state: string}>}>(runCli(['dags', 'list-runs', 'chain', '--json'], {cwd: root}).stdout)
    expect(runs.runs.map((run) => run.state)).toEqual(['failed'])

    const finished = runCli(['dags', 'backfill', 'chain', '-D', '2024-03-05', '--rerun-failed-tasks', '--json'], {cwd: root})
    expect(finished.code).toBe(0)
    expect(json<RunsDocument>(finished.stdout).runs[0]).toMatchObject({state: 'success', task_instances: {enrich: 'success', load: 'success', report: 'success'}})
  })

  it('says the dates were already complete when a re-run has nothing to do', () => {
    const root = tmpProject({'dags/chain.mjs': chain, fixed: ''})
    expect(runCli(['dags', 'backfill', 'chain', '-s', '2024-03-04', '-e', '2024-03-05'], {cwd: root}).code).toBe(0)
    const rerun = runCli(['dags', 'backfill', 'chain', '-s', '2024-03-04', '-e', '2024-03-05'], {cwd: root})
    expect(rerun.code).toBe(0)
    expect(rerun.stdout).toContain('2 date(s) already complete')
    expect(rerun.stdout).toContain('Every date in the range was already complete, so nothing ran for it; --reset-dagruns runs them again.')
  })
})

describe('dates in human output', () => {
  it('reads a Europe/Berlin DAG in its zone everywhere a person looks, while --json keeps UTC instants', () => {
    const root = tmpProject({'dags/chain.mjs': chain})
    const backfill = runCli(['dags', 'backfill', 'chain', '-D', '2024-03-05'], {cwd: root})
    expect(backfill.stdout).toMatch(/chain\s+enrich\s+2024-03-05\s+1\s+failed/)
    const listed = runCli(['dags', 'list-runs', 'chain'], {cwd: root})
    expect(listed.stdout).toMatch(/^2024-03-05\s+failed\s+backfill__2024-03-04T23:00:00\+00:00/m)
    expect(json<RunsDocument>(runCli(['dags', 'list-runs', 'chain', '--json'], {cwd: root}).stdout).runs[0]?.logical_date).toBe('2024-03-04T23:00:00.000Z')
    expect(runCli(['dags', 'show', 'chain'], {cwd: root}).stdout).toMatch(/start_date\s+2024-01-01\n/)
    expect(runCli(['tasks', 'states-for-dag-run', 'chain', '2024-03-05'], {cwd: root}).stdout).toMatch(/^2024-03-05\s+failed/)
    for (const output of [backfill.stdout, listed.stdout]) expect(output).not.toContain('2024-03-04T23:00:00.000Z')
  })

  it('says which runs exist when none is in the state asked for', () => {
    const root = tmpProject({'dags/chain.mjs': chain, fixed: ''})
    runCli(['dags', 'backfill', 'chain', '-D', '2024-03-05'], {cwd: root})
    const result = runCli(['dags', 'list-runs', 'chain', '--state', 'failed'], {cwd: root})
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toBe('No failed runs of chain (1 run(s) recorded in other states).')
  })
})

describe('every command', () => {
  it.each([
    [['dags', 'list']],
    [['dags', 'show', 'chain']],
    [['dags', 'list-runs', 'chain']],
    [['tasks', 'list', 'chain']],
    [['tasks', 'states-for-dag-run', 'chain', '2024-03-05']],
    [['tasks', 'logs', 'chain', 'enrich', '2024-03-05']],
    [['dags', 'backfill', 'chain', '-D', '2024-03-05', '--dry-run']],
  ])('%j takes --dags-folder and --db, and the UPDRAFT_* variables', (argv) => {
    const root = tmpProject({'pipelines/chain.mjs': chain})
    const db = join(root, 'state', 'db.json')
    expect(runCli(['dags', 'backfill', 'chain', '-D', '2024-03-05', '--dags-folder', join(root, 'pipelines'), '--db', db], {cwd: root}).code).toBe(1)
    const withFlags = runCli([...argv, '--dags-folder', join(root, 'pipelines'), '--db', db], {cwd: root})
    expect(withFlags.stderr).toBe('')
    expect(withFlags.code).toBe(0)
    const withEnv = runCli(argv, {cwd: root, env: {UPDRAFT_DAGS_FOLDER: join(root, 'pipelines'), UPDRAFT_DB: db}})
    expect(withEnv.code).toBe(0)
    expect(withEnv.stdout).toBe(withFlags.stdout)
  })
})

describe('values from outside reaching a shell', () => {
  const value = `us; touch ../pwned $(touch ../pwned2) 'single' "double" \`touch ../pwned3\`\nsecond line`

  it('reach the command verbatim through the sh filter', () => {
    const dag = `export default {schedule_interval: '@daily', start_date: '2024-01-01', params: {region: 'eu'},
      tasks: [{task_id: 'echo', bash_command: "printf '%s' {{ params.region | sh }} > ../out.txt"}]}`
    const root = tmpProject({'dags/quoted.mjs': dag})
    const result = runCli(['dags', 'backfill', 'quoted', '-D', '2024-01-01', '-c', JSON.stringify({region: value})], {cwd: root})
    expect(result.code).toBe(0)
    expect(result.stderr).not.toContain('Warning')
    expect(readFileSync(join(root, 'out.txt'), 'utf8')).toBe(value)
    for (const name of ['pwned', 'pwned2', 'pwned3']) expect(existsSync(join(root, name))).toBe(false)
    expect(tiStates(root, 'quoted')).toEqual({'2024-01-01': {echo: 'success'}})
  })

  it('are warned about when a bash_command inserts params without it', () => {
    const dag = `export default {schedule_interval: '@daily', start_date: '2024-01-01', params: {region: 'eu'},
      tasks: [{task_id: 'loose', bash_command: 'echo {{ params.region }} {{ ds }}'}]}`
    const root = tmpProject({'dags/loose.mjs': dag})
    const result = runCli(['dags', 'backfill', 'loose', '-D', '2024-01-01', '--dry-run'], {cwd: root})
    expect(result.code).toBe(0)
    expect(result.stderr).toContain('Warning:')
    expect(result.stderr).toContain('task "loose" inserts {{ params.region }} into its bash_command without shell quoting')
    expect(result.stderr).toContain('{{ params.region | sh }}')
    expect(result.stderr).not.toContain('{{ ds }}')
  })
})

describe('updraft --help', () => {
  it('describes each topic as a whole, not by one of its commands', () => {
    const help = runCli(['--help'], {cwd: tmpProject()}).stdout
    const topics = help.slice(help.indexOf('TOPICS'), help.indexOf('COMMANDS'))
    expect(topics).toMatch(/backfills\s+Create, list, show, pause, unpause, cancel and resume backfills and\s+requests\./)
    expect(topics).not.toContain('Stop a running backfill')
    expect(topics).toMatch(/db\s+Move the state between stores\./)
  })
})

describe('re-running a failed range without flags', () => {
  it('says first why nothing ran: the dates are left failed, not complete, and names the flag', () => {
    const root = tmpProject({'dags/broken.mjs': `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'boom', bash_command: 'exit 3'}, {task_id: 'after', bash_command: 'true', upstream: ['boom']}]}`})
    expect(runCli(['dags', 'backfill', 'broken', '-s', '2024-01-01', '-e', '2024-01-03'], {cwd: root}).code).toBe(1)
    const again = runCli(['dags', 'backfill', 'broken', '-s', '2024-01-01', '-e', '2024-01-03'], {cwd: root})
    expect(again.code).toBe(1)
    const lines = again.stdout.split('\n')
    expect(lines[0]).toBe('Backfilling broken: 3 logical date(s) (UTC), 0 task instance(s) to run; 3 date(s) left failed, as without --rerun-failed-tasks failed task instances are not run again')
    expect(again.stdout).not.toContain('already complete')
    const reason = lines.findIndex((line) => line.startsWith('6 selected task instance(s) had already failed and were not run again'))
    const table = lines.findIndex((line) => line.startsWith('Failures (6):'))
    expect(reason).toBeGreaterThan(0)
    expect(reason).toBeLessThan(table)
  })
})

describe("a record's own counts and duration", () => {
  it('keeps what it counted at its end after a later backfill finishes its dates, the same in backfills show and on the web page', async () => {
    const root = tmpProject({'dags/chain.mjs': chain})
    expect(runCli(['dags', 'backfill', 'chain', '-s', '2024-03-01', '-e', '2024-03-02'], {cwd: root}).code).toBe(1)
    writeFileSync(join(root, 'fixed'), '')
    expect(runCli(['dags', 'backfill', 'chain', '-s', '2024-03-01', '-e', '2024-03-02', '--rerun-failed-tasks'], {cwd: root}).code).toBe(0)

    const shown = runCli(['backfills', 'show', '1'], {cwd: root}).stdout
    expect(shown).toMatch(/task instances {2}2 success, 2 failed, 4 upstream_failed/)
    expect(json<{counts: Record<string, number>}>(runCli(['backfills', 'show', '1', '--json'], {cwd: root}).stdout).counts).toEqual({failed: 2, success: 2, upstream_failed: 4})
    const server = await startWebserver(root, ['--read-only'])
    try {
      const page = await (await fetch(`${server.url}/backfills/1`)).text()
      const data = JSON.parse(/<script type="application\/json" id="backfill-data">(.*?)<\/script>/s.exec(page)?.[1] ?? '{}')
      expect(data.live.counts).toEqual({failed: 2, success: 2, upstream_failed: 4})
    } finally {
      server.child.kill('SIGTERM')
      await server.done
    }
  }, 60_000)

  it('counts only the time its goes ran: a resume long after a stop adds its own few milliseconds', async () => {
    const root = tmpProject({'dags/chain.mjs': chain})
    expect(runCli(['dags', 'backfill', 'chain', '-D', '2024-03-05'], {cwd: root}).code).toBe(1)
    await new Promise((resolve) => {
      setTimeout(resolve, 2500)
    })
    writeFileSync(join(root, 'fixed'), '')
    expect(runCli(['backfills', 'resume', '1'], {cwd: root}).code).toBe(1)
    const listed = json<Array<{created_at: string; finished_at: string}>>(runCli(['backfills', 'list', '--json'], {cwd: root}).stdout)[0]
    expect(Date.parse(listed?.finished_at ?? '') - Date.parse(listed?.created_at ?? '')).toBeGreaterThan(2500)
    const row = runCli(['backfills', 'list'], {cwd: root}).stdout.split('\n').find((line) => line.startsWith('1 '))
    expect(row).toMatch(/ (\d+ms|[01]\.\d+s)$/)
  })
})
