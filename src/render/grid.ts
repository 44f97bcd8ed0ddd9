import chalk from 'chalk'

import type {TaskInstanceState} from '../core/state/schema.js'
import {dim} from './format.js'

/** One column of the grid: a run (a date, a batch's date, a date × key, or a key) and its task instance states. */
export interface GridColumn {
  label: string
  task_instances: Readonly<Record<string, TaskInstanceState>>
}

interface CellStyle {
  letter: string
  paint: (text: string) => string
}

// Colours as §13 gives them; without colour each state is a letter, and the legend says which.
const STYLES: Record<TaskInstanceState, CellStyle> = {
  failed: {letter: 'F', paint: (text) => chalk.red(text)},
  none: {letter: '.', paint: (text) => text},
  queued: {letter: 'Q', paint: (text) => chalk.gray(text)},
  running: {letter: 'R', paint: (text) => chalk.yellow(text)},
  scheduled: {letter: 'q', paint: (text) => chalk.gray(text)},
  skipped: {letter: 'K', paint: (text) => chalk.magenta(text)},
  success: {letter: 'S', paint: (text) => chalk.green(text)},
  up_for_retry: {letter: 'r', paint: (text) => chalk.yellowBright(text)},
  upstream_failed: {letter: 'U', paint: (text) => chalk.ansi256(208)(text)},
}

const LEGEND_ORDER: TaskInstanceState[] = ['success', 'failed', 'upstream_failed', 'running', 'queued', 'up_for_retry', 'skipped', 'scheduled', 'none']

/**
 * The task × run grid of §13: a row per task, a column per run, one cell per task instance, folded into blocks
 * that fit `width` columns, each block headed by the labels of its first and last run. Cells of one state in a
 * row are painted together, so 100,000 instances cost a few thousand colour codes, not 100,000.
 */
export function gridText(tasks: readonly string[], columns: readonly GridColumn[], options: {colour: boolean; width: number}): string {
  if (columns.length === 0) return dim('No runs to show.')
  const nameWidth = Math.max(...tasks.map((task) => task.length))
  const perBlock = Math.max(10, options.width - nameWidth - 2)
  const cell = (state: TaskInstanceState, count: number) => {
    const style = STYLES[state] ?? STYLES.none
    if (!options.colour) return style.letter.repeat(count)
    return state === 'none' ? ' '.repeat(count) : style.paint('■'.repeat(count))
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

  const legend = LEGEND_ORDER.map((state) => `${options.colour ? (state === 'none' ? '□' : STYLES[state].paint('■')) : STYLES[state].letter} ${state}`)
  lines.push('', dim(`${columns.length} run(s) × ${tasks.length} task(s)`), legend.join('  '))
  return lines.join('\n')
}
