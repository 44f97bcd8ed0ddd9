import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {describeDag} from '../../core/dag/describe.js'
import {loadDagBag} from '../../core/loader/load-dags.js'
import {dagListText} from '../../render/dag-text.js'

export default class DagsList extends BaseCommand {
  static override description = 'Files that fail to load are listed with their error; they never hide the other DAGs.'

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --dags-folder ./pipelines --json']

  static override summary = 'List every DAG in the DAGs folder with its schedule, time zone and task count.'

  public async run(): Promise<unknown> {
    const {flags} = await this.parse(DagsList)
    const context = commandContext(flags)
    const bag = await loadDagBag(context.dagsFolder)
    this.warnAbout(bag.dags)
    const dags = bag.dags.map((dag) => describeDag(dag, context.clock(), 0))
    if (!this.jsonEnabled()) this.log(dagListText(dags, bag.errors))
    return {
      dags: dags.map(({next_ticks: _, ...dag}) => ({...dag, tasks: dag.tasks.length})),
      errors: bag.errors,
    }
  }
}
