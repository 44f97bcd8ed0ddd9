import nunjucks from 'nunjucks'

import type {TaskContext} from '../dag/model.js'
import type {RunWindow} from '../run/run-spec.js'
import {wallTimeOf} from '../schedule/logical-date.js'

/** Airflow's template variables for one task instance try: the task context without its abort signal. */
export type TemplateContext = Omit<TaskContext, 'signal'>

/** The variables shared by every task instance of a run; `ds` and `ts` are in the DAG's zone, instants stay UTC. */
export type RunTemplateValues = Omit<TemplateContext, 'task_id' | 'try_number'>

/**
 * Computes a run's template values once; each task instance adds its `task_id` and `try_number`. A run reads as
 * its first date (`ds`, `ts`, `logical_date`) over the interval of all its dates; a key-only run has no date.
 */
export function runTemplateValues(input: {
  dagId: string
  params: Record<string, unknown>
  run: RunWindow
  timezone: string
}): RunTemplateValues {
  const {run, timezone} = input
  const first = run.logical_date === null ? null : wallTimeOf(run.logical_date, timezone)
  const ds = first && `${first.year}-${first.month}-${first.day}`
  const dsOf = (iso: string, index: number) => {
    if (index === 0 && ds !== null) return ds
    const {day, month, year} = wallTimeOf(iso, timezone)
    return `${year}-${month}-${day}`
  }

  return {
    dag_id: input.dagId,
    data_interval_end: run.data_interval_end,
    data_interval_start: run.data_interval_start,
    ds,
    ds_list: run.logical_dates.map((iso, index) => dsOf(iso, index)),
    ds_nodash: first && `${first.year}${first.month}${first.day}`,
    logical_date: run.logical_date,
    logical_dates: run.logical_dates,
    params: input.params,
    partition_key: run.partition_key,
    run_id: run.run_id,
    ts: first && `${first.year}-${first.month}-${first.day}T${first.hour}:${first.minute}:${first.second}${first.offset}`,
    ts_nodash: first && `${first.year}${first.month}${first.day}T${first.hour}${first.minute}${first.second}`,
  }
}

/**
 * One task instance try's variables: the run's plus its task id and try number. Written out key by key rather
 * than spread: a spread of this many keys per instance was a tenth of a year of hourly runs.
 */
export function taskTemplateContext(run: RunTemplateValues, taskId: string, tryNumber: number): TemplateContext {
  return {
    dag_id: run.dag_id,
    data_interval_end: run.data_interval_end,
    data_interval_start: run.data_interval_start,
    ds: run.ds,
    ds_list: run.ds_list,
    ds_nodash: run.ds_nodash,
    logical_date: run.logical_date,
    logical_dates: run.logical_dates,
    params: run.params,
    partition_key: run.partition_key,
    run_id: run.run_id,
    task_id: taskId,
    try_number: tryNumber,
    ts: run.ts,
    ts_nodash: run.ts_nodash,
  }
}

/**
 * The same variables as `UPDRAFT_*` environment variables for bash tasks; params as JSON, `UPDRAFT_DS_LIST`
 * space-separated. A variable whose value is null (a key-only run's dates, a DAG without partitions' key) is unset.
 */
export function templateEnvironment(context: TemplateContext): Record<string, string> {
  const variables: Record<string, null | string> = {
    UPDRAFT_DAG_ID: context.dag_id,
    UPDRAFT_DATA_INTERVAL_END: context.data_interval_end,
    UPDRAFT_DATA_INTERVAL_START: context.data_interval_start,
    UPDRAFT_DS: context.ds,
    UPDRAFT_DS_LIST: context.logical_dates.length > 0 ? context.ds_list.join(' ') : null,
    UPDRAFT_DS_NODASH: context.ds_nodash,
    UPDRAFT_LOGICAL_DATE: context.logical_date,
    UPDRAFT_LOGICAL_DATES: context.logical_dates.length > 0 ? context.logical_dates.join(' ') : null,
    UPDRAFT_PARAMS: JSON.stringify(context.params),
    UPDRAFT_PARTITION_KEY: context.partition_key,
    UPDRAFT_RUN_ID: context.run_id,
    UPDRAFT_TASK_ID: context.task_id,
    UPDRAFT_TRY_NUMBER: String(context.try_number),
    UPDRAFT_TS: context.ts,
    UPDRAFT_TS_NODASH: context.ts_nodash,
  }
  return Object.fromEntries(Object.entries(variables).filter((entry): entry is [string, string] => entry[1] !== null))
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

/**
 * Why a `bash_command` does not parse, with the line and column the parser stopped at, or null if it parses.
 * Unknown filters and variables are found only when an instance renders it.
 */
export function templateProblem(source: string): null | string {
  try {
    // Compiled eagerly here; `nunjucks.compile` would wait for the first render.
    new nunjucks.Template(source, environment, undefined, true)
    return null
  } catch (error) {
    // nunjucks says "(unknown path) [Line 1, Column 18]" and then, on the next line, what it expected.
    const [head = '', ...rest] = (error as Error).message.split('\n')
    const position = /Line (\d+), Column (\d+)/.exec(head)
    const said = rest.map((line) => line.trim()).join(' ').replace(/^\w+: /, '')
    return `an error${position ? ` at line ${position[1]}, column ${position[2]}` : ''}: ${said || head}`
  }
}
