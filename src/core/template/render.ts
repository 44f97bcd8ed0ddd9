import nunjucks from 'nunjucks'

import type {TaskContext} from '../dag/model.js'
import {wallTimeOf} from '../schedule/logical-date.js'

/** Airflow's template variables for one task instance try: the task context without its abort signal. */
export type TemplateContext = Omit<TaskContext, 'signal'>

/** The variables shared by every task instance of a run; `ds` and `ts` are in the DAG's zone, instants stay UTC. */
export type RunTemplateValues = Omit<TemplateContext, 'task_id' | 'try_number'>

/** Computes a run's template values once; each task instance adds its `task_id` and `try_number`. */
export function runTemplateValues(input: {
  dagId: string
  intervalEnd: string
  intervalStart: string
  params: Record<string, unknown>
  runId: string
  timezone: string
}): RunTemplateValues {
  const {day, hour, minute, month, offset, second, year} = wallTimeOf(input.intervalStart, input.timezone)
  return {
    dag_id: input.dagId,
    data_interval_end: input.intervalEnd,
    data_interval_start: input.intervalStart,
    ds: `${year}-${month}-${day}`,
    ds_nodash: `${year}${month}${day}`,
    logical_date: input.intervalStart,
    params: input.params,
    run_id: input.runId,
    ts: `${year}-${month}-${day}T${hour}:${minute}:${second}${offset}`,
    ts_nodash: `${year}${month}${day}T${hour}${minute}${second}`,
  }
}

/** The same variables as `UPDRAFT_*` environment variables for bash tasks; params as JSON. */
export function templateEnvironment(context: TemplateContext): Record<string, string> {
  return {
    UPDRAFT_DAG_ID: context.dag_id,
    UPDRAFT_DATA_INTERVAL_END: context.data_interval_end,
    UPDRAFT_DATA_INTERVAL_START: context.data_interval_start,
    UPDRAFT_DS: context.ds,
    UPDRAFT_DS_NODASH: context.ds_nodash,
    UPDRAFT_LOGICAL_DATE: context.logical_date,
    UPDRAFT_PARAMS: JSON.stringify(context.params),
    UPDRAFT_RUN_ID: context.run_id,
    UPDRAFT_TASK_ID: context.task_id,
    UPDRAFT_TRY_NUMBER: String(context.try_number),
    UPDRAFT_TS: context.ts,
    UPDRAFT_TS_NODASH: context.ts_nodash,
  }
}

/** Wraps a value in single quotes for /bin/sh: `{{ params.region | sh }}` (`shquote` is the older name). */
function shellQuote(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return `'${String(text).replaceAll("'", `'\\''`)}'`
}

const environment = new nunjucks.Environment(null, {autoescape: false, throwOnUndefined: false})
environment.addFilter('sh', shellQuote)
environment.addFilter('shquote', shellQuote)

/** A Jinja-style template compiled once per task and rendered per task instance. */
export interface CompiledTemplate {
  render(context: TemplateContext): string
}

/** Compiles a `bash_command`; a template error surfaces when an instance renders it, and fails that instance. */
export function compileTemplate(source: string): CompiledTemplate {
  const template = nunjucks.compile(source, environment)
  return {render: (context) => template.render(context as unknown as object)}
}
