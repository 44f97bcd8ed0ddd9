import type {BackfillOptions} from './api/backfill.js'
import type {BackfillDocument} from './core/session/launch.js'

export {defineDag} from './core/dag/define-dag.js'
export type {DagDefinition, SensorContext, SensorDefinition, SensorPoll, SensorRequest, TaskCallable, TaskContext, TaskDefaults, TaskDefinition} from './core/dag/model.js'
export type {DurationInput, DurationObject} from './core/schedule/duration.js'
export {type ErrorCode, isUpdraftError, UpdraftError} from './core/errors.js'
export type {BackfillEvent} from './core/events.js'
export type {BackfillOptions} from './api/backfill.js'
export type {BackfillDocument, BackfillDocument as BackfillResult} from './core/session/launch.js'

/**
 * Backfills a DAG from code, exactly as `updraft dags backfill` would, and resolves to its `--json` document
 * (README "Launching from code"). Loaded on first call, so DAG files importing `defineDag` from here do not load the backfill machinery.
 */
export async function backfill(options: BackfillOptions): Promise<BackfillDocument> {
  const api = await import('./api/backfill.js')
  return api.backfill(options)
}
