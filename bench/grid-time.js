#!/usr/bin/env node
// Times drawing the task × run grid alone, in-process on the built modules: 10 tasks × 10,000 runs (100,000
// task instances) of mixed states, folded to 120 columns, with colour. Prints the median of 5 draws in ms.
import {gridText} from '../dist/render/grid.js'

const tasks = Array.from({length: 10}, (_, index) => `task_${index + 1}`)
const states = ['success', 'success', 'success', 'failed', 'upstream_failed', 'running', 'queued', 'none']
const columns = Array.from({length: 10_000}, (_, run) => ({
  label: new Date(Date.UTC(2023, 0, 1, run)).toISOString().slice(0, 16),
  task_instances: Object.fromEntries(tasks.map((task, index) => [task, states[(run * 7 + index * 3) % states.length]])),
}))
const timings = []
let lines = 0
for (let index = 0; index < 5; index++) {
  const started = process.hrtime.bigint()
  lines = gridText(tasks, columns, {colour: true, width: 120}).split('\n').length
  timings.push(Number(process.hrtime.bigint() - started) / 1e6)
}

timings.sort((a, b) => a - b)
console.log(JSON.stringify({draw_ms: timings[2], lines}))
