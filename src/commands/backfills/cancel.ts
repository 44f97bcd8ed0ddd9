import {setTimeout as sleep} from 'node:timers/promises'

import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {readBackfills, openSharedStore} from '../../core/state/readers.js'
import {UpdraftError} from '../../core/errors.js'
import {REMOTE_STOP_WAIT_MS} from '../../core/executor/bullmq-executor.js'
import {findBackfill, recordDocument} from '../../core/state/backfills.js'
import {askToCancel} from '../../core/session/requests.js'

/**
 * How long to wait for the backfill to stop: it looks for the request five times a second, then waits for its
 * tries to end, up to REMOTE_STOP_WAIT_MS for tries on workers that may be gone.
 */
const STOP_WAIT_MS = REMOTE_STOP_WAIT_MS + 10_000

export default class BackfillsCancel extends BaseCommand {
  static override args = {
    id: Args.string({description: 'Id of the running backfill.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> 3']

  static override summary = 'Stop a running or paused backfill from another shell, as Ctrl-C would, or drop a queued request; its record reads cancelled.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(BackfillsCancel)
    const context = commandContext(flags)
    const record = findBackfill((await readBackfills(context)).records, args.id)
    const started = context.clock().getTime()
    const store = await openSharedStore(context)
    const by = `updraft backfills cancel (pid ${context.process.pid} on ${context.process.host})`
    const cancelled = await askToCancel(store, record, by, context.clock())
    if (cancelled) {
      if (!this.jsonEnabled()) this.log(`Cancelled request ${cancelled.id} of ${cancelled.dag_id} before it started (${by}); it reads cancelled.`)
      return recordDocument(cancelled)
    }

    // The backfill gives its runs back only once its children are gone and its state is written.
    while ((await store.liveClaims(record.dag_id)).some((claim) => claim.pid === record.pid)) {
      if (context.clock().getTime() - started > STOP_WAIT_MS) {
        throw new UpdraftError('BACKFILL_RUNNING', `Expected backfill ${record.id} (pid ${record.pid}) to stop within ${STOP_WAIT_MS / 1000}s of the cancel request, got it still running; it will stop when it next looks.`)
      }

      await sleep(50)
    }

    const stopped = await (await readBackfills(context)).find(args.id)
    if (!this.jsonEnabled()) this.log(`Cancelled backfill ${stopped.id} of ${stopped.dag_id} in ${context.clock().getTime() - started} ms; it reads ${stopped.state}.`)
    return recordDocument(stopped)
  }
}
