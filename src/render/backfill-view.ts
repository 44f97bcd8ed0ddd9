import chalk from 'chalk'
import {DefaultRenderer, Listr, type ListrDefaultRendererTask, ListrEventType, ListrLogger, ProcessOutput, type ListrTaskWrapper} from 'listr2'

import type {BackfillEvent} from '../core/events.js'
import {formatDuration, paintState, runCountText, runNoun} from './format.js'
import {type Frame, frameOf, type ScreenSize} from './live-frame.js'
import {BackfillProgress, waitText} from './progress.js'

/** How progress is shown: a live tree on a terminal, one line per change otherwise, nothing with `--json`. */
export type ViewMode = 'lines' | 'silent' | 'tree'

/** Picks the view from where output goes; listr2's own choice looks at the TTY only, so it is made here. */
export function pickViewMode(options: {isTTY: boolean; json: boolean}): ViewMode {
  if (options.json) return 'silent'
  return options.isTTY ? 'tree' : 'lines'
}

/** A live view of a backfill, fed by events. */
export interface BackfillView {
  /** Gives the terminal back at once (cursor shown), for an exit that cannot wait for `finish`. */
  abandon(): void
  /** Waits until the view has drawn its last frame. */
  finish(): Promise<void>
  handle(event: BackfillEvent): void
}

/** Where a view writes: a stream, with the terminal's size when it is one. */
export type ViewOutput = NodeJS.WritableStream & Partial<ScreenSize>

/** Builds the view for a mode, writing to `out`. */
export function createBackfillView(mode: ViewMode, out: ViewOutput, maxActiveRuns: number): BackfillView {
  switch (mode) {
    case 'lines': {
      return new LinesView(out)
    }

    case 'silent': {
      return {abandon() {}, finish: async () => {}, handle() {}}
    }

    case 'tree': {
      return new TreeView(out, maxActiveRuns)
    }
  }
}

/** One plain line per state change: no cursor movement, safe for CI logs and pipes. */
class LinesView implements BackfillView {
  /** Labels of the dates in flight, so a task's line names its date as the DAG's zone reads it. */
  private readonly labels = new Map<string, string>()

  constructor(private readonly out: NodeJS.WritableStream) {}

  abandon(): void {}

  async finish(): Promise<void> {}

  handle(event: BackfillEvent): void {
    const line = this.describe(event)
    if (line !== null) this.out.write(`${line}\n`)
  }

  private describe(event: BackfillEvent): null | string {
    switch (event.type) {
      case 'backfill_started': {
        const total = event.runs.reduce((sum, run) => sum + run.tasks.length, 0)
        const idle = event.runs.filter((run) => run.tasks.length === 0)
        const failed = idle.filter((run) => run.left_failed).length
        const noun = runNoun(event.runs) === 'dates' ? 'date(s)' : 'run(s)'
        // Why nothing runs comes first: dates left failed are not complete, and the flag that re-runs them is named.
        const left = failed > 0 ? `; ${failed} ${noun} left failed, as without --rerun-failed-tasks failed task instances are not run again` : ''
        const complete = idle.length - failed > 0 ? `; ${idle.length - failed} ${noun} already complete` : ''
        return `Backfilling ${event.dag_id}: ${runCountText(event.runs)} (${event.timezone}), ${total} task instance(s) to run${left}${complete}`
      }

      case 'interrupt_requested': {
        return `Interrupted (${event.signal}): stopping running task instances…`
      }

      case 'run_finished': {
        this.labels.delete(event.run_id)
        return `${event.label} ${paintState(event.state)} (${formatDuration(event.duration_ms)})`
      }

      case 'run_started': {
        this.labels.set(event.run_id, event.label)
        return `${event.label} ${paintState('running')}`
      }

      case 'pause_changed': {
        return event.paused ? 'Paused: no new task instance starts; running ones finish.' : 'Unpaused: going on.'
      }

      case 'task_waiting': {
        return `${this.labels.get(event.run_id) ?? event.logical_date} ${event.task_id} ${waitText(event)}`
      }

      case 'task_refused': {
        return `${this.labels.get(event.run_id) ?? ''} ${event.task_id}: ${event.message}`.trim()
      }

      case 'task_state': {
        const detail = [
          event.try_number > 1 ? `try ${event.try_number}` : '',
          event.reason ?? '',
          event.duration_ms === null || event.state === 'running' || event.state === 'queued' ? '' : formatDuration(event.duration_ms),
        ].filter(Boolean)
        const label = this.labels.get(event.run_id) ?? event.logical_date
        return `${label} ${event.task_id} ${paintState(event.state)}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`
      }
    }
  }
}

/** Frames drawn per second at most; events in between only update counters. */
const FRAME_INTERVAL_MS = 100
/** Rows for dates in flight; more than a screen can show are summarised on the last one. */
const MAX_SLOTS = 64
const SHOW_CURSOR = '\u001B[?25h'

type Wrapper = ListrTaskWrapper<unknown, never, never>

/**
 * The mark a task ends with when listr2's own would mislead: the header completes when its slots do, whatever
 * the backfill's outcome, and listr2 would give it a green ✔ even when the backfill failed or was stopped.
 */
const endMarks = new WeakMap<object, () => null | string>()

/** listr2's tree renderer for `out`, which was already found to be a terminal (listr2 would ask process.stdout). */
class TerminalRenderer extends DefaultRenderer {
  static override nonTTY = true

  protected override style(task: ListrDefaultRendererTask, output?: boolean): string {
    return endMarks.get(task)?.() ?? super.style(task, output)
  }
}

/**
 * The listr2 tree on a terminal. listr2 redraws every row on every change, so rows are not one per date: a
 * header (with the finished dates folded beneath it), a fixed set of slots that show the dates in flight with
 * their tasks, and a footer of totals. Titles are set without notifying listr2, then one redraw is asked for
 * per frame, so the cost per second is bounded by the screen, not by the number of dates or events.
 */
class TreeView implements BackfillView {
  private collapsed = false
  private ended = false
  private completion: Promise<unknown> = Promise.resolve()
  private dirty = false
  private frame: Frame | null = null
  private listr: Listr<unknown, typeof TerminalRenderer> | null = null
  private readonly progress = new BackfillProgress()
  private release: () => void = () => {}
  private readonly released: Promise<void>
  private slots: Array<Wrapper | undefined> = []
  private footer: undefined | Wrapper
  private header: undefined | Wrapper
  private timer: NodeJS.Timeout | undefined
  private readonly writeDirect: (text: string) => void

  constructor(
    private readonly out: ViewOutput,
    private readonly maxActiveRuns: number,
  ) {
    this.released = new Promise((resolve) => {
      this.release = resolve
    })
    // listr2 takes over the stream's write while it draws; this keeps a way to reach the terminal itself.
    const write = out.write.bind(out)
    this.writeDirect = (text) => {
      write(text)
    }
  }

  abandon(): void {
    if (this.timer) clearInterval(this.timer)
    this.writeDirect(SHOW_CURSOR)
  }

  async finish(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.progress.close()
    this.draw()
    this.ended = true
    this.release()
    // The view never holds up the exit: after a second, whatever listr2 has not drawn is left undrawn.
    let timeout: NodeJS.Timeout | undefined
    await Promise.race([
      this.completion.catch(() => {}),
      new Promise((resolve) => {
        timeout = setTimeout(resolve, 1000)
      }),
    ])
    clearTimeout(timeout)
  }

  /**
   * Gives `task` the outcome's mark once the backfill has ended. Registered when listr2 starts the task, which
   * for a quick backfill may be after it ended.
   */
  private markOnEnd(task: Wrapper): void {
    endMarks.set(task.task, () => (this.ended ? this.endMark() : null))
  }

  /** ✔ for a backfill that succeeded, ✖ for one that failed, ◼ for one stopped before its end. */
  private endMark(): string {
    if (this.progress.succeeded) return chalk.green('✔')
    return this.progress.interruptedBy === null ? chalk.red('✖') : chalk.yellow('◼')
  }

  handle(event: BackfillEvent): void {
    this.progress.apply(event)
    this.dirty = true
    if (event.type === 'backfill_started') this.start()
  }

  private screen(): ScreenSize {
    return {columns: this.out.columns ?? 80, rows: this.out.rows ?? 24}
  }

  private draw(): void {
    this.dirty = false
    const frame = frameOf(this.progress, this.screen(), this.collapsed)
    this.collapsed = frame.finishedCollapsed
    this.frame = frame
    this.apply()
    this.listr?.events.emit(ListrEventType.SHOULD_REFRESH_RENDER)
  }

  /** Copies the frame into the listr2 tasks that have started; a task that starts later copies it itself. */
  private apply(): void {
    const frame = this.frame
    if (!frame) return
    setTitle(this.header, [frame.header, ...frame.finished].join('\n'))
    setTitle(this.footer, frame.footer)
    for (const [index, slot] of this.slots.entries()) setTitle(slot, frame.inFlight[index] ?? '')
  }

  private start(): void {
    const slotCount = Math.max(1, Math.min(this.maxActiveRuns, this.progress.totalRuns, MAX_SLOTS))
    this.slots = Array.from({length: slotCount}, () => undefined as undefined | Wrapper)
    const hold = (assign: (task: Wrapper) => void) => (_context: unknown, task: Wrapper) => {
      assign(task)
      this.apply()
      return this.released
    }

    const slotTasks = this.slots.map((_, index) => ({
      task: hold((task) => {
        this.slots[index] = task
      }),
      // A blank title draws nothing; an empty one would make listr2 send the slot's text to its bottom bar.
      title: ' ',
    }))
    const logger = new ListrLogger({processOutput: new ProcessOutput(this.out as NodeJS.WriteStream, this.out as NodeJS.WriteStream), useIcons: true})
    this.listr = new Listr(
      [
        {
          task: (_context, task) => {
            this.header = task
            this.markOnEnd(task)
            this.apply()
            return task.newListr(slotTasks as never, {concurrent: true, exitOnError: false})
          },
          title: `Backfill ${this.progress.dagId}`,
        },
        {
          task: async (_context, task) => {
            this.footer = task
            this.markOnEnd(task)
            this.apply()
            await this.released
            // A failed task keeps its title and gets listr2's failure mark when the error says the same.
            if (!this.progress.succeeded) throw new Error(task.task.title)
          },
          title: 'totals',
        },
      ],
      {
        concurrent: true,
        exitOnError: false,
        // listr2 would otherwise exit the process with 127 on Ctrl-C; the backfill stops cleanly itself.
        registerSignalListeners: false,
        renderer: TerminalRenderer,
        rendererOptions: {collapseErrors: false, collapseSubtasks: false, formatOutput: 'truncate', logger, removeEmptyLines: true},
      },
    )
    this.completion = this.listr.run()
    this.timer = setInterval(() => {
      if (this.dirty) this.draw()
    }, FRAME_INTERVAL_MS)
    this.timer.unref()
  }
}

/** Sets a title without listr2 redrawing at once; the frame asks for one redraw after all titles are set. */
function setTitle(task: undefined | Wrapper, title: string): void {
  if (task && task.task.title !== (title || ' ')) task.task.title = title || ' '
}
