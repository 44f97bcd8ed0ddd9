import {defineDag} from 'updraft'

// One warehouse query for the whole window (Dagster's BackfillPolicy.single_run): the task gets every date at
// once, yet each day keeps its own run record, so `dags list-runs` still shows the days one by one.
export default defineDag({
  // The scheduler starts only the latest due interval, not every one since start_date (see the README).
  catchup: false,
  backfill_policy: 'single_run',
  dag_id: 'weekly_rollup',
  description: 'Rolls up a window of days with one query.',
  schedule_interval: '@daily',
  start_date: '2024-05-01',
  tasks: [
    {
      bash_command: 'echo "rolling up [{{ data_interval_start }}, {{ data_interval_end }}): $UPDRAFT_DS_LIST"',
      task_id: 'rollup',
    },
    {bash_command: 'echo "publishing {{ ds_list | length }} day(s) from {{ ds }}"', task_id: 'publish', upstream: ['rollup']},
  ],
})
