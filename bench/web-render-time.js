#!/usr/bin/env node
// Times a page of boxes in Debian's chromium: `updraft webserver` on a state file, and a page that marks when its
// boxes were painted: a backfill's grid (`/backfills/1`, boxes `#grid .c`) or a DAG's status bar (`/dags/ID`,
// boxes `#status .sc[data-c]`). Usage: web-render-time.js DB DAGS_FOLDER [PATH BOXES]. Prints, as medians of 5
// loads after one warm-up, the server's answer (the state file already read) and the browser's part: from the
// page's first byte to the frame after the boxes are in the document.
import {execFileSync, spawn} from 'node:child_process'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const [db, dags, path = '/backfills/1', boxSelector = '#grid .c'] = process.argv.slice(2)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const {chromium} = createRequire(import.meta.url)('playwright-core')
const server = spawn('node', [join(root, 'bin', 'run.js'), 'webserver', '--port', '0', '--db', db, '--dags-folder', dags], {stdio: ['ignore', 'pipe', 'inherit']})
const url = await new Promise((resolve) => {
  let output = ''
  server.stdout.on('data', (chunk) => {
    output += chunk
    const found = /Serving (http:\/\/\S+)/.exec(output)
    if (found) resolve(found[1])
  })
})
const browser = await chromium.launch({args: ['--no-sandbox'], executablePath: execFileSync('sh', ['-c', 'command -v chromium'], {encoding: 'utf8'}).trim()})
const answers = []
const renders = []
let boxes = 0
for (let load = 0; load < 6; load++) {
  const page = await browser.newPage({viewport: {height: 900, width: 1280}})
  await page.goto(`${url}${path}`, {waitUntil: 'commit'})
  await page.waitForFunction(() => document.body?.dataset.gridPaintedAt !== undefined, undefined, {timeout: 60_000})
  const timing = await page.evaluate((selector) => {
    const navigation = performance.getEntriesByType('navigation')[0]
    return {answerMs: navigation.responseStart - navigation.requestStart, boxes: document.querySelectorAll(selector).length, renderMs: Number(document.body.dataset.gridPaintedAt) - navigation.responseStart}
  }, boxSelector)
  if (load > 0) {
    answers.push(timing.answerMs)
    renders.push(timing.renderMs)
  }

  boxes = timing.boxes
  await page.close()
}

await browser.close()
server.kill('SIGTERM')
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
console.log(JSON.stringify({answer_ms: Math.round(median(answers)), boxes, render_ms: Math.round(median(renders))}))
