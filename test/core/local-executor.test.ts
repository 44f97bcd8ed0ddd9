import {describe, expect, it} from '@jest/globals'

import type {TaskStateChange} from '../../src/core/executor/executor.js'
import {LocalExecutor} from '../../src/core/executor/local-executor.js'
import {DirectSpawner} from '../../src/core/executor/spawn-server.js'

const context = {dag_id: 'd', data_interval_end: '', data_interval_start: '', ds: '', ds_list: [], ds_nodash: '', logical_date: '', logical_dates: [], params: {}, partition_key: null, run_id: 'r', task_id: 't', try_number: 1, ts: '', ts_nodash: ''}

async function changesOf(callable: () => unknown, stop: 'drain' | 'kill' = 'drain'): Promise<TaskStateChange[]> {
  const executor = new LocalExecutor({clock: () => new Date('2026-01-01T00:00:00.000Z'), parallelism: 1, spawner: new DirectSpawner()})
  const changes: TaskStateChange[] = []
  executor.onStateChange((change) => changes.push(change))
  executor.queue({adoptTry: null, attempt: {dag_id: 'd', run_id: 'r', task_id: 't', try_number: 1}, cwd: '/', env: {}, key: 'k', logPath: '/nonexistent/log', timeoutMs: null, work: {callable, context, kind: 'callable'}})
  await executor.shutdown(stop)
  return changes
}

describe('the local executor runs callables', () => {
  it('reports a callable that returns at once by its end alone, which carries its start', async () => {
    expect((await changesOf(() => 'done')).map((change) => [change.state, 'startedAt' in change ? change.startedAt : undefined])).toEqual([
      ['success', new Date('2026-01-01T00:00:00.000Z')],
    ])
  })

  it('starts nothing once killed, not even a callable that was waiting for its turn of the event loop', async () => {
    let called = false
    const changes = await changesOf(() => {
      called = true
    }, 'kill')
    expect(called).toBe(false)
    expect(changes.map((change) => change.state)).toEqual(['dropped'])
  })

  it('reports an async callable as running first, then its end without a start of its own', async () => {
    const changes = await changesOf(async () => {
      await new Promise((resolve) => {
        setImmediate(resolve)
      })
    })
    expect(changes.map((change) => change.state)).toEqual(['running', 'success'])
    expect(changes[1]).toMatchObject({startedAt: null})
  })
})
