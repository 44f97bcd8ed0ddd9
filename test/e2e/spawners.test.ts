import {describe, expect, it} from '@jest/globals'
import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {DirectSpawner, type Spawner, SpawnServer} from '../../src/core/executor/spawn-server.js'

const env = {PATH: process.env.PATH ?? '/usr/bin:/bin'}

describe.each([
  ['the spawn server', () => new SpawnServer(env, 2)],
  ['direct spawning', () => new DirectSpawner()],
  ['the spawn server without Perl on PATH (falls back)', () => new SpawnServer({PATH: '/nonexistent'}, 2)],
] as Array<[string, () => Spawner]>)('%s', (_name, makeSpawner) => {
  it('runs commands in their own process group, cwd and environment, logging to a new log folder', async () => {
    const spawner = makeSpawner()
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    const logPath = join(folder, 'run', 'task', 'attempt=1.log')
    let pid = 0
    const outcome = await spawner.run(
      {command: 'echo "$GREETING from $(pwd)"; echo oops >&2; ps -o pgid= -p $$; exit 3', cwd: folder, env: {...env, GREETING: 'hello'}, logPath},
      (started) => {
        pid = started
      },
    )
    spawner.close()
    expect(outcome).toEqual({error: null, exitCode: 3})
    const [greeting, stderr, pgid] = readFileSync(logPath, 'utf8').trim().split('\n')
    expect(greeting).toBe(`hello from ${folder}`)
    expect(stderr).toBe('oops')
    expect(Number(pgid)).toBe(pid)
  })

  it('reports a signal death as 128 + the signal number', async () => {
    const spawner = makeSpawner()
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    const outcome = await spawner.run({command: 'sleep 30', cwd: folder, env, logPath: join(folder, 'x.log')}, (pid) => process.kill(-pid, 'SIGTERM'))
    spawner.close()
    expect(outcome.exitCode).toBe(143)
  })
})

describe('the spawn server queue', () => {
  it('runs at most `limit` commands at once and can drop the ones still waiting', async () => {
    const spawner = new SpawnServer(env, 1)
    const folder = mkdtempSync(join(tmpdir(), 'updraft-spawn-'))
    let runningPid = 0
    const first = spawner.run({command: 'sleep 30', cwd: folder, env, logPath: join(folder, 'first.log')}, (pid) => {
      runningPid = pid
    })
    let secondStarted = false
    const second = spawner.run({command: 'echo never', cwd: folder, env, logPath: join(folder, 'second', 'x.log')}, () => {
      secondStarted = true
    })
    while (runningPid === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    spawner.cancelWaiting()
    expect(await second).toEqual({error: null, exitCode: 130})
    process.kill(-runningPid, 'SIGKILL')
    expect((await first).exitCode).toBe(137)
    spawner.close()
    expect(secondStarted).toBe(false)
    expect(existsSync(join(folder, 'second'))).toBe(false)
  })
})
