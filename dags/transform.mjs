// A plain .mjs DAG on a six-hour grid anchored at start_date, in Paris time.
export default {
  // The scheduler starts only the latest due interval, not every one since start_date (see the README).
  catchup: false,
  schedule_interval: 'PT6H',
  start_date: '2024-06-01T00:00',
  timezone: 'Europe/Paris',
  max_active_runs: 4,
  tasks: [
    {task_id: 'stage', bash_command: 'echo "staging {{ ts }}"'},
    {task_id: 'publish', bash_command: 'echo "publishing {{ ts_nodash }}"', upstream: ['stage']},
  ],
}
