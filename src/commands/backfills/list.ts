import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {progressNow, readBackfills} from '../../core/state/readers.js'
import {recordDocument, selectionText} from '../../core/state/backfills.js'
import {backfillsText} from '../../render/backfills-text.js'

export default class BackfillsList extends BaseCommand {
  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --dag-id sales_pipeline --state failed --json']

  static override flags = {
    'dag-id': Flags.string({summary: 'Only backfills of this DAG.'}),
    state: Flags.string({options: ['queued', 'running', 'paused', 'success', 'failed', 'interrupted', 'cancelled'], summary: 'Only backfills in this state.'}),
  }

  static override summary = 'List recorded backfills, newest first: DAG, dates or keys, state, progress, duration.'

  public async run(): Promise<unknown> {
    const {flags} = await this.parse(BackfillsList)
    const context = commandContext(flags)
    const recorded = await readBackfills(context)
    const {records} = recorded
    const chosen = records.filter((record) => (flags['dag-id'] === undefined || record.dag_id === flags['dag-id']) && (flags.state === undefined || record.state === flags.state))
    if (!this.jsonEnabled()) {
      const rows = await Promise.all(chosen.map(async (record) => ({progress: await progressNow(record, recorded), record, selection: selectionText(record.request)})))
      this.log(backfillsText(rows, context.clock()))
    }

    return Promise.all(chosen.map(async (record) => recordDocument(await recorded.whole(record))))
  }
}
