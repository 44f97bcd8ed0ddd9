import type {Task} from '../dag/model.js'
import {DONE_STATES, FAILED_STATES, type TaskInstanceState} from '../state/schema.js'

/** Where a task instance stands against its upstream and its past, decided from states alone. */
export type Readiness =
  | {kind: 'blocked'; reason: 'depends-on-past' | 'upstream-failed'}
  | {kind: 'ready'}
  | {kind: 'waiting'; on: 'past' | 'upstream'}

/**
 * Whether a task instance can be queued now: every selected upstream done (under `-i` an unselected one counts as
 * done) and, with depends_on_past, the same task of the previous run of its key done. A failed upstream, or a
 * previous instance that failed or whose run finished without it, blocks it for good.
 */
export function readinessOf(
  task: Pick<Task, 'dependsOnPast' | 'upstream'>,
  selected: ReadonlySet<string>,
  stateOf: (taskId: string) => TaskInstanceState,
  past: null | {finished: boolean; state: TaskInstanceState},
): Readiness {
  let waitingOnUpstream = false
  for (const upstreamId of task.upstream) {
    if (!selected.has(upstreamId)) continue
    const state = stateOf(upstreamId)
    if (FAILED_STATES.has(state)) return {kind: 'blocked', reason: 'upstream-failed'}
    if (!DONE_STATES.has(state)) waitingOnUpstream = true
  }

  if (waitingOnUpstream) return {kind: 'waiting', on: 'upstream'}
  if (!task.dependsOnPast || past === null || DONE_STATES.has(past.state)) return {kind: 'ready'}
  return FAILED_STATES.has(past.state) || past.finished ? {kind: 'blocked', reason: 'depends-on-past'} : {kind: 'waiting', on: 'past'}
}
