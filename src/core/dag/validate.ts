import {closeMatch} from '../suggest.js'
import {templateProblem} from '../template/render.js'

import {type ErrorCode, UpdraftError} from '../errors.js'
import {durationToMs} from '../schedule/duration.js'
import {isValidTimeZone, parseDateTime, toInstant, toUtcIso} from '../schedule/logical-date.js'
import {parseSchedule} from '../schedule/timetable.js'
import {topologicalOrder} from './graph.js'
import {type Dag, type DagDefinition, DEFAULT_MAX_ACTIVE_RUNS, type Sensor, type SensorDefinition, type SensorPoll, type Task, type TaskCallable, type TaskDefaults, DEFAULT_POOL, type WeightRule} from './model.js'

const DAG_KEYS = [
  'backfill_policy',
  'catchup',
  'dag_id',
  'default_args',
  'description',
  'end_date',
  'is_paused_upon_creation',
  'max_active_runs',
  'max_active_tasks',
  'params',
  'partitions',
  'schedule',
  'schedule_interval',
  'sensors',
  'start_date',
  'tags',
  'tasks',
  'timezone',
] as const satisfies ReadonlyArray<keyof DagDefinition>

const DEFAULT_ARG_KEYS = ['depends_on_past', 'execution_timeout', 'max_active_tis_per_dag', 'pool', 'pool_slots', 'priority_weight', 'retries', 'retry_delay', 'weight_rule'] as const satisfies ReadonlyArray<keyof TaskDefaults>

const TASK_KEYS = [...DEFAULT_ARG_KEYS, 'bash_command', 'callable', 'doc', 'env', 'task_id', 'upstream'] as const

const SENSOR_KEYS = ['every', 'poll', 'sensor_id'] as const satisfies ReadonlyArray<keyof SensorDefinition>

const ID_PATTERN = /^[\w.-]+$/
/** Airflow's pool names: what `pools set` accepts, so a DAG can name any pool a user can make. */
export const POOL_NAME_PATTERN = /^[\w.-]{1,256}$/

/** Turns the default export of a DAG file into a validated DAG, or throws naming the file and the problem. */
export function validateDag(raw: unknown, fileloc: string, defaultDagId: string): Dag {
  const fail = (code: ErrorCode, problem: string, suggestions: string[] = []): never => {
    throw new UpdraftError(code, `${fileloc}: ${problem}`, {suggestions})
  }

  if (!isRecord(raw)) fail('DAG_INVALID_VALUE', `expected the default export to be a DAG object, got ${describe(raw)}`)
  const definition = raw as Record<string, unknown>
  checkKeys(definition, DAG_KEYS, 'DAG', fail)

  const dagId = definition.dag_id ?? defaultDagId
  if (typeof dagId !== 'string' || !ID_PATTERN.test(dagId)) {
    fail('DAG_INVALID_VALUE', `expected dag_id to be letters, digits, "_", "-" or ".", got ${describe(dagId)}`)
  }

  const timezone = definition.timezone ?? 'UTC'
  if (typeof timezone !== 'string' || !isValidTimeZone(timezone)) {
    fail('DAG_INVALID_TIMEZONE', `expected timezone to be an IANA time zone like "Europe/Paris", got ${describe(timezone)}`)
  }

  const zone = timezone as string
  if ('schedule' in definition && 'schedule_interval' in definition) {
    fail('DAG_INVALID_SCHEDULE', 'expected one of schedule_interval or schedule, got both')
  }

  if (!('schedule' in definition) && !('schedule_interval' in definition)) {
    fail('DAG_MISSING_KEY', 'expected a schedule_interval (cron, preset such as @daily, duration, or null), got none')
  }

  const parsedSchedule = parseSchedule('schedule' in definition ? definition.schedule : definition.schedule_interval)
  if ('error' in parsedSchedule) fail('DAG_INVALID_SCHEDULE', `schedule_interval: ${parsedSchedule.error}`)
  const {schedule} = parsedSchedule as Exclude<typeof parsedSchedule, {error: string}>

  const partitions = partitionKeysOf(definition.partitions, fail)
  const keyOnly = schedule.kind === 'none' && schedule.source === 'null' && partitions.length > 0
  if (definition.start_date === undefined && !keyOnly) fail('DAG_MISSING_KEY', 'expected a start_date like "2024-01-01", got none')
  const startDate = definition.start_date === undefined ? null : instantOf(definition.start_date, 'start_date', zone, fail)
  const endDate = definition.end_date === undefined || definition.end_date === null ? null : instantOf(definition.end_date, 'end_date', zone, fail)
  if (endDate !== null && startDate !== null && endDate < startDate) fail('DAG_INVALID_DATE', `expected end_date on or after start_date, got ${endDate} before ${startDate}`)

  const maxActiveRuns = definition.max_active_runs ?? DEFAULT_MAX_ACTIVE_RUNS
  if (!Number.isInteger(maxActiveRuns) || (maxActiveRuns as number) < 1) {
    fail('DAG_INVALID_VALUE', `expected max_active_runs to be a positive integer, got ${describe(maxActiveRuns)}`)
  }

  const maxActiveTasks = definition.max_active_tasks ?? null
  if (maxActiveTasks !== null && (!Number.isInteger(maxActiveTasks) || (maxActiveTasks as number) < 1)) {
    fail('DAG_INVALID_VALUE', `expected max_active_tasks to be a positive integer, got ${describe(maxActiveTasks)}`)
  }

  const params = definition.params ?? {}
  if (!isRecord(params)) fail('DAG_INVALID_VALUE', `expected params to be an object, got ${describe(params)}`)
  const defaults = definition.default_args ?? {}
  if (!isRecord(defaults)) fail('DAG_INVALID_VALUE', `expected default_args to be an object, got ${describe(defaults)}`)
  checkKeys(defaults as Record<string, unknown>, DEFAULT_ARG_KEYS, 'default_args', fail)
  if (definition.description !== undefined && typeof definition.description !== 'string') {
    fail('DAG_INVALID_VALUE', `expected description to be a string, got ${describe(definition.description)}`)
  }

  if (definition.tasks === undefined) fail('DAG_MISSING_KEY', 'expected a tasks array, got none')
  if (!Array.isArray(definition.tasks) || definition.tasks.length === 0) {
    fail('DAG_INVALID_VALUE', `expected tasks to be a non-empty array, got ${describe(definition.tasks)}`)
  }

  const validated = (definition.tasks as unknown[]).map((task, index) => validateTask(task, index, defaults as Record<string, unknown>, fail))
  const weightRules = new Map(validated.map((task) => [task.taskId, task.weightRule]))
  const tasks: Task[] = validated.map(({weightRule: _rule, ...task}) => task)
  const seen = new Set<string>()
  for (const task of tasks) {
    if (seen.has(task.taskId)) fail('DAG_DUPLICATE_TASK', `duplicate task_id "${task.taskId}"`)
    seen.add(task.taskId)
  }

  for (const task of tasks) {
    for (const up of task.upstream) {
      if (!seen.has(up)) {
        const known = [...seen].filter((id) => id !== task.taskId)
        const guess = closeMatch(up, known)
        fail('DAG_MISSING_UPSTREAM', `task "${task.taskId}" has upstream "${up}", which is not a task of this DAG (tasks: ${[...seen].join(', ')})`, guess ? [`Did you mean upstream: ['${guess}'] in task "${task.taskId}"?`] : [])
      }
    }
  }

  const ordered = topologicalOrder(tasks.map((task) => ({id: task.taskId, upstream: task.upstream})))
  if ('cycle' in ordered) fail('DAG_CYCLE', `the tasks form a cycle: ${ordered.cycle.join(' → ')}`)
  const byId = new Map(tasks.map((task) => [task.taskId, task]))

  for (const key of ['catchup', 'is_paused_upon_creation'] as const) {
    if (definition[key] !== undefined && typeof definition[key] !== 'boolean') fail('DAG_INVALID_VALUE', `expected ${key} to be true or false, got ${describe(definition[key])}`)
  }

  return {
    batchSize: batchSizeOf(definition.backfill_policy, fail),
    catchup: definition.catchup !== false,
    dagId: dagId as string,
    description: (definition.description as string | undefined) ?? null,
    endDate,
    fileloc,
    isPausedUponCreation: definition.is_paused_upon_creation === true,
    maxActiveRuns: maxActiveRuns as number,
    maxActiveTasks: maxActiveTasks as null | number,
    params: params as Record<string, unknown>,
    partitions,
    schedule,
    sensors: sensorsOf(definition.sensors, fail),
    startDate,
    tasks: withPriorityWeights((ordered as {order: string[]}).order.map((id) => byId.get(id) as Task), weightRules),
    timezone: zone,
    warnings: tasks.flatMap((task) => unquotedOutsideValues(task, fileloc)),
  }
}

const PARTITION_KEY_PATTERN = /^[\w.-]{1,64}$/

function partitionKeysOf(value: unknown, fail: Fail): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.length === 0) fail('DAG_INVALID_VALUE', `expected partitions to be a non-empty array of keys like ['us', 'eu'], got ${describe(value)}`)
  const keys = value as unknown[]
  const seen = new Set<string>()
  for (const key of keys) {
    if (typeof key !== 'string' || !PARTITION_KEY_PATTERN.test(key)) {
      fail('DAG_INVALID_VALUE', `expected each partition key to be 1 to 64 letters, digits, "_", "-" or ".", got ${describe(key)}`)
    }

    if (seen.has(key as string)) fail('DAG_INVALID_VALUE', `expected unique partition keys, got "${key as string}" twice`)
    seen.add(key as string)
  }

  return keys as string[]
}

/** The DAG's sensors (README "Launching from code"): unique ids, a positive interval and a poll function each. */
function sensorsOf(value: unknown, fail: Fail): Sensor[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) fail('DAG_INVALID_VALUE', `expected sensors to be an array of {sensor_id, every, poll}, got ${describe(value)}`)
  const seen = new Set<string>()
  return (value as unknown[]).map((raw, index) => {
    if (!isRecord(raw)) fail('DAG_INVALID_VALUE', `expected sensors[${index}] to be {sensor_id, every, poll}, got ${describe(raw)}`)
    const sensor = raw as Record<string, unknown>
    const where = typeof sensor.sensor_id === 'string' ? `sensor "${sensor.sensor_id}"` : `sensors[${index}]`
    checkKeys(sensor, SENSOR_KEYS, where, fail)
    if (typeof sensor.sensor_id !== 'string' || !ID_PATTERN.test(sensor.sensor_id)) {
      fail('DAG_INVALID_VALUE', `expected ${where} to have a sensor_id of letters, digits, "_", "-" or ".", got ${describe(sensor.sensor_id)}`)
    }

    if (seen.has(sensor.sensor_id as string)) fail('DAG_INVALID_VALUE', `expected unique sensor ids, got "${sensor.sensor_id as string}" twice`)
    seen.add(sensor.sensor_id as string)
    const every = durationToMs(sensor.every)
    if ('error' in every || every.ms <= 0) fail('DAG_INVALID_VALUE', `${where}: every: ${'error' in every ? every.error : 'expected a duration longer than zero, got zero'}`)
    if (typeof sensor.poll !== 'function') fail('DAG_INVALID_VALUE', `expected ${where} poll to be a function (ctx) => request | null, got ${describe(sensor.poll)}`)
    return {everyMs: (every as {ms: number}).ms, poll: sensor.poll as SensorPoll, sensorId: sensor.sensor_id as string}
  })
}

/** The most dates one run covers under the DAG's `backfill_policy`: 1 by default, null for all of them. */
function batchSizeOf(value: unknown, fail: Fail): null | number {
  if (value === undefined) return 1
  if (value === 'single_run') return null
  if (isRecord(value) && Object.keys(value).length === 1 && Number.isInteger(value.max_dates_per_run) && (value.max_dates_per_run as number) >= 1) {
    return value.max_dates_per_run as number
  }

  return fail('DAG_INVALID_VALUE', `expected backfill_policy to be 'single_run' or {max_dates_per_run: n} with an integer n >= 1, got ${describe(value)}`)
}

/**
 * `-c`, sensors and the API put values from outside into `params`; inserted into a bash_command without the
 * `sh` filter, a quote or `;` in them is read by the shell. Loading still succeeds (Airflow renders the same way),
 * but the author is told.
 */
function unquotedOutsideValues(task: Task, fileloc: string): string[] {
  if (task.bashCommand === null) return []
  const unquoted = [...task.bashCommand.matchAll(/\{\{(.*?)\}\}/gs)]
    .map((match) => (match[1] ?? '').trim())
    .filter((expression) => /\b(params|conf)\b/.test(expression) && !/\|\s*(sh|shquote)\s*$/.test(expression))
  return unquoted.map(
    (expression) =>
      `${fileloc}: task "${task.taskId}" inserts {{ ${expression} }} into its bash_command without shell quoting; a value with a quote or ; would run as shell code. Write {{ ${expression} | sh }}.`,
  )
}

type Fail = (code: ErrorCode, problem: string, suggestions?: string[]) => never

/**
 * Each task's effective priority (Airflow's weight rules): `downstream` adds the weights of every task below it,
 * so a backfill finishes whole runs before starting new ones; `upstream` adds those above, so it goes wide first.
 */
function withPriorityWeights(tasks: Task[], rules: ReadonlyMap<string, WeightRule>): Task[] {
  const byId = new Map(tasks.map((task) => [task.taskId, task]))
  const downstream = new Map<string, string[]>(tasks.map((task) => [task.taskId, []]))
  for (const task of tasks) for (const up of task.upstream) downstream.get(up)?.push(task.taskId)
  const reachable = (start: string, next: (id: string) => readonly string[]): Set<string> => {
    const seen = new Set<string>()
    const stack = [...next(start)]
    while (stack.length > 0) {
      const id = stack.pop() as string
      if (seen.has(id)) continue
      seen.add(id)
      stack.push(...next(id))
    }

    return seen
  }

  return tasks.map((task) => {
    const rule = rules.get(task.taskId) ?? 'downstream'
    if (rule === 'absolute') return task
    const others = reachable(task.taskId, (id) => (rule === 'downstream' ? (downstream.get(id) ?? []) : (byId.get(id)?.upstream ?? [])))
    let weight = task.priorityWeight
    for (const id of others) weight += byId.get(id)?.priorityWeight ?? 0
    return {...task, priorityWeight: weight}
  })
}

const WEIGHT_RULES: readonly WeightRule[] = ['absolute', 'downstream', 'upstream']

function validateTask(raw: unknown, index: number, defaults: Record<string, unknown>, fail: Fail): Task & {weightRule: WeightRule} {
  if (!isRecord(raw)) fail('DAG_INVALID_TASK', `expected tasks[${index}] to be an object, got ${describe(raw)}`)
  const task = raw as Record<string, unknown>
  const where = typeof task.task_id === 'string' ? `task "${task.task_id}"` : `tasks[${index}]`
  checkKeys(task, TASK_KEYS, where, fail)
  if (typeof task.task_id !== 'string' || !ID_PATTERN.test(task.task_id)) {
    fail('DAG_INVALID_TASK', `expected ${where} to have a task_id of letters, digits, "_", "-" or ".", got ${describe(task.task_id)}`)
  }

  const hasBash = task.bash_command !== undefined
  const hasCallable = task.callable !== undefined
  if (hasBash === hasCallable) {
    fail('DAG_INVALID_TASK', `expected ${where} to have exactly one of bash_command or callable, got ${hasBash ? 'both' : 'neither'}`)
  }

  if (hasBash && typeof task.bash_command !== 'string') fail('DAG_INVALID_TASK', `expected ${where} bash_command to be a string, got ${describe(task.bash_command)}`)
  if (hasBash) {
    // A template that does not parse would fail every date at run time, after waiting out its retries.
    const problem = templateProblem(task.bash_command as string)
    if (problem) fail('DAG_INVALID_TEMPLATE', `expected ${where} bash_command to be a template that parses, got ${problem}`)
  }

  if (hasCallable && typeof task.callable !== 'function') fail('DAG_INVALID_TASK', `expected ${where} callable to be a function, got ${describe(task.callable)}`)
  const upstream = task.upstream ?? []
  if (!Array.isArray(upstream) || upstream.some((id) => typeof id !== 'string')) {
    fail('DAG_INVALID_TASK', `expected ${where} upstream to be an array of task ids, got ${describe(upstream)}`)
  }

  const env = task.env ?? {}
  if (!isRecord(env) || Object.values(env).some((value) => typeof value !== 'string')) {
    fail('DAG_INVALID_TASK', `expected ${where} env to be an object of strings, got ${describe(env)}`)
  }

  const setting = (key: (typeof DEFAULT_ARG_KEYS)[number]) => (key in task ? task[key] : defaults[key])
  const retries = setting('retries') ?? 0
  if (!Number.isInteger(retries) || (retries as number) < 0) fail('DAG_INVALID_TASK', `expected ${where} retries to be a non-negative integer, got ${describe(retries)}`)
  const dependsOnPast = setting('depends_on_past') ?? false
  if (typeof dependsOnPast !== 'boolean') fail('DAG_INVALID_TASK', `expected ${where} depends_on_past to be true or false, got ${describe(dependsOnPast)}`)
  const durationSetting = (key: 'execution_timeout' | 'retry_delay'): null | number => {
    const value = setting(key)
    if (value === undefined || value === null) return null
    const parsed = durationToMs(value)
    if ('error' in parsed) fail('DAG_INVALID_TASK', `${where} ${key}: ${parsed.error}`)
    return (parsed as {ms: number}).ms
  }

  const positiveInteger = (key: 'max_active_tis_per_dag' | 'pool_slots' | 'priority_weight', fallback: null | number): null | number => {
    const value = setting(key) ?? fallback
    if (value !== null && (!Number.isInteger(value) || (value as number) < (key === 'priority_weight' ? Number.MIN_SAFE_INTEGER : 1))) {
      fail('DAG_INVALID_TASK', `expected ${where} ${key} to be ${key === 'priority_weight' ? 'an integer' : 'a positive integer'}, got ${describe(value)}`)
    }

    return value as null | number
  }

  const pool = setting('pool') ?? DEFAULT_POOL
  if (typeof pool !== 'string' || !POOL_NAME_PATTERN.test(pool)) fail('DAG_INVALID_TASK', `expected ${where} pool to be a pool name of letters, digits, "_", "-" or ".", got ${describe(pool)}`)
  const weightRule = setting('weight_rule') ?? 'downstream'
  if (!WEIGHT_RULES.includes(weightRule as WeightRule)) fail('DAG_INVALID_TASK', `expected ${where} weight_rule to be one of ${WEIGHT_RULES.join(', ')}, got ${describe(weightRule)}`)

  return {
    bashCommand: hasBash ? (task.bash_command as string) : null,
    callable: hasCallable ? (task.callable as TaskCallable) : null,
    dependsOnPast: dependsOnPast as boolean,
    env: env as Record<string, string>,
    executionTimeoutMs: durationSetting('execution_timeout'),
    maxActiveTisPerDag: positiveInteger('max_active_tis_per_dag', null),
    pool: pool as string,
    poolSlots: positiveInteger('pool_slots', 1) as number,
    priorityWeight: positiveInteger('priority_weight', 1) as number,
    retries: retries as number,
    retryDelayMs: durationSetting('retry_delay') ?? 300_000,
    taskId: task.task_id as string,
    upstream: [...new Set(upstream as string[])],
    weightRule: weightRule as WeightRule,
  }
}

function instantOf(value: unknown, key: string, zone: string, fail: Fail): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) fail('DAG_INVALID_DATE', `expected ${key} to be a valid date, got an invalid Date`)
    return toUtcIso(value)
  }

  if (typeof value !== 'string') fail('DAG_INVALID_DATE', `expected ${key} to be a date like "2024-01-01", got ${describe(value)}`)
  try {
    return toUtcIso(toInstant(parseDateTime(value as string, key), zone))
  } catch {
    return fail('DAG_INVALID_DATE', `expected ${key} to be a date like "2024-01-01" or "2024-01-01T06:00", got ${describe(value)}`)
  }
}

function checkKeys(record: Record<string, unknown>, known: readonly string[], where: string, fail: Fail): void {
  for (const key of Object.keys(record)) {
    if (!known.includes(key)) {
      const suggestion = closeMatch(key, known)
      fail('DAG_UNKNOWN_KEY', `unknown key "${key}" in ${where} (${suggestion === null ? `keys: ${known.join(', ')}` : `did you mean "${suggestion}"?`})`, suggestion === null ? [] : [suggestion])
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}

function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return value.length === 0 ? 'an empty array' : JSON.stringify(value)
  return JSON.stringify(value) ?? String(value)
}
