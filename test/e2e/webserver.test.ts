import {describe, expect, it} from '@jest/globals'
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {chromiumForSuite, startWebserver} from '../helpers/browser.js'
import {reapAfterAll} from '../helpers/processes.js'
import {runCli, startCli} from '../helpers/run-cli.js'
import {readState, waitFor} from '../helpers/state-file.js'
import {gatedDaily} from '../helpers/sample-dags.js'
import {tmpProject} from '../helpers/tmp-project.js'

const cli = (root: string, ...args: string[]) => runCli(args, {cwd: root})
const json = (root: string, ...args: string[]) => JSON.parse(cli(root, ...args, '--json').stdout)
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

// A month of Berlin days × five tasks; aggregate fails on 2024-01-17, so load and notify are upstream_failed there.
const month = `export default {schedule_interval: '@daily', start_date: '2024-01-01', timezone: 'Europe/Berlin',
  tasks: [
    {task_id: 'extract', bash_command: 'echo extracting {{ ds }}'},
    {task_id: 'clean', bash_command: 'true', upstream: ['extract']},
    {task_id: 'aggregate', bash_command: 'echo summing {{ ds }}; test {{ ds }} != 2024-01-17', upstream: ['extract']},
    {task_id: 'load', bash_command: 'true', upstream: ['clean', 'aggregate']},
    {task_id: 'notify', bash_command: 'true', upstream: ['load']},
  ]}`

const pids = reapAfterAll()
const chromium = chromiumForSuite()

/** What the page's grid shows: `{run_id: {task: state}}`, read from the boxes (blocks of columns, a row per task). */
async function boxesOf(page: import('playwright-core').Page): Promise<Record<string, Record<string, string>>> {
  return page.evaluate(() => {
    const data = JSON.parse(document.querySelector('#backfill-data')?.textContent ?? '{}') as {columns: Array<{run_id: string}>; tasks: string[]}
    const boxes: Record<string, Record<string, string>> = {}
    let firstColumn = 0
    for (const block of document.querySelectorAll('#grid .block')) {
      const rows = [...block.querySelectorAll('[role=row]')].slice(1)
      rows.forEach((row) => {
        const task = row.querySelector('[role=rowheader]')?.textContent as string
        row.querySelectorAll('.c').forEach((cell, index) => {
          const runId = data.columns[firstColumn + index]?.run_id as string
          boxes[runId] = {...boxes[runId], [task]: cell.getAttribute('data-state') as string}
        })
      })
      firstColumn += (rows[0]?.querySelectorAll('.c').length ?? 0)
    }

    return boxes
  })
}

describe('updraft webserver (§13)', () => {
  it('serves the DAGs, the backfills and a grid whose boxes match the state file, and changes nothing', async () => {
    const root = tmpProject({'dags/month.mjs': month})
    expect(cli(root, 'dags', 'backfill', 'month', '-s', '2024-01-01', '-e', '2024-01-31').code).toBe(1)
    const dbPath = join(root, '.updraft', 'db.json')
    const before = sha(dbPath)
    const filesBefore = readdirSync(join(root, '.updraft')).sort()
    const server = await startWebserver(root)
    pids.push(server.child.pid as number)
    const page = await chromium().newPage({viewport: {height: 900, width: 1280}})
    page.setDefaultTimeout(10_000)
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))

    await page.goto(`${server.url}/`)
    const dagRow = await page.locator('tr', {hasText: 'month'}).first().innerText()
    expect(dagRow).toContain('@daily')
    expect(dagRow).toContain('Europe/Berlin')
    expect(dagRow).toMatch(/failed|success/)
    expect(dagRow).toContain('active')
    await page.getByRole('link', {name: 'Backfill 1'}).click()
    await page.waitForSelector('#grid .c')
    expect(page.url()).toBe(`${server.url}/backfills/1`)
    expect(await page.locator('h1').innerText()).toMatch(/Backfill 1 of month\s+failed/)
    expect(await page.locator('#progress').innerText()).toBe('31/31 runs finished')

    const state = readState(root).dags.month
    const expected = Object.fromEntries(Object.values(state?.runs ?? {}).map((run) => [run.run_id, Object.fromEntries(Object.entries(run.task_instances).map(([task, ti]) => [task, ti.state]))]))
    expect(await boxesOf(page)).toEqual(expected)
    expect(await page.locator('#grid .c').count()).toBe(31 * 5)
    // Each box is named for what it is, for screen readers: task, date in the DAG's zone, state.
    expect(await page.getByRole('gridcell', {name: 'aggregate 2024-01-17: failed'}).count()).toBe(1)
    // Column labels are dates in the DAG's zone; the legend names each state next to its symbol.
    expect(await page.locator('#grid [role=columnheader]').nth(1).innerText()).toBe('2024-01-01')
    expect(await page.locator('#legend').innerText()).toMatch(/success[\s\S]*failed[\s\S]*upstream_failed/)

    // Hovering the failed box shows its task instance and the end of its log; the box links to the full log.
    const failed = page.locator('#grid a.c')
    expect(await failed.count()).toBe(1)
    await failed.hover()
    await page.waitForSelector('#detail pre')
    const detail = await page.locator('#detail').innerText()
    expect(detail).toContain('aggregate · 2024-01-17')
    expect(detail).toMatch(/State\s+failed/)
    expect(detail).toMatch(/Try\s+1/)
    expect(detail).toContain('summing 2024-01-17')
    const log = await page.request.get(`${server.url}${await failed.getAttribute('href')}`)
    expect(log.status()).toBe(200)
    expect(await log.text()).toContain('summing 2024-01-17')

    // The keyboard reaches every box: one tab stop, then arrow keys, each showing its details.
    await page.locator('#grid .c').first().focus()
    await page.keyboard.press('ArrowDown')
    await page.keyboard.press('ArrowRight')
    const secondTask = (await page.locator('#grid [role=rowheader]').nth(1).innerText()).trim()
    await page.waitForFunction((heading) => document.querySelector('#detail h3')?.textContent === heading, `${secondTask} · 2024-01-02`)

    const screenshot = join(root, 'backfill-1.png')
    await page.screenshot({fullPage: true, path: screenshot})
    expect(readFileSync(screenshot).subarray(1, 4).toString()).toBe('PNG')

    // The JSON routes are exactly the CLI's documents.
    expect(await (await page.request.get(`${server.url}/api/backfills`)).json()).toEqual(json(root, 'backfills', 'list'))
    expect(await (await page.request.get(`${server.url}/api/backfills/1`)).json()).toEqual(json(root, 'backfills', 'show', '1'))

    // An unknown id is a 404 page (and a 404 JSON error under /api), and the server goes on serving.
    const missing = await page.goto(`${server.url}/backfills/42`)
    expect(missing?.status()).toBe(404)
    expect(await page.locator('h1').innerText()).toBe('Not found')
    expect(await page.locator('main').innerText()).toContain('got "42"')
    const missingJson = await page.request.get(`${server.url}/api/backfills/42`)
    expect(missingJson.status()).toBe(404)
    expect((await missingJson.json()).error.code).toBe('BACKFILL_NOT_FOUND')
    expect((await page.request.post(`${server.url}/api/backfills`)).status()).toBe(401)
    expect((await page.goto(`${server.url}/backfills/1`))?.status()).toBe(200)

    await page.close()
    server.child.kill('SIGTERM')
    expect((await server.done).code).toBe(0)
    expect(errors).toEqual([])
    expect(sha(dbPath)).toBe(before)
    expect(readdirSync(join(root, '.updraft')).sort()).toEqual(filesBefore)
  }, 60_000)

  it('turns the boxes of a running backfill green without a reload', async () => {
    const root = tmpProject({'dags/gated.mjs': gatedDaily})
    const backfill = startCli(['dags', 'backfill', 'gated', '-s', '2024-01-01', '-e', '2024-01-03'], {cwd: root})
    pids.push(backfill.child.pid as number)
    await waitFor(() => existsSync(join(root, '.updraft', 'db.json')) && Object.keys(readState(root).dags.gated?.backfills ?? {}).length > 0)
    const server = await startWebserver(root)
    pids.push(server.child.pid as number)
    const page = await chromium().newPage()
    await page.goto(`${server.url}/backfills/1`)
    await page.waitForSelector('#grid .c')
    await page.evaluate(() => {
      ;(window as unknown as {sameDocument: boolean}).sameDocument = true
    })
    // The front page, open beside it, follows the backfill's state too.
    const front = await chromium().newPage()
    await front.goto(`${server.url}/`)
    const backfillRow = front.locator('#backfills tr', {hasText: 'Backfill 1'})
    expect(await backfillRow.innerText()).toContain('running')
    await front.evaluate(() => {
      ;(window as unknown as {sameDocument: boolean}).sameDocument = true
    })
    const labels = () => page.locator('#grid .c').evaluateAll((cells) => cells.map((cell) => cell.getAttribute('data-state')))
    expect(await labels()).not.toContain('success')
    expect(await page.locator('#state').innerText()).toBe('running')

    for (const [index, day] of ['2024-01-01', '2024-01-02', '2024-01-03'].entries()) {
      writeFileSync(join(root, `go-${day}`), '')
      await page.waitForFunction((done) => [...document.querySelectorAll('#grid .c')].filter((cell) => cell.getAttribute('data-state') === 'success').length === done, index + 1, {timeout: 10_000})
    }

    expect((await backfill.done).code).toBe(0)
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'success', undefined, {timeout: 10_000})
    expect(await page.locator('#progress').innerText()).toBe('3/3 runs finished')
    expect(await page.evaluate(() => (window as unknown as {sameDocument?: boolean}).sameDocument)).toBe(true)
    await front.waitForFunction(() => /success\s+3\/3 runs/.test(document.querySelector('#backfills')?.textContent ?? ''), undefined, {timeout: 10_000})
    expect(await front.evaluate(() => (window as unknown as {sameDocument?: boolean}).sameDocument)).toBe(true)
    await front.close()
    await page.close()
    server.child.kill('SIGTERM')
    await server.done
  })

  it('listens on 127.0.0.1 by default and warns when told to listen elsewhere', async () => {
    const root = tmpProject()
    const local = await startWebserver(root)
    pids.push(local.child.pid as number)
    expect(local.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(local.output().stderr).toBe('')
    const page = await chromium().newPage()
    await page.goto(`${local.url}/`)
    expect(await page.locator('main').innerText()).toContain('No backfills recorded yet')
    await page.close()

    // The port it holds is taken: a one-line error, exit 1.
    const taken = cli(root, 'webserver', '--port', new URL(local.url).port)
    expect(taken.code).toBe(1)
    expect(taken.stderr).toMatch(/Expected port \d+ on 127\.0\.0\.1 to be free, got it in use/)
    expect(taken.stderr).toContain('PORT_IN_USE')
    local.child.kill('SIGTERM')
    await local.done

    // Beyond loopback only with a token or read-only: anyone reaching it could otherwise act.
    const refused = cli(root, 'webserver', '--port', '0', '--host', '0.0.0.0')
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('Expected --token or --read-only to listen on 0.0.0.0, beyond this machine, got neither')
    const open = await startWebserver(root, ['--host', '0.0.0.0', '--read-only'])
    pids.push(open.child.pid as number)
    expect(open.output().stderr).toMatch(/^Warning: listening on 0\.0\.0\.0 read-only: anyone who can reach this address can read/)
    expect(open.output().stdout).not.toContain('token=')
    open.child.kill('SIGTERM')
    await open.done

    const bad = cli(root, 'webserver', '--port', 'http')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('Expected --port to be a port number from 0 to 65535 (0: any free port), got "http"')
    expect(readdirSync(root)).toEqual(['dags'])
  })
})
