#!/usr/bin/env node
// Times the planner alone, in-process, on the built modules: DAG already loaded, no process start, no output.
// Usage: node bench/plan-time.js DAGS_FOLDER DAG_ID START END [BATCH_SIZE]; prints the median of 5 plans in ms.
import {loadDag} from '../dist/core/loader/load-dags.js'
import {planBackfill} from '../dist/core/planner/plan-backfill.js'
import {runSelectionFrom} from '../dist/core/run/selection.js'
import {parseDateTime} from '../dist/core/schedule/logical-date.js'

const [folder, dagId, start, end, batchSize] = process.argv.slice(2)
const dag = await loadDag(folder, dagId)
const now = new Date('2030-01-01T00:00:00.000Z')
const timings = []
let runs = 0
for (let index = 0; index < 5; index++) {
  const started = process.hrtime.bigint()
  const selection = runSelectionFrom(dag, {endDate: parseDateTime(end, '-e'), startDate: parseDateTime(start, '-s')})
  const plan = planBackfill(dag, {...selection, batchSize: batchSize === undefined ? dag.batchSize : Number(batchSize), ignoreDependencies: false, rerunFailedTasks: false, resetDagRuns: false, runBackwards: false, taskRegex: null}, now, [])
  timings.push(Number(process.hrtime.bigint() - started) / 1e6)
  runs = plan.runs.length
}

timings.sort((a, b) => a - b)
console.log(JSON.stringify({plan_ms: timings[2], runs}))
