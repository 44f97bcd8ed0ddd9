import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {describeDag} from '../../core/dag/describe.js'
import {loadDagBag} from '../../core/loader/load-dags.js'
import {labelerFor} from '../../core/schedule/resolve-dates.js'
import {nextScheduledRun} from '../../core/scheduler/due-runs.js'
import {readBackfills} from '../../core/state/readers.js'
import {dagListText} from '../../render/dag-text.js'

export default class DagsList extends BaseCommand {
  static override description = 'Files that fail to load are listed with their error; they never hide the other DAGs.'

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --dags-folder ./pipelines --json']

  static override summary = 'List every DAG in the DAGs folder with its schedule, time zone, task count, pause state and next scheduled run.'

  public async run(): Promise<unknown> {
    const {flags} = await this.parse(DagsList)
    const context = commandContext(flags)
    const bag = await loadDagBag(context.dagsFolder)
    this.warnAbout(bag.dags)
    const recorded = await readBackfills(context)
    const now = context.clock()
    const dags = bag.dags.map((dag) => {
      const nextDue = nextScheduledRun(dag, recorded.summaries[dag.dagId]?.last_scheduled ?? null, now)
      return {
        ...describeDag(dag, now, 0),
        // A DAG the scheduler has not seen yet starts as its is_paused_upon_creation says.
        is_paused: recorded.settings[dag.dagId]?.is_paused ?? dag.isPausedUponCreation,
        next_due: nextDue,
        next_due_label: nextDue === null ? null : labelerFor(dag)(nextDue),
      }
    })
    if (!this.jsonEnabled()) this.log(dagListText(dags, bag.errors))
    return {
      dags: dags.map(({next_due_label: _label, next_ticks: _ticks, ...dag}) => ({...dag, tasks: dag.tasks.length})),
      errors: bag.errors,
    }
  }
}
