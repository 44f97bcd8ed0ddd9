import {describe, expect, it} from '@jest/globals'
import {join} from 'node:path'

import {loadDag, loadDagBag} from '../../src/core/loader/load-dags.js'
import {tmpProject} from '../helpers/tmp-project.js'

const validBody = `schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'true'}]`

async function loadError(file: string, content: string) {
  const root = tmpProject({[`dags/${file}`]: content})
  const bag = await loadDagBag(join(root, 'dags'))
  expect(bag.dags).toHaveLength(0)
  expect(bag.errors).toHaveLength(1)
  return bag.errors[0]
}

describe('DAG loading', () => {
  it('loads .ts, .mts, .js and .mjs files; dag_id defaults to the file name', async () => {
    const root = tmpProject({
      'dags/a.ts': `const n: number = 1\nexport default {${validBody}}`,
      'dags/b.mts': `export default {${validBody}}`,
      'dags/c.mjs': `export default {${validBody}}`,
      'dags/d.js': `export default {dag_id: 'custom_id', ${validBody}}`,
    })
    const bag = await loadDagBag(join(root, 'dags'))
    expect(bag.errors).toEqual([])
    expect(bag.dags.map((dag) => dag.dagId).sort()).toEqual(['a', 'b', 'c', 'custom_id'])
  })

  it('follows relative imports between .ts files, including .js specifiers and enums', async () => {
    const root = tmpProject({
      'dags/lib/helpers.ts': `export enum Region { Eu = 'eu' }\nexport const cmd = (t: string): string => 'echo ' + t`,
      'dags/with_helpers.ts': `import {cmd, Region} from './lib/helpers.js'\nexport default {schedule_interval: '@daily', start_date: '2024-01-01', params: {region: Region.Eu}, tasks: [{task_id: 'a', bash_command: cmd('{{ ds }}')}]}`,
    })
    const dag = await loadDag(join(root, 'dags'), 'with_helpers')
    expect(dag.tasks[0]?.bashCommand).toBe('echo {{ ds }}')
    expect(dag.params).toEqual({region: 'eu'})
  })

  it("imports defineDag from 'updraft' in a folder without node_modules, and defineDag's checks report the file", async () => {
    const root = tmpProject({
      'dags/bad.ts': `import {defineDag} from 'updraft'\nexport default defineDag({schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'x', upstream: ['zz']}]})`,
      'dags/plain.mjs': `import {defineDag} from 'updraft'\nexport default defineDag({${validBody}})`,
      'dags/typed.ts': `import {defineDag, type TaskContext} from 'updraft'\nexport default defineDag({schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', callable: (ctx: TaskContext) => ctx.ds}]})`,
    })
    const bag = await loadDagBag(join(root, 'dags'))
    expect(bag.dags.map((dag) => dag.dagId)).toEqual(['plain', 'typed'])
    expect(bag.errors).toEqual([{code: 'DAG_MISSING_UPSTREAM', file: join(root, 'dags', 'bad.ts'), message: expect.stringContaining(`${join(root, 'dags', 'bad.ts')}: task "a" has upstream "zz"`)}])
  })

  it('finds a DAG whose id differs from its file name', async () => {
    const root = tmpProject({'dags/file.mjs': `export default {dag_id: 'other', ${validBody}}`})
    expect((await loadDag(join(root, 'dags'), 'other')).dagId).toBe('other')
  })

  it('an unknown DAG id suggests the closest one', async () => {
    const root = tmpProject({'dags/sales_pipeline.mjs': `export default {${validBody}}`})
    await expect(loadDag(join(root, 'dags'), 'sales_pipline')).rejects.toMatchObject({code: 'DAG_NOT_FOUND', suggestions: [expect.stringContaining('sales_pipeline')]})
  })

  it('a missing DAGs folder is a clear error', async () => {
    await expect(loadDagBag('/nonexistent/updraft/dags')).rejects.toMatchObject({code: 'DAGS_FOLDER_UNREADABLE'})
  })

  it('one broken file does not hide the others', async () => {
    const root = tmpProject({'dags/broken.mjs': 'export default {', 'dags/good.mjs': `export default {${validBody}}`})
    const bag = await loadDagBag(join(root, 'dags'))
    expect(bag.dags.map((dag) => dag.dagId)).toEqual(['good'])
    expect(bag.errors.map((error) => error.code)).toEqual(['DAG_SYNTAX_ERROR'])
  })

  it.each([
    ['syntax error', 'x.mjs', 'export default {', 'DAG_SYNTAX_ERROR', /syntax error/],
    ['syntax error in TypeScript', 'x.ts', 'export default {a: }', 'DAG_SYNTAX_ERROR', /syntax error/],
    ['no default export', 'x.mjs', `export const dag = {${validBody}}`, 'DAG_NO_DEFAULT_EXPORT', /expected a default export/],
    ['misspelled key', 'x.mjs', `export default {${validBody}, shedule: '@daily'}`, 'DAG_UNKNOWN_KEY', /unknown key "shedule" in DAG \(did you mean "schedule"\?\)/],
    ['misspelled task key', 'x.mjs', `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_comand: 'x'}]}`, 'DAG_UNKNOWN_KEY', /did you mean "bash_command"/],
    ['missing tasks', 'x.mjs', `export default {schedule_interval: '@daily', start_date: '2024-01-01'}`, 'DAG_MISSING_KEY', /expected a tasks array/],
    ['missing start_date', 'x.mjs', `export default {schedule_interval: '@daily', tasks: [{task_id: 'a', bash_command: 'x'}]}`, 'DAG_MISSING_KEY', /start_date/],
    ['duplicate task_id', 'x.mjs', `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'x'}, {task_id: 'a', bash_command: 'y'}]}`, 'DAG_DUPLICATE_TASK', /duplicate task_id "a"/],
    ['missing upstream', 'x.mjs', `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'x', upstream: ['ghost']}]}`, 'DAG_MISSING_UPSTREAM', /task "a" has upstream "ghost"/],
    ['cycle', 'x.mjs', `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'x', upstream: ['c']}, {task_id: 'b', bash_command: 'x', upstream: ['a']}, {task_id: 'c', bash_command: 'x', upstream: ['b']}]}`, 'DAG_CYCLE', /cycle: a → b → c → a/],
    ['invalid cron', 'x.mjs', `export default {schedule_interval: '61 * * * *', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'x'}]}`, 'DAG_INVALID_SCHEDULE', /invalid cron expression "61 \* \* \* \*"/],
    ['cron with the wrong field count', 'x.mjs', `export default {schedule_interval: '* * *', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'x'}]}`, 'DAG_INVALID_SCHEDULE', /5-field cron/],
    ['invalid time zone', 'x.mjs', `export default {${validBody}, timezone: 'Mars/Olympus'}`, 'DAG_INVALID_TIMEZONE', /IANA time zone.*"Mars\/Olympus"/],
    ['invalid start_date', 'x.mjs', `export default {schedule_interval: '@daily', start_date: '2024-02-30', tasks: [{task_id: 'a', bash_command: 'x'}]}`, 'DAG_INVALID_DATE', /start_date.*"2024-02-30"/],
    ['both bash_command and callable', 'x.mjs', `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'x', callable: () => 1}]}`, 'DAG_INVALID_TASK', /exactly one of bash_command or callable, got both/],
    ['neither bash_command nor callable', 'x.mjs', `export default {schedule_interval: '@daily', start_date: '2024-01-01', tasks: [{task_id: 'a'}]}`, 'DAG_INVALID_TASK', /got neither/],
    ['calendar duration schedule', 'x.mjs', `export default {schedule_interval: {months: 1}, start_date: '2024-01-01', tasks: [{task_id: 'a', bash_command: 'x'}]}`, 'DAG_INVALID_SCHEDULE', /"months" is not a fixed-length unit/],
  ])('%s', async (_name, file, content, code, message) => {
    const error = await loadError(file, content)
    expect(error?.code).toBe(code)
    expect(error?.message).toMatch(message)
    expect(error?.message).toContain(file)
  })
})
