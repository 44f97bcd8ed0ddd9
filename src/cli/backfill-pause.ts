import {setTimeout as sleep} from 'node:timers/promises'

import {Args} from '@oclif/core'

import {UpdraftError} from '../core/errors.js'
import {askToPause} from '../core/session/requests.js'
import {isInProcess, recordDocument} from '../core/state/backfills.js'
import {openSharedStore, readBackfills} from '../core/state/readers.js'
import {BaseCommand} from './base-command.js'
import {commandContext} from './context.js'

/** How long to wait for a running backfill to say it heard: it looks five times a second. */
const HEARD_WAIT_MS = 10_000

/**
 * `backfills pause` and `unpause` (README "Requests and the scheduler"). A request no process took yet changes at once in the store; a running
 * backfill is asked through the store, and the command returns once its record says it heard.
 */
export abstract class BackfillPauseCommand extends BaseCommand {
  static override args = {
    id: Args.string({description: 'Id of the backfill or request.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> 3']

  protected abstract readonly paused: boolean

  public async run(): Promise<unknown> {
    // oclif's parse() copies the command's own static fields only; these are inherited, so they are named.
    const {args, flags} = await this.parse({args: BackfillPauseCommand.args, baseFlags: BaseCommand.baseFlags, enableJsonFlag: true})
    const context = commandContext(flags)
    const record = await (await readBackfills(context)).find(args.id as string)
    const already = this.paused ? record.state === 'paused' : record.state === 'running' || record.state === 'queued'
    if (already) {
      if (!this.jsonEnabled()) this.log(`Backfill ${record.id} of ${record.dag_id} is ${record.state} already.`)
      return recordDocument(record)
    }

    const changed = await askToPause(await openSharedStore(context), record, this.paused)
    if (changed) return this.said(changed)
    const wanted = this.paused ? 'paused' : 'running'
    const started = context.clock().getTime()
    for (;;) {
      const current = await (await readBackfills(context)).find(args.id as string)
      if (current.state === wanted || !isInProcess(current)) return this.said(current)
      if (context.clock().getTime() - started > HEARD_WAIT_MS) {
        throw new UpdraftError('BACKFILL_RUNNING', `Expected backfill ${record.id} (pid ${current.pid}) to read ${wanted} within ${HEARD_WAIT_MS / 1000}s, got it still ${current.state}; it will when it next looks.`)
      }

      await sleep(50)
    }
  }

  private said(record: Parameters<typeof recordDocument>[0]): unknown {
    if (!this.jsonEnabled()) {
      const what = record.state === 'paused' ? 'no new task instance starts; running ones finish' : record.state === 'queued' ? 'updraft scheduler runs it' : 'it goes on'
      this.log(`Backfill ${record.id} of ${record.dag_id} is ${record.state}: ${what}.`)
    }

    return recordDocument(record)
  }
}
