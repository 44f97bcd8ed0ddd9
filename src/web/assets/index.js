// The front page follows the state file by itself: every few seconds, while the tab is visible, it asks the
// server for the page again and swaps in the sections that changed (a backfill's state and progress, a DAG's
// last run), keeping keyboard focus on the link it was on. A page is small; this needs no stream.
const SECTIONS = ['dags-section', 'backfills-section']
const REFRESH_MS = 3000

async function refresh() {
  if (document.hidden) return
  const response = await fetch('/', {cache: 'no-store'})
  if (!response.ok) return
  const fresh = new DOMParser().parseFromString(await response.text(), 'text/html')
  for (const id of SECTIONS) {
    const current = document.getElementById(id)
    const next = fresh.getElementById(id)
    if (!current || !next || current.innerHTML === next.innerHTML) continue
    const focusedHref = current.contains(document.activeElement) ? document.activeElement.getAttribute('href') : null
    current.innerHTML = next.innerHTML
    if (focusedHref) current.querySelector(`a[href="${CSS.escape(focusedHref)}"]`)?.focus()
  }
}

setInterval(() => {
  refresh().catch(() => {
    // The server is restarting or gone: the page keeps what it shows and tries again.
  })
}, REFRESH_MS)
