import {UpdraftError} from '../errors.js'
import {closeMatch} from '../suggest.js'
import {withUpstream} from './graph.js'
import type {Dag} from './model.js'

/** Which tasks of a DAG run. */
export interface TaskSelection {
  /** Task ids in topological order. */
  taskIds: string[]
}

/**
 * `-t` is a regex search over task ids (anchor it yourself); matches bring their transitive upstream along unless
 * `-i` is set, in which case unselected upstreams count as satisfied.
 */
export function selectTasks(dag: Dag, regex: null | RegExp, ignoreDependencies: boolean): TaskSelection {
  const allIds = dag.tasks.map((task) => task.taskId)
  if (regex === null) return {taskIds: allIds}
  const search = new RegExp(regex.source, regex.flags.replace('g', '').replace('y', ''))
  const matched = allIds.filter((id) => search.test(id))
  if (matched.length === 0) {
    const guess = closeMatch(regex.source.replace(/^\^/, '').replace(/\$$/, ''), allIds)
    throw new UpdraftError(
      'NO_TASK_MATCHES',
      `no task matches /${regex.source}/ in DAG ${dag.dagId} (tasks: ${allIds.join(', ')})`,
      {exit: 2, suggestions: guess === null ? [] : [`-t '^${guess}$'`]},
    )
  }

  const chosen = ignoreDependencies
    ? new Set(matched)
    : withUpstream(dag.tasks.map((task) => ({id: task.taskId, upstream: task.upstream})), matched)
  return {taskIds: allIds.filter((id) => chosen.has(id))}
}
