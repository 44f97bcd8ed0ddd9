import {defineDag} from 'updraft'

// A daily UTC pipeline shaped like a diamond: extract fans out to two transforms that join in load.
export default defineDag({
  // The scheduler starts only the latest due interval, not every one since start_date (see the README).
  catchup: false,
  dag_id: 'sales_pipeline',
  default_args: {retries: 1, retry_delay: {seconds: 5}},
  description: 'Daily sales: extract, clean and aggregate in parallel, then load.',
  params: {region: 'eu'},
  schedule_interval: '@daily',
  start_date: '2024-01-01',
  tasks: [
    {bash_command: 'echo extracting sales for {{ ds }} in {{ params.region | sh }}', task_id: 'extract'},
    {bash_command: 'echo "cleaning {{ ds_nodash }}"', task_id: 'clean', upstream: ['extract']},
    {bash_command: 'echo "aggregating {{ ds }}"', task_id: 'aggregate', upstream: ['extract']},
    {bash_command: 'echo "loading {{ ds }} for run {{ run_id }}"', task_id: 'load', upstream: ['clean', 'aggregate']},
  ],
})
