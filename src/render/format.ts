import chalk from 'chalk'

import type {TaskInstanceState} from '../core/state/schema.js'

// chalk ignores the NO_COLOR convention (https://no-color.org), which users of a CLI expect to work.
if (process.env.NO_COLOR) chalk.level = 0

/** The colour of each state, everywhere it is printed. */
export function paintState(state: string): string {
  switch (state as TaskInstanceState | 'paused' | 'running') {
    case 'success': {
      return chalk.green(state)
    }

    case 'failed':
    case 'upstream_failed': {
      return chalk.red(state)
    }

    case 'running':
    case 'queued':
    case 'scheduled': {
      return chalk.cyan(state)
    }

    case 'paused':
    case 'up_for_retry': {
      return chalk.yellow(state)
    }

    default: {
      return chalk.dim(state)
    }
  }
}

export const dim = (text: string): string => chalk.dim(text)
export const bold = (text: string): string => chalk.bold(text)
export const warn = (text: string): string => chalk.yellow(text)
export const bad = (text: string): string => chalk.red(text)
export const good = (text: string): string => chalk.green(text)

/** Left-aligned columns separated by two spaces; colour codes do not count towards the width. */
export function table(header: string[], rows: string[][]): string {
  const width = (text: string) => text.replaceAll(/\u001B\[[\d;]*m/g, '').length
  const widths = header.map((title, column) => Math.max(width(title), ...rows.map((row) => width(row[column] ?? ''))))
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell + ' '.repeat((widths[column] ?? 0) - width(cell))))
      .join('  ')
  return [bold(line(header)), ...rows.map((row) => line(row))].join('\n')
}

/** `1.2s`, `3m 04s`, `1h 02m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 60) return `${minutes}m ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`
}

/** A run as far as counting goes: the dates it covers and its key. */
export interface CountedRun {
  logical_dates: readonly string[]
  partition_key: null | string
}

/**
 * How many runs a backfill has, in the words its shape calls for: `12 logical date(s)` when each run is one
 * date, `6 run(s) over 2 logical date(s)` with keys or batches, `5 run(s)` for a key-only DAG.
 */
export function runCountText(runs: readonly CountedRun[], noun = 'logical date(s)'): string {
  if (runs.every((run) => run.logical_dates.length === 1 && run.partition_key === null)) return `${runs.length} ${noun}`
  const dates = new Set(runs.flatMap((run) => run.logical_dates)).size
  return dates === 0 ? `${runs.length} run(s)` : `${runs.length} run(s) over ${dates} ${noun}`
}

/** The word for a backfill's runs: `dates` when each run is one date, `runs` otherwise. */
export function runNoun(runs: readonly CountedRun[]): string {
  return runs.every((run) => run.logical_dates.length === 1 && run.partition_key === null) ? 'dates' : 'runs'
}

/** Whether output is coloured: not with NO_COLOR, and not when the stream is no terminal. */
export function colourEnabled(): boolean {
  return chalk.level > 0
}
