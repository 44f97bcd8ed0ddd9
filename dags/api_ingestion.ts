import type {TaskContext} from 'updraft'

// Runs at 06:30 New York wall-clock time; across DST the UTC hour moves and one interval is 23 or 25 hours.
export default {
  // The scheduler starts only the latest due interval, not every one since start_date (see the README).
  catchup: false,
  default_args: {execution_timeout: {minutes: 10}},
  schedule_interval: '30 6 * * *',
  start_date: '2024-03-01',
  tasks: [
    {bash_command: 'echo "requesting API window {{ data_interval_start }} to {{ data_interval_end }}"', task_id: 'fetch'},
    {
      async callable(context: TaskContext) {
        return `ingested ${context.ds} (${context.ts})`
      },
      task_id: 'ingest',
      upstream: ['fetch'],
    },
    {bash_command: 'echo "report for {{ ds }}"', task_id: 'report', upstream: ['ingest']},
  ],
  timezone: 'America/New_York',
}
