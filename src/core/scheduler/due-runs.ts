import type {Dag} from '../dag/model.js'
import {toUtcIso} from '../schedule/logical-date.js'
import {timetableOf} from '../schedule/resolve-dates.js'
import type {DagSummary} from '../state/store.js'

/**
 * The logical dates the scheduler starts now (README "Running the scheduler"), as an inclusive range of UTC ISO instants, or null when none
 * is due. A run is due once its interval has ended. With catchup the range starts after the last scheduled run,
 * or at it while it has not finished (one that was stopped is taken up again), or at start_date before the
 * first; without catchup it is only the latest due interval. Complete dates in the range are skipped by the planner.
 */
export function dueRange(dag: Dag, lastScheduled: DagSummary['last_scheduled'], now: Date): null | {from: string; to: string} {
  const latest = latestDueTick(dag, now)
  if (latest === null) return null
  const from = !dag.catchup ? latest : lastScheduled === null ? firstTick(dag) : lastScheduled.finished ? timetableOf(dag).tickAfter(new Date(lastScheduled.logical_date)) : new Date(lastScheduled.logical_date)
  return from > latest ? null : {from: toUtcIso(from), to: toUtcIso(latest)}
}

/** The logical date of the next run the scheduler will start (due already or not), or null when there is none. */
export function nextScheduledRun(dag: Dag, lastScheduled: DagSummary['last_scheduled'], now: Date): null | string {
  if (dag.schedule.kind === 'none' || dag.startDate === null) return null
  const timetable = timetableOf(dag)
  let next = lastScheduled === null ? firstTick(dag) : lastScheduled.finished ? timetable.tickAfter(new Date(lastScheduled.logical_date)) : new Date(lastScheduled.logical_date)
  const latest = latestDueTick(dag, now)
  if (!dag.catchup && latest !== null && latest > next) next = latest
  return dag.endDate !== null && next > new Date(dag.endDate) ? null : toUtcIso(next)
}

/** Every logical date from start_date to the last due one, oldest first: what a DAG's status bar shows. */
export function dueTicks(dag: Dag, now: Date): Date[] {
  const latest = latestDueTick(dag, now)
  return latest === null ? [] : timetableOf(dag).ticksBetween(firstTick(dag), latest)
}

function firstTick(dag: Dag): Date {
  const timetable = timetableOf(dag)
  const start = new Date(dag.startDate ?? 0)
  return timetable.ticksBetween(start, start)[0] ?? timetable.tickAfter(start)
}

/** The last tick within start_date and end_date whose interval has ended by `now`. */
function latestDueTick(dag: Dag, now: Date): Date | null {
  if (dag.schedule.kind === 'none' || dag.startDate === null) return null
  const timetable = timetableOf(dag)
  let tick = timetable.tickBefore(now)
  while (tick && timetable.tickAfter(tick) > now) tick = timetable.tickBefore(tick)
  if (tick && dag.endDate !== null && tick > new Date(dag.endDate)) {
    const end = new Date(dag.endDate)
    tick = timetable.ticksBetween(end, end)[0] ?? timetable.tickBefore(end)
  }

  return tick && tick >= new Date(dag.startDate) ? tick : null
}
