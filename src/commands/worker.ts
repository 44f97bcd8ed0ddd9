import {availableParallelism} from 'node:os'

import {BaseCommand} from '../cli/base-command.js'
import {commandContext} from '../cli/context.js'
import {positiveIntegerFlag, redisFlags} from '../cli/flags.js'
import {abortOnSignals} from '../cli/signals.js'
import {runWorker} from '../core/executor/worker.js'

export default class Worker extends BaseCommand {
  static override description =
    'Takes task instances of backfills started with --executor bullmq from Redis and runs them, using this machine\'s DAGs folder (it must hold the same DAG files). SIGTERM or Ctrl-C stops taking new ones and gives running ones --shutdown-grace seconds before cancelling them.'

  static override examples = ['<%= config.bin %> <%= command.id %> --redis-url redis://10.0.0.5:6379 --concurrency 4']

  static override flags = {
    ...redisFlags,
    concurrency: positiveIntegerFlag({summary: 'Task instances run at once (default: number of CPUs).'}),
    'shutdown-grace': positiveIntegerFlag({summary: 'Seconds running task instances get to finish when the worker is stopped (default 60).'}),
  }

  static override summary = 'Run task instances for backfills on other machines (--executor bullmq).'

  public async run(): Promise<void> {
    const {flags} = await this.parse(Worker)
    const context = commandContext(flags)
    // A second signal does not wait for the grace period.
    const signals = abortOnSignals()
    // How quickly a dead worker is noticed; tests shorten it, production keeps BullMQ's tolerant defaults.
    const lockDurationMs = Number(process.env.UPDRAFT_WORKER_LOCK_MS) || 30_000
    const stoppedCleanly = await runWorker(
      {
        baseEnv: context.baseEnv,
        clock: context.clock,
        concurrency: flags.concurrency ?? availableParallelism(),
        dagsFolder: context.dagsFolder,
        host: context.process.host,
        lockDurationMs,
        onLine: (text) => this.log(text),
        onProblem: (text) => process.stderr.write(`${text}\n`),
        pid: context.process.pid,
        prefix: flags.queue,
        shutdownGraceMs: (flags['shutdown-grace'] ?? 60) * 1000,
        stalledIntervalMs: Math.max(500, Math.floor(lockDurationMs / 2)),
        url: flags['redis-url'],
      },
      signals.controller.signal,
    )
    signals.dispose()
    // Everything this worker ran has stopped; only the client's reconnection timers for the lost Redis remain.
    if (!stoppedCleanly) process.exit(1)
  }
}
