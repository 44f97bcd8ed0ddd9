import {defineDag} from 'updraft'

// A daily date × region grid (Dagster's multi-partitions): one run per day and region, each region's history on
// its own, so a failed day in one region never holds back the others.
export default defineDag({
  // The scheduler starts only the latest due interval, not every one since start_date (see the README).
  catchup: false,
  dag_id: 'regional_sales',
  description: 'Daily sales per region: extract and load one day of one region.',
  partitions: ['us', 'eu', 'apac'],
  schedule_interval: '@daily',
  start_date: '2024-05-01',
  tasks: [
    {bash_command: 'echo "extracting {{ ds }} for {{ partition_key | sh }}"', task_id: 'extract'},
    {bash_command: 'echo "loading {{ ds }} into sales_$UPDRAFT_PARTITION_KEY"', depends_on_past: true, task_id: 'load', upstream: ['extract']},
  ],
})
