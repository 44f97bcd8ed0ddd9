import {availableParallelism} from 'node:os'

import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {readBackfills} from '../../core/state/readers.js'
import {executorFlags, executorOf, positiveIntegerFlag} from '../../cli/flags.js'
import {runInForeground} from '../../cli/run-session.js'
import {loadDag} from '../../core/loader/load-dags.js'
import {assertResumable, BackfillSession, settingsOf} from '../../core/session/backfill-session.js'

export default class BackfillsResume extends BaseCommand {
  static override args = {
    id: Args.string({description: 'Id of the backfill to run again.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> 3']

  static override flags = {
    ...executorFlags,
    parallelism: positiveIntegerFlag({summary: 'Shell tasks running at once, and callables running at once (default: number of CPUs).'}),
  }

  static override summary = 'Run a stopped backfill again with the same request, under the same record.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(BackfillsResume)
    const context = commandContext(flags)
    const record = await (await readBackfills(context)).find(args.id)
    assertResumable(record)
    const dag = await loadDag(context.dagsFolder, record.dag_id)
    this.warnAbout([dag])
    const session = await BackfillSession.resume(dag, record, context)
    return runInForeground(session, settingsOf(record.request, {executor: executorOf(flags), parallelism: flags.parallelism ?? availableParallelism()}), {json: this.jsonEnabled(), log: (text) => this.log(text)})
  }
}
