import {existsSync, readdirSync} from 'node:fs'

import {defineDag} from 'updraft'

// A file-drop sensor (Dagster's sensor returning a RunRequest): every CSV named after a day that lands in
// ./inbox asks for a backfill of that day. `updraft scheduler` polls it every 30 seconds; a day already loaded
// is not run again, and the same request is not launched twice while the first still runs.
export default defineDag({
  catchup: false,
  dag_id: 'file_drop',
  description: 'Loads the daily files dropped into ./inbox.',
  schedule_interval: '@daily',
  sensors: [
    {
      every: {seconds: 30},
      poll() {
        const days = existsSync('inbox') ? readdirSync('inbox').filter((name) => /^\d{4}-\d{2}-\d{2}\.csv$/.test(name)) : []
        return days.length === 0 ? null : {dates: days.sort().map((name) => name.slice(0, 10)), tags: {source: 'inbox'}}
      },
      sensor_id: 'inbox',
    },
  ],
  start_date: '2024-01-01',
  tasks: [
    {bash_command: 'echo "loading inbox/{{ ds }}.csv"', task_id: 'load'},
    {bash_command: 'echo "loaded {{ ds }}"', task_id: 'announce', upstream: ['load']},
  ],
})
