/** A month of Berlin days × five tasks; aggregate fails on 2024-01-17, so load and notify are upstream_failed there. */
export const failingMonth = `export default {schedule_interval: '@daily', start_date: '2024-01-01', timezone: 'Europe/Berlin',
  tasks: [
    {task_id: 'extract', bash_command: 'true'},
    {task_id: 'clean', bash_command: 'true', upstream: ['extract']},
    {task_id: 'aggregate', bash_command: 'test {{ ds }} != 2024-01-17', upstream: ['extract']},
    {task_id: 'load', bash_command: 'true', upstream: ['clean', 'aggregate']},
    {task_id: 'notify', bash_command: 'true', upstream: ['load']},
  ]}`

/** One date at a time, each waiting for its go file (`go-<ds>` beside dags/), so a test decides when each run ends. */
export const gatedDaily = `export default {schedule_interval: '@daily', start_date: '2024-01-01', max_active_runs: 1, is_paused_upon_creation: true,
  tasks: [{task_id: 'wait', bash_command: 'while [ ! -e ../go-{{ ds }} ]; do sleep 0.05; done'}]}`
