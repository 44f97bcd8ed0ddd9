import {describe, expect, it} from '@jest/globals'

import type {TaskInstanceState} from '../../src/core/state/schema.js'
import {gridText} from '../../src/render/grid.js'

const column = (label: string, states: Record<string, TaskInstanceState>) => ({label, task_instances: states})

describe('the task × run grid', () => {
  it('draws a letter per task instance under NO_COLOR, a row per task, headed by the first and last run', () => {
    const columns = [column('2024-01-01', {a: 'success', b: 'failed'}), column('2024-01-02', {a: 'running'}), column('2024-01-03', {a: 'success', b: 'upstream_failed'})]
    const lines = gridText(['a', 'bb'], columns, {colour: false, width: 80}).split('\n')
    expect(lines.slice(0, 3)).toEqual(['    2024-01-01 … 2024-01-03', 'a   SRS', 'bb  ...'])
    expect(lines.at(-1)).toContain('S success  F failed  U upstream_failed')
  })

  it('folds runs into blocks that fit the width, each with its own first and last label', () => {
    const columns = Array.from({length: 25}, (_, index) => column(`d${String(index + 1).padStart(2, '0')}`, {task: index === 12 ? 'failed' : 'success'}))
    const text = gridText(['task'], columns, {colour: false, width: 16})
    const rows = text.split('\n').filter((line) => line.startsWith('task '))
    expect(rows).toEqual([`task  ${'S'.repeat(10)}`, `task  SSFSSSSSSS`, `task  ${'S'.repeat(5)}`])
    expect(text).toContain('d01    d10')
    expect(text).toContain('d21 … d25')
    expect(text).toContain('25 run(s) × 1 task(s)')
  })

  it('draws a symbol per instance in colour, and leaves none blank', () => {
    const columns = Array.from({length: 1000}, (_, index) => column(String(index), {task: index < 999 ? 'success' : 'none'}))
    const row = gridText(['task'], columns, {colour: true, width: 2000})
      .split('\n')
      .find((line) => line.startsWith('task'))
    expect(row?.match(/✓/g)).toHaveLength(999)
    expect(row?.endsWith(' ')).toBe(true)
  })

  it('tells every state apart by its symbol, not only by its colour', () => {
    const states = ['success', 'failed', 'upstream_failed', 'running', 'queued', 'up_for_retry', 'skipped', 'scheduled'] as const
    const columns = states.map((state) => column(state, {task: state}))
    const row = gridText(['task'], columns, {colour: true, width: 200})
      .split('\n')
      .find((line) => line.startsWith('task'))
      ?.replaceAll(/\u001B\[[\d;]*m/g, '')
    expect(new Set(row?.slice('task  '.length)).size).toBe(states.length)
  })
})
