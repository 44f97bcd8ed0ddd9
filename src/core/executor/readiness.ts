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
  instances: Readonly<Record<string, {state: TaskInstanceState} | undefined>>,
  past: null | {finished: boolean; state: TaskInstanceState},
): Readiness {
  let waitingOnUpstream = false
  for (const upstreamId of task.upstream) {
    if (!selected.has(upstreamId)) continue
    const state = instances[upstreamId]?.state ?? 'none'
    if (FAILED_STATES.has(state)) return BLOCKED_UPSTREAM
    if (!DONE_STATES.has(state)) waitingOnUpstream = true
  }

  if (waitingOnUpstream) return WAITING_UPSTREAM
  if (!task.dependsOnPast || past === null || DONE_STATES.has(past.state)) return READY
  return FAILED_STATES.has(past.state) || past.finished ? BLOCKED_PAST : WAITING_PAST
}

// Asked for every pending instance after every state change, so the answers are shared rather than allocated.
const READY: Readiness = Object.freeze({kind: 'ready'})
const BLOCKED_UPSTREAM: Readiness = Object.freeze({kind: 'blocked', reason: 'upstream-failed'})
const BLOCKED_PAST: Readiness = Object.freeze({kind: 'blocked', reason: 'depends-on-past'})
const WAITING_UPSTREAM: Readiness = Object.freeze({kind: 'waiting', on: 'upstream'})
const WAITING_PAST: Readiness = Object.freeze({kind: 'waiting', on: 'past'})
