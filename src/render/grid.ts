import chalk from 'chalk'

import type {TaskInstanceState} from '../core/state/schema.js'
import {LEGEND_ORDER, STATE_LETTERS, STATE_SYMBOLS} from '../core/state/state-letters.js'
import {dim} from './format.js'

/** One column of the grid: a run (a date, a batch's date, a date × key, or a key) and its task instance states. */
export interface GridColumn {
  label: string
  task_instances: Readonly<Record<string, TaskInstanceState>>
}

// Colours as README "The grid" gives them, each with its own symbol; without colour each state is its letter, and
// the legend says which.
const PAINT: Record<TaskInstanceState, (text: string) => string> = {
  failed: (text) => chalk.red(text),
  none: (text) => text,
  queued: (text) => chalk.gray(text),
  running: (text) => chalk.yellow(text),
  scheduled: (text) => chalk.blue(text),
  skipped: (text) => chalk.magenta(text),
  success: (text) => chalk.green(text),
  up_for_retry: (text) => chalk.yellowBright(text),
  upstream_failed: (text) => chalk.ansi256(208)(text),
}

/**
 * The task × run grid (README "The grid"): a row per task, a column per run, one cell per task instance, folded into blocks
 * that fit `width` columns, each block headed by the labels of its first and last run. Cells of one state in a
 * row are painted together, so 100,000 instances cost a few thousand colour codes, not 100,000.
 */
export function gridText(tasks: readonly string[], columns: readonly GridColumn[], options: {colour: boolean; width: number}): string {
  if (columns.length === 0) return dim('No runs to show.')
  const nameWidth = Math.max(...tasks.map((task) => task.length))
  const perBlock = Math.max(10, options.width - nameWidth - 2)
  const cell = (state: TaskInstanceState, count: number) => {
    if (!options.colour) return (STATE_LETTERS[state] ?? STATE_LETTERS.none).repeat(count)
    return state === 'none' || !(state in PAINT) ? ' '.repeat(count) : PAINT[state](STATE_SYMBOLS[state].repeat(count))
  }

  const lines: string[] = []
  for (let start = 0; start < columns.length; start += perBlock) {
    const block = columns.slice(start, start + perBlock)
    const first = (block[0] as GridColumn).label
    const last = (block.at(-1) as GridColumn).label
    const gap = block.length - first.length - last.length
    const header = block.length === 1 ? first : gap >= 2 ? `${first}${' '.repeat(gap)}${last}` : `${first} … ${last}`
    if (start > 0) lines.push('')
    lines.push(`${' '.repeat(nameWidth + 2)}${dim(header)}`)
    for (const task of tasks) {
      let row = ''
      let runState: null | TaskInstanceState = null
      let runLength = 0
      for (const column of block) {
        const state = column.task_instances[task] ?? 'none'
        if (state === runState) {
          runLength++
          continue
        }

        if (runState !== null) row += cell(runState, runLength)
        runState = state
        runLength = 1
      }

      if (runState !== null) row += cell(runState, runLength)
      lines.push(`${task.padEnd(nameWidth)}  ${row}`)
    }
  }

  const legend = LEGEND_ORDER.map((state) => `${options.colour ? (state === 'none' ? '□' : PAINT[state](STATE_SYMBOLS[state])) : STATE_LETTERS[state]} ${state}`)
  lines.push('', dim(`${columns.length} run(s) × ${tasks.length} task(s)`), legend.join('  '))
  return lines.join('\n')
}
