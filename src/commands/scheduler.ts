import {availableParallelism} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {describeStore} from '../core/state/open-store.js'
import {commandContext} from '../cli/context.js'
import {executorFlags, executorOf, positiveIntegerFlag} from '../cli/flags.js'
import {abortOnSignals, SIGNAL_EXIT_CODES} from '../cli/signals.js'
import {Scheduler} from '../core/scheduler/scheduler.js'

/** How often the scheduler looks at the clock, the DAG files and the state file. */
const EVALUATE_EVERY_MS = 1000

export default class SchedulerCommand extends BaseCommand {
  static override description =
    "Polls each DAG's sensors on their intervals and launches the backfills they ask for (recorded with the tag sensor: <sensor_id>), and starts each due interval of every unpaused DAG as a scheduled__<date> run, catching up from start_date or the last scheduled run (only the latest with catchup: false). A date already complete is never run again. With --once it does all of that once, waits, and exits 0 if everything it started succeeded, 1 otherwise; without it, it runs until SIGTERM or Ctrl-C, which stop what it started as they stop a backfill."

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --once', '<%= config.bin %> <%= command.id %> --executor bullmq --redis-url redis://10.0.0.5:6379']

  static override flags = {
    ...executorFlags,
    once: Flags.boolean({summary: 'Evaluate every sensor and due run once, wait for what was started, and exit (for cron and CI).'}),
    parallelism: positiveIntegerFlag({summary: 'Shell tasks running at once per DAG, and callables (default: number of CPUs).'}),
  }

  static override summary = 'Run DAGs on their schedules and launch the backfills their sensors ask for.'

  public async run(): Promise<void> {
    const {flags} = await this.parse(SchedulerCommand)
    const context = commandContext(flags)
    // A second signal force-stops what the scheduler started; it can only arrive once the scheduler exists.
    const signals = abortOnSignals(() => scheduler.forceStop())
    const {signal} = signals.controller
    const scheduler = new Scheduler(
      {
        context: {...context, dagsFolder: context.dagsFolder},
        executor: executorOf(flags),
        parallelism: flags.parallelism ?? availableParallelism(),
        report: (line) => this.log(`${context.clock().toISOString()} ${line}`),
        reportProblem: (line) => process.stderr.write(`${context.clock().toISOString()} ${line}\n`),
      },
      signal,
    )
    try {
      if (flags.once) {
        await scheduler.evaluate({allSensors: true})
      } else {
        this.log(`Scheduler started on ${context.dagsFolder} (state ${describeStore(context.dbPath)}); Ctrl-C or SIGTERM to stop.`)
        while (!signal.aborted) {
          // A DAG folder or state file that cannot be read right now is reported; the scheduler keeps going.
          await scheduler.evaluate().catch((error: unknown) => process.stderr.write(`${context.clock().toISOString()} ${(error as Error).message}\n`))
          await sleep(EVALUATE_EVERY_MS, undefined, {signal}).catch(() => {})
        }
      }

      await scheduler.idle()
      if (flags.once && !signal.aborted) scheduler.reportUnstarted()
      if (flags.once && !signal.aborted && scheduler.started === 0 && scheduler.failed === 0) {
        this.log(`${context.clock().toISOString()} Nothing to start: no due run of an unpaused DAG, no sensor asked for a backfill, and no request is queued.`)
      }
    } finally {
      signals.dispose()
      await scheduler.close()
    }

    if (signal.aborted) {
      if (scheduler.stoppedWork) process.exitCode = SIGNAL_EXIT_CODES[signal.reason as keyof typeof SIGNAL_EXIT_CODES] ?? 130
      return
    }

    process.exitCode = scheduler.failed > 0 ? 1 : 0
  }
}
