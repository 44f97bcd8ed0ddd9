import {describe, expect, it} from '@jest/globals'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Page} from 'playwright-core'

import {chromiumForSuite, startWebserver} from '../helpers/browser.js'
import {reapAfterAll} from '../helpers/processes.js'
import {runCli, startCli} from '../helpers/run-cli.js'
import {folderSnapshot, readState, tiStates, waitFor} from '../helpers/state-file.js'
import {gatedDaily} from '../helpers/sample-dags.js'
import {tmpProject} from '../helpers/tmp-project.js'

const cli = (root: string, ...args: string[]) => runCli(args, {cwd: root})
const json = (root: string, ...args: string[]) => JSON.parse(cli(root, ...args, '--json').stdout)

// January of Berlin days, one task; paused on creation, so a scheduler runs only what is asked of it.
const january = `export default {schedule_interval: '@daily', start_date: '2024-01-01', end_date: '2024-01-31', timezone: 'Europe/Berlin',
  is_paused_upon_creation: true, params: {region: 'eu'},
  tasks: [{task_id: 'load', bash_command: 'echo loading {{ ds }} {{ params.region }}'}]}`
// One date at a time, each waiting for its go file, so the test decides when each run ends.
// Hours in Tokyo × three regions.
const regional = `export default {schedule_interval: '@hourly', start_date: '2024-03-01', end_date: '2024-03-02T23:00', timezone: 'Asia/Tokyo',
  partitions: ['eu', 'us', 'apac'], tasks: [{task_id: 'load', bash_command: 'true'}]}`

const pids = reapAfterAll()
const chromium = chromiumForSuite()

async function serve(root: string, extraArgs: string[] = []) {
  const server = await startWebserver(root, extraArgs)
  pids.push(server.child.pid as number)
  return server
}

/** A new browser signed in with the URL the server printed; it lands on the page asked for, without the token. */
async function signedIn(server: Awaited<ReturnType<typeof serve>>, path: string): Promise<Page> {
  const page = await (await chromium().newContext()).newPage()
  page.setDefaultTimeout(15_000)
  await page.goto(server.signInUrl.replace('/?', `${path}?`))
  expect(new URL(page.url()).search).toBe('')
  return page
}

/** Retries `check` until it passes: what the page shows follows the server a moment later. */
async function eventually(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const started = Date.now()
  for (;;) {
    try {
      await check()
      return
    } catch (error) {
      if (Date.now() - started > timeoutMs) throw error
      await new Promise((resolve) => {
        setTimeout(resolve, 100)
      })
    }
  }
}

/** Drags across the status bar from one date's box to another's. */
async function dragAcross(page: Page, fromColumn: number, toColumn: number): Promise<void> {
  const first = await page.locator(`#status .sc[data-c="${fromColumn}"]`).first().boundingBox()
  const last = await page.locator(`#status .sc[data-c="${toColumn}"]`).first().boundingBox()
  if (!first || !last) throw new Error('status bar boxes not drawn')
  await page.mouse.move(first.x + 3, first.y + 3)
  await page.mouse.down()
  await page.mouse.move((first.x + last.x) / 2 + 3, last.y + 3, {steps: 4})
  await page.mouse.move(last.x + 3, last.y + 3, {steps: 4})
  await page.mouse.up()
}

describe('acting from the web page (README "The web page")', () => {
  it('launches a week selected on the status bar; the scheduler runs it and its boxes turn green', async () => {
    const root = tmpProject({'dags/january.mjs': january})
    expect(cli(root, 'dags', 'backfill', 'january', '-s', '2024-01-01', '-e', '2024-01-03').code).toBe(0)
    const server = await serve(root)
    const page = await signedIn(server, '/dags/january')
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))

    // 31 boxes: the three days that ran are green, the rest missing.
    await page.waitForSelector('#status .sc[data-c]')
    expect(await page.locator('#status .sc[data-c]').count()).toBe(31)
    expect(await page.locator('#status .sc.s-S[data-c]').count()).toBe(3)
    expect(await page.locator('main').innerText()).toContain('params')

    await dragAcross(page, 9, 15)
    expect(await page.getByLabel('From').inputValue()).toBe('2024-01-10')
    expect(await page.getByLabel('To').inputValue()).toBe('2024-01-16')
    await eventually(async () => expect(await page.locator('#preview').innerText()).toBe('7 runs · 7 task instances'))
    await eventually(async () => expect(await page.getByRole('button', {name: 'Launch'}).isEnabled()).toBe(true))

    // Dates that ran already: nothing to launch, and Launch says so by being disabled.
    await page.getByLabel('From').fill('2024-01-01')
    await page.getByLabel('To').fill('2024-01-03')
    await eventually(async () => expect(await page.locator('#preview').innerText()).toBe('0 runs · 0 task instances'))
    await eventually(async () => expect(await page.getByRole('button', {name: 'Launch'}).isDisabled()).toBe(true))
    await page.getByLabel('To').fill('2024-01-2')
    await eventually(async () => expect(await page.locator('#preview').innerText()).toContain('Expected To to be a date like 2024-01-31'))
    await eventually(async () => expect(await page.getByRole('button', {name: 'Launch'}).isDisabled()).toBe(true))

    await page.getByLabel('From').fill('2024-01-10')
    await page.getByLabel('To').fill('2024-01-16')
    await page.getByLabel('Conf (a JSON object)').fill('{"region": "us"}')
    await eventually(async () => expect(await page.locator('#preview').innerText()).toBe('7 runs · 7 task instances'))
    await page.getByRole('button', {name: 'Launch'}).click()
    await page.waitForURL(/\/backfills\/2$/)
    // Queued, and nothing runs it yet: the page says what will.
    await eventually(async () => expect(await page.locator('#state').innerText()).toBe('queued'))
    await eventually(async () => expect(await page.locator('#waiting-note').innerText()).toContain('waits for updraft scheduler'))
    expect(json(root, 'backfills', 'show', '2')).toMatchObject({request: {conf: {region: 'us'}}, state: 'queued'})
    // The request reads as the command that asks for the same thing, not as parsed date objects.
    expect(await page.locator('details.request').textContent()).toContain(`As a commandupdraft dags backfill january -s 2024-01-10 -e 2024-01-16 --rerun-failed-tasks --max-active-runs 16 --batch-size 1 -c '{"region":"us"}'`)

    const launchedAt = Date.now()
    const scheduler = startCli(['scheduler'], {cwd: root})
    pids.push(scheduler.child.pid as number)
    await page.waitForFunction(() => document.querySelectorAll('#grid .c[data-state="success"]').length > 0, undefined, {timeout: 30_000})
    const firstGreenMs = Date.now() - launchedAt
    await page.waitForFunction(() => document.querySelectorAll('#grid .c[data-state="success"]').length === 7, undefined, {timeout: 30_000})
    await eventually(async () => expect(await page.locator('#state').innerText()).toBe('success'))
    await eventually(async () => expect(await page.locator('#waiting-note').isHidden()).toBe(true))
    process.stdout.write(`scheduler start → first green box: ${firstGreenMs} ms\n`)

    const launched = json(root, 'backfills', 'show', '2')
    expect(launched.runs.map((run: {logical_date: string}) => run.logical_date)).toEqual(Array.from({length: 7}, (_, day) => `2024-01-${String(9 + day).padStart(2, '0')}T23:00:00.000Z`))
    expect(launched.runs.every((run: {state: string}) => run.state === 'success')).toBe(true)
    expect(cli(root, 'tasks', 'logs', 'january', 'load', '2024-01-12').stdout).toContain('loading 2024-01-12 us')

    // The front page lists creation times in one zone, UTC, whatever each DAG's zone (this one is Berlin's).
    await page.goto(`${server.url}/`)
    expect(await page.locator('#backfills tr', {hasText: 'Backfill 2'}).innerText()).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2} \+00:00/)
    // The DAG page's bar follows: ten green boxes now.
    await page.goto(`${server.url}/dags/january`)
    await eventually(async () => expect(await page.locator('#status .sc.s-S[data-c]').count()).toBe(10))
    scheduler.child.kill('SIGTERM')
    expect((await scheduler.done).code).toBe(0)
    expect(errors).toEqual([])
  }, 90_000)

  it('puts the keys of a selection in Partitions and previews a list of Dates', async () => {
    const root = tmpProject({'dags/regional.mjs': regional})
    const server = await serve(root)
    const page = await signedIn(server, '/dags/regional')
    await page.waitForSelector('#status .sc[data-c]')
    expect(await page.locator('#status .sc[data-c]').count()).toBe(48 * 3)
    // From the us box of 05:00 to the apac box of 07:00: three hours × two keys.
    const first = await page.locator('#status .sc[data-c="5"][data-k="1"]').boundingBox()
    const last = await page.locator('#status .sc[data-c="7"][data-k="2"]').boundingBox()
    if (!first || !last) throw new Error('status bar boxes not drawn')
    await page.mouse.click(first.x + 3, first.y + 3)
    await page.keyboard.down('Shift')
    await page.mouse.click(last.x + 3, last.y + 3)
    await page.keyboard.up('Shift')
    expect(await page.getByLabel('From').inputValue()).toBe('2024-03-01T05:00+09:00')
    expect(await page.getByLabel('To').inputValue()).toBe('2024-03-01T07:00+09:00')
    expect(await page.getByLabel('Partitions').inputValue()).toBe('us,apac')
    await eventually(async () => expect(await page.locator('#preview').innerText()).toBe('6 runs · 6 task instances'))

    await page.getByLabel('From').fill('')
    await page.getByLabel('To').fill('')
    await page.getByLabel('Dates').fill('2024-03-01T09:00, 2024-03-02T09:00')
    await page.getByLabel('Partitions').fill('eu')
    await eventually(async () => expect(await page.locator('#preview').innerText()).toBe('2 runs · 2 task instances'))
    await page.getByLabel('Dates').fill('2024-03-01T09:30')
    await eventually(async () => expect(await page.locator('#preview').innerText()).toContain('Expected each Dates value to be a tick'))
    expect(await page.getByRole('button', {name: 'Launch'}).isDisabled()).toBe(true)
  }, 60_000)

  it('pauses, resumes and cancels a running backfill from its page', async () => {
    const root = tmpProject({'dags/gated.mjs': gatedDaily})
    const backfill = startCli(['dags', 'backfill', 'gated', '-s', '2024-01-01', '-e', '2024-01-04'], {cwd: root})
    pids.push(backfill.child.pid as number)
    await waitFor(() => Object.values(readState(root).dags.gated?.runs ?? {}).some((run) => run.task_instances.wait?.state === 'running'))
    const server = await serve(root)
    const page = await signedIn(server, '/backfills/1')
    await eventually(async () => expect(await page.locator('#state').innerText()).toBe('running'))
    await eventually(async () => expect(await page.getByRole('button', {name: 'Resume'}).isHidden()).toBe(true))

    await page.getByRole('button', {name: 'Pause'}).click()
    await eventually(async () => expect(await page.locator('#state').innerText()).toBe('paused'), 15_000)
    // Paused: the running try finishes, and no new date starts.
    writeFileSync(join(root, 'go-2024-01-01'), '')
    writeFileSync(join(root, 'go-2024-01-02'), '')
    await waitFor(() => tiStates(root, 'gated')['2024-01-01']?.wait === 'success')
    await new Promise((resolve) => {
      setTimeout(resolve, 1500)
    })
    expect(tiStates(root, 'gated')['2024-01-02']).toBeUndefined()
    await eventually(async () => expect(await page.getByRole('button', {name: 'Pause'}).isHidden()).toBe(true))

    await page.getByRole('button', {name: 'Resume'}).click()
    await eventually(async () => expect(await page.locator('#state').innerText()).toBe('running'), 15_000)
    await waitFor(() => tiStates(root, 'gated')['2024-01-02']?.wait === 'success')

    await page.getByRole('button', {name: 'Cancel'}).click()
    await eventually(async () => expect(await page.locator('#state').innerText()).toBe('cancelled'), 30_000)
    expect((await backfill.done).code).not.toBe(0)
    expect(json(root, 'backfills', 'show', '1').state).toBe('cancelled')
    await eventually(async () => expect(await page.getByRole('button', {name: 'Cancel'}).isHidden()).toBe(true))
  }, 90_000)

  it('changes nothing for a POST without a session, with a wrong CSRF token or from another origin, nor for any GET', async () => {
    const root = tmpProject({'dags/january.mjs': january})
    expect(cli(root, 'backfills', 'create', 'january', '-s', '2024-01-05', '-e', '2024-01-06').code).toBe(0)
    const server = await serve(root)
    const state = join(root, '.updraft')
    const before = folderSnapshot(state)

    // Without a session the pages are read-only: no form, no buttons; POSTs answer 401.
    const anonymous = await (await chromium().newContext()).newPage()
    await anonymous.goto(`${server.url}/dags/january`)
    await eventually(async () => expect(await anonymous.getByRole('button', {name: 'Launch'}).count()).toBe(0))
    expect(await anonymous.locator('main').innerText()).toContain('Sign in to launch')
    await anonymous.goto(`${server.url}/backfills/1`)
    await eventually(async () => expect(await anonymous.getByRole('button', {name: 'Cancel'}).count()).toBe(0))
    const launchForm = {from: '2024-01-10', missing_and_failed_only: 'on', to: '2024-01-12'}
    const origin = {origin: server.url}
    const noSession = await anonymous.request.post(`${server.url}/dags/january/backfills`, {form: launchForm, headers: origin})
    expect(noSession.status()).toBe(401)
    expect(await noSession.text()).toContain('NOT_SIGNED_IN')
    expect((await anonymous.request.post(`${server.url}/backfills/1/cancel`, {headers: {...origin, accept: 'application/json'}})).status()).toBe(401)

    // The printed token signs one browser in; after that it is used up.
    const page = await signedIn(server, '/dags/january')
    const again = await anonymous.goto(server.signInUrl)
    expect(again?.status()).toBe(401)
    const csrf = await page.locator('#launch-form input[name=csrf]').inputValue()
    const post = (path: string, form: Record<string, string>, headers: Record<string, string>) => page.request.post(`${server.url}${path}`, {form, headers: {accept: 'application/json', ...headers}})

    const wrongCsrf = await post('/dags/january/backfills', {...launchForm, csrf: 'not-the-token'}, origin)
    expect(wrongCsrf.status()).toBe(403)
    expect((await wrongCsrf.json()).error.code).toBe('CSRF_MISMATCH')
    const noCsrf = await post('/backfills/1/cancel', {}, origin)
    expect(noCsrf.status()).toBe(403)
    const crossOrigin = await post('/backfills/1/cancel', {csrf}, {origin: 'http://evil.example'})
    expect(crossOrigin.status()).toBe(403)
    expect((await crossOrigin.json()).error.code).toBe('CROSS_ORIGIN')

    // A GET of every route, signed in, with every query the pages use.
    const paths = [
      '/',
      '/dags/january',
      '/api/dags/january',
      '/api/dags/january/preview?from=2024-01-10&to=2024-01-12&missing_and_failed_only=on',
      '/backfills/1',
      '/api/backfills',
      '/api/backfills/1',
      '/api/backfills/1/task-instance?run=x&task=load',
      '/backfills/1/logs?run=x&task=load',
      '/backfills/1/cancel',
      '/dags/january/backfills',
      '/assets/dag.js',
    ]
    for (const path of paths) await page.request.get(`${server.url}${path}`)
    expect(folderSnapshot(state)).toEqual(before)
    expect(json(root, 'backfills', 'show', '1').state).toBe('queued')

    // The same POST with the session, its token and this origin does change things.
    const cancelled = await post('/backfills/1/cancel', {csrf}, origin)
    expect(cancelled.status()).toBe(200)
    expect(json(root, 'backfills', 'show', '1').state).toBe('cancelled')
    const launched = await post('/dags/january/backfills', {...launchForm, csrf}, origin)
    expect(await launched.json()).toMatchObject({location: '/backfills/2'})
    const bad = await post('/dags/january/backfills', {csrf, from: '2024-01-12', to: '2024-01-10'}, origin)
    expect(bad.status()).toBe(400)
    expect((await bad.json()).error).toEqual({code: 'DATE_RANGE_INVERTED', message: 'Expected From to be on or before To, got 2024-01-12 after 2024-01-10.'})
    expect((await post('/dags/january/backfills', {...launchForm, conf: 'x'.repeat(70_000), csrf}, origin)).status()).toBe(400)
    expect(json(root, 'backfills', 'list').map((record: {id: number}) => record.id)).toEqual([2, 1])
  }, 60_000)

  it('signs in with a fixed --token any number of times, and a --read-only server with none', async () => {
    const root = tmpProject({'dags/january.mjs': january})
    const token = 'a-fixed-token-for-the-team'
    const fixed = await serve(root, ['--token', token])
    expect(fixed.output().stdout).not.toContain(token)
    for (let browserIndex = 0; browserIndex < 2; browserIndex++) {
      const page = await (await chromium().newContext()).newPage()
      await page.goto(`${fixed.url}/dags/january?token=${token}`)
      await eventually(async () => expect(await page.getByRole('button', {name: 'Launch'}).count()).toBe(1))
    }

    const wrong = await (await chromium().newContext()).newPage()
    expect((await wrong.goto(`${fixed.url}/?token=${token}x`))?.status()).toBe(401)
    fixed.child.kill('SIGTERM')
    await fixed.done
    expect(cli(root, 'webserver', '--token', 'short').stderr).toContain('Expected --token (or UPDRAFT_WEBSERVER_TOKEN) of at least 16 characters, got 5')

    const readOnly = await serve(root, ['--read-only'])
    const page = await (await chromium().newContext()).newPage()
    expect((await page.goto(`${readOnly.url}/?token=anything`))?.status()).toBe(401)
    expect((await page.request.post(`${readOnly.url}/dags/january/backfills`, {form: {from: '2024-01-01'}, headers: {origin: readOnly.url}})).status()).toBe(405)
    readOnly.child.kill('SIGTERM')
    await readOnly.done
  }, 60_000)
})
