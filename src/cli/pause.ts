import {Args} from '@oclif/core'

import {loadDag} from '../core/loader/load-dags.js'
import {openSharedStore} from '../core/state/readers.js'
import {BaseCommand} from './base-command.js'
import {commandContext} from './context.js'

/** `dags pause` and `dags unpause`: the DAG must load, so a misspelt id is refused rather than recorded. */
export abstract class PauseStateCommand extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> sales_pipeline']

  protected abstract readonly paused: boolean

  public async run(): Promise<{dag_id: string; is_paused: boolean}> {
    // oclif's parse() copies the command's own static fields only; these are inherited, so they are named.
    const {args, flags} = await this.parse({args: PauseStateCommand.args, baseFlags: BaseCommand.baseFlags, enableJsonFlag: true})
    const context = commandContext(flags)
    const dag = await loadDag(context.dagsFolder, args.dag_id as string)
    await (await openSharedStore(context)).updateDagSettings((settings) => {
      settings[dag.dagId] = {is_paused: this.paused}
    })
    if (!this.jsonEnabled()) {
      this.log(this.paused ? `Paused ${dag.dagId}: updraft scheduler starts none of its runs until it is unpaused.` : `Unpaused ${dag.dagId}: updraft scheduler runs it on its schedule.`)
    }

    return {dag_id: dag.dagId, is_paused: this.paused}
  }
}
