import {bad, dim, formatDuration, good, paintState, warn} from './format.js'
import type {BackfillProgress, RunProgress} from './progress.js'

/** The visible size of the terminal. */
export interface ScreenSize {
  columns: number
  rows: number
}

/** One screenful of the live view; every part is already cut to fit the screen's height. */
export interface Frame {
  /** Finished dates: one line each while they fit, otherwise counts and the failed dates. */
  finished: string[]
  /** Whether `finished` is the collapsed form; once collapsed it stays so, rather than flicker. */
  finishedCollapsed: boolean
  footer: string
  header: string
  /** Dates in flight, one entry each: the date's line, then a line per active task. */
  inFlight: string[]
}

/** Tasks shown under a date in flight: those not yet settled as success or skipped. */
const SETTLED = new Set(['none', 'skipped', 'success'])

/**
 * Lays out the live view for a screen. Priorities, from first to last: the header and footer, a line per date
 * in flight, a summary of finished dates, the tasks of the dates in flight, and finished dates one per line.
 * The cost depends on the screen, not on how many dates the backfill has.
 */
export function frameOf(progress: BackfillProgress, screen: ScreenSize, collapsed: boolean): Frame {
  // log-update keeps the cursor on the line after the frame, so one row stays empty.
  const available = Math.max(3, screen.rows - 1) - 2
  const finishedCount = progress.finished.length
  const summaryLines = finishedCount === 0 ? 0 : progress.failed.length > 0 ? 2 : 1
  const running = [...progress.inFlight.values()]
  const titleRows = Math.max(1, available - summaryLines)
  const shown = running.length > titleRows ? running.slice(0, titleRows - 1) : running
  const hidden = running.length - shown.length
  let spare = available - summaryLines - shown.length - (hidden > 0 ? 1 : 0)

  const taskLines = shown.map((run) => [
    ...[...run.tasks].filter(([taskId, state]) => !SETTLED.has(state) && !run.waits.has(taskId)).map(([taskId, state]) => `› ${taskId} ${paintState(state)}`),
    ...[...run.waits].map(([taskId, why]) => `› ${taskId} ${warn(why)}`),
  ])
  const allowed = shown.map(() => 0)
  // Round-robin, so every date in flight shows its first task before any shows its second.
  for (let depth = 0, granted = true; spare > 0 && granted; depth++) {
    granted = false
    for (const [index, tasks] of taskLines.entries()) {
      if (spare > 0 && tasks.length > depth) {
        allowed[index] = depth + 1
        spare--
        granted = true
      }
    }
  }

  const inFlight = shown.map((run, index) => {
    const tasks = (taskLines[index] ?? []).slice(0, allowed[index])
    return [`${run.label}  ${paintState('running')}`, ...tasks].join('\n')
  })
  if (hidden > 0) inFlight.push(dim(`… ${hidden} more ${progress.runNoun === 'dates' ? 'date(s)' : 'run(s)'} in flight: ${running.slice(shown.length).map((run) => run.label).join(', ')}`))

  const fitsOneEach = !collapsed && finishedCount <= spare + summaryLines
  return {
    finished: fitsOneEach ? progress.finished.map((run) => finishedLine(run)) : collapsedLines(progress, screen.columns),
    finishedCollapsed: !fitsOneEach && finishedCount > 0,
    footer: footerOf(progress),
    header: `Backfill ${progress.dagId} · ${progress.runCount} · ${progress.timezone}`,
    inFlight,
  }
}

function finishedLine(run: RunProgress): string {
  if (run.nothingToDo) return `${good('✔')} ${run.label}  ${dim('already complete')}`
  if (run.state === 'not finished') return `${dim('◼')} ${run.label}  ${dim('not finished')}`
  const icon = run.state === 'success' ? good('✔') : bad('✖')
  return `${icon} ${run.label}  ${paintState(run.state)} ${dim(formatDuration(run.durationMs ?? 0))}`
}

function collapsedLines(progress: BackfillProgress, columns: number): string[] {
  if (progress.finished.length === 0) return []
  const counts = [...progress.finishedByState].map(([state, count]) => `${count} ${paintState(state)}`)
  const icon = progress.failed.length > 0 ? bad('✖') : progress.finishedByState.has('not finished') ? dim('◼') : good('✔')
  const lines = [`${icon} ${progress.finished.length} ${progress.runNoun === 'dates' ? 'date(s)' : 'run(s)'}: ${counts.join(' · ')}`]
  if (progress.failed.length > 0) lines.push(`${bad('✖')} failed: ${listWithin(progress.failed.map((run) => run.label), columns - 16)}`)
  return lines
}

/** Joins labels up to `width` characters, ending with how many did not fit. */
function listWithin(labels: string[], width: number): string {
  let text = ''
  for (const [index, label] of labels.entries()) {
    const next = text === '' ? label : `${text}, ${label}`
    const rest = labels.length - index - 1
    if (next.length + (rest > 0 ? ` (+${rest} more)`.length : 0) > width && text !== '') return `${text} (+${labels.length - index} more)`
    text = next
  }

  return text
}

function footerOf(progress: BackfillProgress): string {
  const byState = [...progress.taskTotals].filter(([, count]) => count > 0).map(([state, count]) => `${count} ${paintState(state)}`)
  const idle = progress.inFlight.size === 0 && progress.finished.length > 0 ? 'nothing to run: the dates were already complete' : 'no task instance has run yet'
  const waiting = [progress.waitingForPools > 0 ? ` · ${warn(`${progress.waitingForPools} waiting for a pool`)}` : '', progress.paused ? ` · ${warn('paused')}` : ''].join('')
  const totals = `${progress.doneRuns}/${progress.totalRuns} ${progress.runNoun} done · ${byState.join(' · ') || idle}${waiting}`
  if (progress.interruptedBy === null) return totals
  return `${totals} · ${warn(progress.closed ? `interrupted by ${progress.interruptedBy}` : `interrupted (${progress.interruptedBy}): stopping running task instances…`)}`
}
