// The console's page: plain ES modules, no build step. Every call goes to the console's own /api,
// which signs it and sends it on to the counter service; this page never holds a credential.
import { drawChart } from './chart.js';

const $ = (id) => document.getElementById(id);

/** A refusal, as the service (or the console) described it in problem details. */
class Problem extends Error {
  constructor(status, body) {
    const detail = body?.detail ?? body?.message ?? 'No detail given.';
    super(detail);
    this.status = status;
    this.title = body?.title ?? `Error ${status}`;
    this.detail = detail;
    this.type = body?.type ?? 'about:blank';
  }
}

/** The `rel="next"` target of a Link header, a path under /api. */
function nextOf(link) {
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link ?? '');
  return match?.[1];
}

async function call(method, url, { body, headers = {} } = {}) {
  const response = await fetch(url, {
    method,
    headers: {
      accept: 'application/json, application/problem+json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!response.ok) throw new Problem(response.status, json ?? { detail: text.slice(0, 300) });
  return { json, next: nextOf(response.headers.get('link')) };
}

const counterUrl = (name) => `/api/counters/${encodeURIComponent(name)}`;

// ---- messages ----------------------------------------------------------------------------------

function showProblem(error) {
  if (!(error instanceof Problem)) {
    error = new Problem(0, {
      title: 'The console could not be reached',
      detail: String(error?.message ?? error),
    });
  }
  $('problem-title').textContent = error.status === 0 ? error.title : `${error.status} ${error.title}`;
  $('problem-detail').textContent = error.detail;
  $('problem-type').textContent = error.type;
  $('problem').hidden = false;
  say('');
}

function clearProblem() {
  $('problem').hidden = true;
}

function say(text) {
  $('status').textContent = text;
}

/** Runs an action, showing its refusal as the API's problem rather than failing silently. */
async function attempt(action) {
  try {
    await action();
    return true;
  } catch (error) {
    showProblem(error);
    return false;
  }
}

// ---- the list ----------------------------------------------------------------------------------

const list = { pages: [], index: 0, next: undefined };

function listFirstUrl() {
  const query = new URLSearchParams({ limit: $('list-size').value });
  const prefix = $('prefix').value.trim();
  if (prefix !== '') query.set('prefix', prefix);
  return `/api/counters?${query}`;
}

async function loadListPage(url, index) {
  const { json, next } = await call('GET', url);
  list.pages[index] = url;
  list.pages.length = index + 1;
  list.index = index;
  list.next = next;
  const body = $('counters').tBodies[0];
  body.replaceChildren(
    ...json.map((counter) => {
      const row = document.createElement('tr');
      row.dataset.name = counter.name;
      const name = document.createElement('th');
      name.scope = 'row';
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'link';
      open.textContent = counter.name;
      open.addEventListener('click', () => attempt(() => selectCounter(counter.name)));
      name.append(open);
      const value = document.createElement('td');
      value.className = 'num';
      value.textContent = String(counter.value);
      row.append(name, value);
      if (counter.name === selected.name) row.setAttribute('aria-current', 'true');
      return row;
    }),
  );
  $('list-empty').hidden = json.length !== 0;
  $('list-page').textContent = `Page ${index + 1}`;
  $('list-prev').disabled = index === 0;
  $('list-next').disabled = next === undefined;
}

function updateListRow(counter) {
  for (const row of $('counters').tBodies[0].rows) {
    if (row.dataset.name === counter.name) row.cells[1].textContent = String(counter.value);
  }
}

// ---- one counter -------------------------------------------------------------------------------

const selected = { name: undefined, counter: undefined, chart: undefined };
const history = { pages: [], index: 0, next: undefined };
let refreshTimers = [];

async function selectCounter(name) {
  clearProblem();
  selected.name = name;
  for (const row of $('counters').tBodies[0].rows) {
    if (row.dataset.name === name) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  }
  const { json } = await call('GET', counterUrl(name));
  showCounter(json);
  $('nothing-selected').hidden = true;
  $('counter-view').hidden = false;
  await Promise.all([loadHistoryPage(historyFirstUrl(), 0), loadSeries()]);
  $('detail').focus();
}

function showCounter(counter) {
  selected.counter = counter;
  $('counter-name').textContent = counter.name;
  $('counter-value').textContent = String(counter.value);
  $('counter-version').textContent = String(counter.version);
  const bound = (key) => {
    const present = counter[key] !== undefined && counter[key] !== null;
    $(`counter-${key}-row`).hidden = !present;
    $(`counter-${key}`).textContent = present ? String(counter[key]) : '';
  };
  bound('min');
  bound('max');
  $('counter-created').textContent = counter.created_at ?? '—';
  $('counter-updated').textContent = counter.updated_at ?? '—';
  $('set-value').placeholder = String(counter.value);
  updateListRow(counter);
}

function historyFirstUrl() {
  return `${counterUrl(selected.name)}/history?limit=${$('history-size').value}`;
}

async function loadHistoryPage(url, index) {
  const { json, next } = await call('GET', url);
  history.pages[index] = url;
  history.pages.length = index + 1;
  history.index = index;
  history.next = next;
  $('history').tBodies[0].replaceChildren(
    ...json.map((entry) => {
      const row = document.createElement('tr');
      const delta = entry.delta > 0 ? `+${entry.delta}` : String(entry.delta);
      for (const [text, numeric] of [
        [String(entry.version), true],
        [entry.op, false],
        [delta, true],
        [String(entry.value), true],
        [entry.created_at, false],
        [entry.actor, false],
      ]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        if (numeric) cell.className = 'num';
        row.append(cell);
      }
      return row;
    }),
  );
  $('history-empty').hidden = json.length !== 0 || index !== 0;
  $('history-page').textContent = `Page ${index + 1}`;
  $('history-first').disabled = index === 0;
  $('history-prev').disabled = index === 0;
  $('history-next').disabled = next === undefined;
}

/** Up to this many pages of 1440 buckets are drawn; the summary says when there were more. */
const MAX_SERIES_PAGES = 5;

async function loadSeries() {
  const interval = $('series-interval').value;
  const query = new URLSearchParams({ interval, limit: '1440' });
  const since = $('series-since').value.trim();
  const until = $('series-until').value.trim();
  if (since !== '') query.set('since', since);
  if (until !== '') query.set('until', until);
  const buckets = [];
  let url = `${counterUrl(selected.name)}/series?${query}`;
  let pages = 0;
  while (url !== undefined && pages < MAX_SERIES_PAGES) {
    const { json, next } = await call('GET', url);
    buckets.push(...json);
    url = next;
    pages++;
  }
  selected.buckets = buckets;
  selected.interval = interval;
  selected.truncated = url !== undefined;
  renderSeries();
}

function renderSeries() {
  const buckets = selected.buckets ?? [];
  selected.chart = drawChart($('chart'), buckets, selected.interval, selected.chart);
  const summary = $('chart-summary');
  if (buckets.length === 0) {
    summary.textContent = 'No changes in this window.';
  } else {
    const changes = buckets.reduce((sum, bucket) => sum + bucket.count, 0);
    const first = buckets[0];
    const last = buckets.at(-1);
    summary.textContent =
      `${buckets.length} ${selected.interval} ${buckets.length === 1 ? 'bucket' : 'buckets'} ` +
      `with ${changes} ${changes === 1 ? 'change' : 'changes'}, from ${first.start} to ${last.start}; ` +
      `value ${first.value} after the first, ${last.value} after the last.` +
      (selected.truncated ? ' Only the first buckets are drawn: narrow the window to see the rest.' : '');
  }
  $('buckets').tBodies[0].replaceChildren(
    ...buckets.map((bucket) => {
      const row = document.createElement('tr');
      for (const [text, numeric] of [
        [bucket.start, false],
        [String(bucket.count), true],
        [bucket.delta > 0 ? `+${bucket.delta}` : String(bucket.delta), true],
        [String(bucket.value), true],
      ]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        if (numeric) cell.className = 'num';
        row.append(cell);
      }
      return row;
    }),
  );
}

/** History and series follow the change by a moment (they come from the table's stream): look again. */
function refreshSoon() {
  for (const timer of refreshTimers) clearTimeout(timer);
  const name = selected.name;
  refreshTimers = [1500, 5000].map((ms) =>
    setTimeout(() => {
      if (selected.name !== name) return;
      loadHistoryPage(history.pages[history.index] ?? historyFirstUrl(), history.index).catch(showProblem);
      loadSeries().catch(showProblem);
    }, ms),
  );
}

// ---- changes -----------------------------------------------------------------------------------

/** A whole number as the user typed it, or undefined; anything else is sent for the API to judge. */
function numberFrom(text) {
  const trimmed = text.trim();
  if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(trimmed)) return undefined;
  return Number(trimmed);
}

function ifMatch() {
  return $('if-match').checked && selected.counter !== undefined
    ? { 'if-match': `"${selected.counter.version}"` }
    : {};
}

async function change(method, body, headers, done) {
  clearProblem();
  const name = selected.name;
  const { json } = await call(method, counterUrl(name), {
    body,
    headers: { 'idempotency-key': `console:${crypto.randomUUID()}`, ...headers },
  });
  if (json !== undefined) showCounter(json);
  say(done(json));
  refreshSoon();
}

$('increment').addEventListener('submit', (event) => {
  event.preventDefault();
  const by = numberFrom($('increment-by').value);
  if (by === undefined)
    return showProblem(
      new Problem(400, { title: 'Not a number', detail: 'Add takes a whole number, such as 5 or -2.' }),
    );
  attempt(() => change('POST', { by }, {}, (counter) => `${counter.name} is now ${counter.value}.`));
});

$('set').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = numberFrom($('set-value').value);
  if (value === undefined)
    return showProblem(new Problem(400, { title: 'Not a number', detail: 'Set takes a whole number.' }));
  attempt(() => change('PUT', { value }, ifMatch(), (counter) => `${counter.name} is now ${counter.value}.`));
});

$('delete').addEventListener('click', () => {
  $('confirm-name').textContent = selected.name;
  $('confirm-delete').showModal();
});

$('confirm-delete').addEventListener('close', () => {
  if ($('confirm-delete').returnValue !== 'delete') return;
  const name = selected.name;
  attempt(async () => {
    await change('DELETE', undefined, ifMatch(), () => `${name} was deleted.`);
    for (const timer of refreshTimers) clearTimeout(timer);
    selected.name = undefined;
    selected.counter = undefined;
    $('counter-view').hidden = true;
    $('nothing-selected').hidden = false;
    await loadListPage(list.pages[list.index] ?? listFirstUrl(), list.index);
    $('prefix').focus();
  });
});

$('problem-dismiss').addEventListener('click', clearProblem);

$('refresh').addEventListener('click', () =>
  attempt(async () => {
    clearProblem();
    const { json } = await call('GET', counterUrl(selected.name));
    showCounter(json);
    await Promise.all([loadHistoryPage(history.pages[history.index], history.index), loadSeries()]);
  }),
);

$('create').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $('create-name').value.trim();
  const value = numberFrom($('create-value').value);
  if (value === undefined)
    return showProblem(
      new Problem(400, { title: 'Not a number', detail: 'The starting value must be a whole number.' }),
    );
  attempt(async () => {
    clearProblem();
    // If-Match "0": create only; a counter of that name that exists is refused (412), not overwritten.
    await call('PUT', counterUrl(name), {
      body: { value },
      headers: { 'if-match': '"0"', 'idempotency-key': `console:${crypto.randomUUID()}` },
    });
    say(`${name} was created.`);
    $('create-name').value = '';
    await loadListPage(listFirstUrl(), 0);
    await selectCounter(name);
  });
});

// ---- navigation --------------------------------------------------------------------------------

$('search').addEventListener('submit', (event) => {
  event.preventDefault();
  clearProblem();
  attempt(() => loadListPage(listFirstUrl(), 0));
});
$('list-size').addEventListener('change', () => attempt(() => loadListPage(listFirstUrl(), 0)));
$('list-next').addEventListener('click', () => attempt(() => loadListPage(list.next, list.index + 1)));
$('list-prev').addEventListener('click', () =>
  attempt(() => loadListPage(list.pages[list.index - 1], list.index - 1)),
);

$('history-size').addEventListener('change', () => attempt(() => loadHistoryPage(historyFirstUrl(), 0)));
$('history-next').addEventListener('click', () =>
  attempt(() => loadHistoryPage(history.next, history.index + 1)),
);
$('history-prev').addEventListener('click', () =>
  attempt(() => loadHistoryPage(history.pages[history.index - 1], history.index - 1)),
);
$('history-first').addEventListener('click', () => attempt(() => loadHistoryPage(history.pages[0], 0)));

$('series-window').addEventListener('change', () => {
  const seconds = $('series-window').value;
  if (seconds === 'custom') return $('series-since').focus();
  $('series-since').value = seconds === '' ? '' : new Date(Date.now() - Number(seconds) * 1000).toISOString();
  $('series-until').value = '';
});
$('series-form').addEventListener('submit', (event) => {
  event.preventDefault();
  clearProblem();
  attempt(loadSeries);
});

// "/" goes to the search box, as on many sites, unless the user is typing somewhere.
document.addEventListener('keydown', (event) => {
  const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
  if (event.key === '/' && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    $('prefix').focus();
  }
});

// The chart is drawn with the theme's colours and the page's width: draw it again when either changes.
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  if (selected.buckets !== undefined) renderSeries();
});
let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (selected.buckets !== undefined && !$('counter-view').hidden) renderSeries();
  }, 200);
});

attempt(async () => {
  const { json } = await call('GET', '/api/config');
  $('api-url').textContent = json.api;
  await loadListPage(listFirstUrl(), 0);
});
