import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {readRecordedDag, readTryLog} from '../../core/state/readers.js'
import {partitionFlag, positiveIntegerFlag} from '../../cli/flags.js'
import {UpdraftError} from '../../core/errors.js'
import {findRun, findTaskInstance, logPathOf, tryWithLog} from '../../core/state/queries.js'
import {recordLabel} from '../../core/run/run-spec.js'
import {tryHeader} from '../../render/state-text.js'

export default class TasksLogs extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG.', required: true}),
    task_id: Args.string({description: 'Id of the task.', required: true}),
    run: Args.string({description: 'Logical date (read in the DAG time zone) or run id.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> sales_pipeline load 2024-01-03', '<%= config.bin %> <%= command.id %> sales_pipeline load 2024-01-03 --try 1']

  static override flags = {
    partition: partitionFlag(),
    try: positiveIntegerFlag({summary: 'Which try to show (default: the latest).'}),
  }

  static override summary = "Print a task instance's captured output (stdout and stderr of one try)."

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(TasksLogs)
    const context = commandContext(flags)
    const recorded = await readRecordedDag(context, args.dag_id)
    const run = findRun(recorded, args.dag_id, {partitionKey: flags.partition ?? null, run: args.run})
    const ti = findTaskInstance(run, args.task_id)
    const path = logPathOf(ti, args.task_id, flags.try ?? null)
    const content = await readTryLog(context, path)
    if (content === null) throw new UpdraftError('TASK_NOT_FOUND', `Expected the log file ${path} to exist on this machine or in the state store, got neither.`)

    if (!this.jsonEnabled()) {
      // On a terminal a person reads it: say first which try this is and how it ended. Piped, the log stays as captured.
      if (process.stdout.isTTY) this.log(tryHeader(args.task_id, recordLabel(run, recorded.labelOf), tryWithLog(ti, path), path))
      process.stdout.write(content)
    }

    return {dag_id: args.dag_id, log: content, log_path: path, run_id: run.run_id, task_id: args.task_id}
  }
}
