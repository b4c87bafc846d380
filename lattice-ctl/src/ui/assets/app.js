// The Lattice dashboard: one model of the lattice, fed by the server's
// event stream (/api/events), drawn section by section.
//
// - The server sends the parts of its view (hosts, links, apps, meta) when
//   they change, and every lattice event. Events are applied to the model
//   at once (an actor that starts shows before its host is asked again);
//   the parts replace the model when they come.
// - Nothing is drawn per event: a change marks its sections dirty, and
//   dirty sections are drawn on the next animation frame, each at most
//   every MIN_GAP ms, so a burst of a thousand link events costs a few
//   draws. Host cards are keyed: only cards whose host changed are redrawn.
// - Actions exist only when the server allows them (--allow-actions); each
//   asks for confirmation in a <dialog> and carries the page's token.
// - HTML is only ever built with the `html` tag and written with `render`
//   or `prepend`, which escape every value by construction.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const meta = (name) => {
    const element = document.querySelector(`meta[name="${name}"]`);
    return element ? element.content : '';
  };
  const TOKEN = meta('lattice-token');
  const ACTIONS = meta('lattice-actions') === 'on';
  const MAX_EVENTS = 500;
  const GRAPH_MAX_NODES = 120;
  const GRAPH_MAX_LINKS = 300;
  const READ_ONLY = 'read-only: start lattice-ctl ui with --allow-actions to act';

  const model = {
    hosts: new Map(), // host id -> host view
    links: new Map(), // link key -> link
    apps: [],
    problems: [],
    events: [], // oldest first, at most MAX_EVENTS
    lastSeq: 0,
    missed: 0,
  };

  // ---- text ----------------------------------------------------------

  // html`...` is markup: each value is escaped unless it is markup itself
  // (or an array of values, each taken the same way); null, undefined and
  // false add nothing. render and prepend write nothing else.
  class Markup {
    constructor(text) { this.text = text; Object.freeze(this); }
    toString() { return this.text; }
  }
  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const piece = (value) => {
    if (value instanceof Markup) return value.text;
    if (Array.isArray(value)) return value.map(piece).join('');
    if (value === null || value === undefined || value === false) return '';
    return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  };
  const html = (strings, ...values) => {
    if (!Array.isArray(strings) || !Array.isArray(strings.raw)) throw new TypeError('html is a template tag: html`...`');
    let text = strings[0];
    values.forEach((value, index) => { text += piece(value) + strings[index + 1]; });
    return new Markup(text);
  };
  const markupOnly = (markup) => {
    if (!(markup instanceof Markup)) throw new TypeError('only markup built with html`...` is written as HTML');
    return markup.text;
  };
  const render = (element, markup) => { element.innerHTML = markupOnly(markup); };
  const prepend = (element, markup) => { element.insertAdjacentHTML('afterbegin', markupOnly(markup)); };
  const short = (id) => (id && id.length > 12 ? `${id.slice(0, 6)}…${id.slice(-4)}` : id || '');
  const hostName = (id) => {
    const host = model.hosts.get(id);
    return (host && host.labels && host.labels.hostname) || short(id);
  };
  const rate = (value) => {
    const n = Number(value) || 0;
    if (n === 0) return '0';
    return n < 10 ? n.toFixed(2) : n.toFixed(1);
  };
  const duration = (seconds) => {
    let s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  };
  const uptime = (host) => {
    const started = Date.parse(host.started_at);
    return Number.isFinite(started) ? duration((Date.now() - started) / 1000) : duration(host.uptime_seconds);
  };
  const linkKey = (l) => `${l.source}|${l.namespace}:${l.package}|${l.name}`;
  const contract = (l) => `${l.namespace}:${l.package}/${(l.interfaces || []).join(',')}`;
  const actionButton = (action, label, data, extra = '') => {
    const attrs = Object.entries(data).map(([k, v]) => html` data-${k}="${v}"`);
    const disabled = ACTIONS ? '' : html` disabled title="${READ_ONLY}"`;
    return html`<button type="button" class="action small ${extra}" data-action="${action}"${attrs}${disabled}>${label}</button>`;
  };

  // ---- drawing, coalesced -------------------------------------------

  const MIN_GAP = { summary: 250, hosts: 200, actors: 500, links: 300, apps: 200, events: 100, problems: 250 };
  const DRAW = {};
  const dirty = new Set();
  const drawnAt = {};
  // How long each section took to draw: what a test reads when the page is slow.
  const draws = {};
  window.latticeDraws = draws;
  let scheduled = false;

  function mark(...sections) {
    sections.forEach((s) => dirty.add(s));
    schedule(0);
  }

  function schedule(delay) {
    if (scheduled) return;
    scheduled = true;
    const run = () => { scheduled = false; draw(); };
    if (delay > 0) setTimeout(() => requestAnimationFrame(run), delay);
    else if (document.hidden) setTimeout(run, 250);
    else requestAnimationFrame(run);
  }

  function draw() {
    const now = performance.now();
    let wait = Infinity;
    const focus = focusKey();
    for (const section of [...dirty]) {
      const gap = MIN_GAP[section] - (now - (drawnAt[section] ?? -1e9));
      if (gap > 0) { wait = Math.min(wait, gap); continue; }
      dirty.delete(section);
      drawnAt[section] = now;
      const started = performance.now();
      DRAW[section]();
      const took = performance.now() - started;
      const seen = draws[section] || (draws[section] = { count: 0, worstMs: 0, totalMs: 0 });
      seen.count += 1; seen.totalMs += took; seen.worstMs = Math.max(seen.worstMs, took);
    }
    restoreFocus(focus);
    if (dirty.size) schedule(Number.isFinite(wait) ? wait : 50);
  }

  // A redrawn card replaces its buttons: keep the keyboard's place.
  function focusKey() {
    const active = document.activeElement;
    return active && active.dataset && active.dataset.key ? active.dataset.key : null;
  }
  function restoreFocus(key) {
    if (!key || (document.activeElement && document.activeElement.dataset.key === key)) return;
    const again = document.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }

  // ---- summary and problems ---------------------------------------

  DRAW.summary = () => {
    const hosts = [...model.hosts.values()];
    const ready = hosts.filter((h) => h.state === 'ready').length;
    const actorIds = new Set();
    const providerIds = new Set();
    let calls = 0;
    let errors = 0;
    let instances = 0;
    for (const host of hosts) {
      for (const a of host.actors) {
        actorIds.add(a.id);
        calls += a.rate || 0;
        errors += a.error_rate || 0;
        instances += 1;
      }
      for (const p of host.providers) providerIds.add(p.id);
    }
    const converged = model.apps.filter((a) => a.state === 'converged').length;
    const items = [
      ['Hosts', `${hosts.length}`, `${ready} ready`],
      ['Actors', `${actorIds.size}`, `${instances} placed`],
      ['Providers', `${providerIds.size}`, ''],
      ['Links', `${model.links.size}`, ''],
      ['Apps', `${model.apps.length}`, `${converged} converged`],
      ['Calls/s', rate(calls), `${rate(errors)} errors/s`],
    ];
    render($('#summary'), html`${items
      .map(([term, value, note]) => html`<div><dt>${term}</dt><dd><strong>${value}</strong> <span>${note}</span></dd></div>`)}`);
  };

  DRAW.problems = () => {
    render($('#problems'), html`${model.problems.map((p) => html`<li>${p}</li>`)}`);
  };

  // ---- hosts --------------------------------------------------------

  const groupSelect = $('#group-by');
  let groupBy = localStorage.getItem('lattice.groupBy');
  const groups = new Map(); // group value -> {element, cards}
  const cards = new Map(); // host id -> {element, signature}

  function labelKeys() {
    const keys = new Set();
    for (const host of model.hosts.values()) Object.keys(host.labels || {}).forEach((k) => keys.add(k));
    return [...keys].sort();
  }

  function drawGroupChoices() {
    const keys = labelKeys();
    // No choice made yet: zone when hosts have one (wait for hosts).
    if (groupBy === null && keys.length) groupBy = keys.includes('zone') ? 'zone' : '';
    const chosen = groupBy || '';
    const options = ['', ...keys];
    if (chosen && !options.includes(chosen)) options.push(chosen);
    const wanted = options.join('\n');
    if (groupSelect.dataset.options !== wanted) {
      render(groupSelect, html`${options
        .map((k) => html`<option value="${k}">${k ? k : '(no grouping)'}</option>`)}`);
      groupSelect.dataset.options = wanted;
    }
    groupSelect.value = chosen;
  }

  groupSelect.addEventListener('change', () => {
    groupBy = groupSelect.value;
    localStorage.setItem('lattice.groupBy', groupBy);
    mark('hosts');
  });

  function hostCard(host) {
    const labels = Object.entries(host.labels || {})
      .filter(([k]) => k !== 'hostname')
      .map(([k, v]) => html`<li>${k}=${v}</li>`);
    const actors = host.actors
      .map((a) => {
        const key = `${host.host_id}/${a.id}`;
        const failing = a.error_rate > 0 ? html` class="failing"` : '';
        return html`<tr data-host="${host.host_id}" data-actor="${a.id}"${failing}>
          <th scope="row" title="${a.reference}">${a.id}</th>
          <td>${a.instances_in_use}/${a.max_instances}</td>
          <td>${rate(a.rate)}</td><td>${rate(a.error_rate)}</td>
          <td class="buttons">${actionButton('actor.scale', 'Scale', { host: host.host_id, actor: a.id, max: a.max_instances, key: `scale/${key}` })}${actionButton('actor.stop', 'Stop', { host: host.host_id, actor: a.id, key: `stop/${key}` }, 'danger')}</td>
        </tr>`;
      });
    const providers = host.providers
      .map((p) => html`<tr data-host="${host.host_id}" data-provider="${p.id}">
          <th scope="row">${p.id}</th><td class="ref">${p.reference}</td>
          <td class="buttons">${actionButton('provider.stop', 'Stop', { host: host.host_id, provider: p.id, key: `stopp/${host.host_id}/${p.id}` }, 'danger')}</td>
        </tr>`);
    const routes = Object.entries(host.routing || {})
      .map(([target, c]) => html`<tr data-target="${target}"><th scope="row">${target}</th><td>${c.local}</td><td>${c.remote}</td></tr>`);
    const name = (host.labels && host.labels.hostname) || short(host.host_id);
    return html`<header>
        <h4>${name}</h4>
        <span class="badge ${host.state}">${host.state}</span>
      </header>
      <p class="meta"><code title="${host.host_id}">${short(host.host_id)}</code> · v${host.version} · up ${uptime(host)}</p>
      <ul class="labels" aria-label="labels">${labels}</ul>
      ${host.actors.length ? html`<table class="mini"><caption>Actors (${host.actors.length})</caption>
        <thead><tr><th scope="col">actor</th><th scope="col" title="instances in use / most">inst.</th><th scope="col">calls/s</th><th scope="col">err/s</th><th scope="col"><span class="visually-hidden">actions</span></th></tr></thead>
        <tbody>${actors}</tbody></table>` : html`<p class="empty">no actors</p>`}
      ${host.providers.length ? html`<table class="mini"><caption>Providers (${host.providers.length})</caption>
        <thead><tr><th scope="col">provider</th><th scope="col">runs</th><th scope="col"><span class="visually-hidden">actions</span></th></tr></thead>
        <tbody>${providers}</tbody></table>` : ''}
      ${routes.length ? html`<table class="mini routing"><caption>Calls routed, by target</caption>
        <thead><tr><th scope="col">target</th><th scope="col">local</th><th scope="col">remote</th></tr></thead>
        <tbody>${routes}</tbody></table>` : ''}`;
  }

  DRAW.hosts = () => {
    drawGroupChoices();
    const container = $('#host-groups');
    const sorted = [...model.hosts.values()].sort((a, b) =>
      (a.labels.hostname || a.host_id).localeCompare(b.labels.hostname || b.host_id) || a.host_id.localeCompare(b.host_id));
    const byGroup = new Map();
    for (const host of sorted) {
      const value = groupBy ? (host.labels[groupBy] ?? '') : '';
      if (!byGroup.has(value)) byGroup.set(value, []);
      byGroup.get(value).push(host);
    }
    const values = [...byGroup.keys()].sort((a, b) => (a === '') - (b === '') || a.localeCompare(b));
    let previous = null;
    for (const value of values) {
      const hosts = byGroup.get(value);
      let group = groups.get(value);
      if (!group) {
        const element = document.createElement('section');
        element.className = 'group';
        render(element, html`<h3></h3><div class="cards"></div>`);
        group = { element, cards: element.querySelector('.cards'), title: element.querySelector('h3') };
        groups.set(value, group);
      }
      const ready = hosts.filter((h) => h.state === 'ready').length;
      const title = groupBy ? (value === '' ? `no ${groupBy} label` : `${groupBy}=${value}`) : 'All hosts';
      group.title.textContent = `${title} · ${hosts.length} host${hosts.length === 1 ? '' : 's'}, ${ready} ready`;
      const after = previous ? previous.nextSibling : container.firstChild;
      if (group.element !== after) container.insertBefore(group.element, after);
      previous = group.element;
      let previousCard = null;
      for (const host of hosts) {
        let card = cards.get(host.host_id);
        if (!card) {
          const element = document.createElement('article');
          element.dataset.hostId = host.host_id;
          card = { element, signature: '' };
          cards.set(host.host_id, card);
        }
        const signature = JSON.stringify(host);
        if (card.signature !== signature) {
          card.element.className = `host ${host.state}`;
          render(card.element, hostCard(host));
          card.signature = signature;
        }
        const next = previousCard ? previousCard.nextSibling : group.cards.firstChild;
        if (card.element !== next) group.cards.insertBefore(card.element, next);
        previousCard = card.element;
      }
    }
    for (const [value, group] of groups) {
      if (!byGroup.has(value)) { group.element.remove(); groups.delete(value); }
    }
    for (const [id, card] of cards) {
      if (!model.hosts.has(id)) { card.element.remove(); cards.delete(id); }
    }
    if (!model.hosts.size) render(container, html`<p class="empty">No host answers yet.</p>`);
    else container.querySelectorAll(':scope > p.empty').forEach((p) => p.remove());
  };

  // ---- actors, summed over hosts -----------------------------------

  DRAW.actors = () => {
    const byId = new Map();
    for (const host of model.hosts.values()) {
      for (const a of host.actors) {
        const sum = byId.get(a.id) || { id: a.id, hosts: 0, inUse: 0, max: 0, rate: 0, errors: 0, calls: 0, failed: 0 };
        sum.hosts += 1; sum.inUse += a.instances_in_use || 0; sum.max += a.max_instances || 0;
        sum.rate += a.rate || 0; sum.errors += a.error_rate || 0;
        sum.calls += a.calls || 0; sum.failed += a.failed || 0;
        byId.set(a.id, sum);
      }
    }
    const rows = [...byId.values()].sort((a, b) => b.rate - a.rate || a.id.localeCompare(b.id));
    const top = Math.max(1e-9, ...rows.map((r) => r.rate));
    render($('#actor-table tbody'), rows.length
      ? html`${rows.map((r) => html`<tr data-actor-summary="${r.id}"${r.errors > 0 ? html` class="failing"` : ''}>
          <th scope="row">${r.id}</th><td>${r.hosts}</td><td>${r.inUse}/${r.max}</td>
          <td><svg class="bar" width="60" height="8" aria-hidden="true"><rect width="${Math.round((60 * r.rate) / top)}" height="8"></rect></svg> ${rate(r.rate)}</td>
          <td>${rate(r.errors)}${r.rate > 0 && r.errors > 0 ? ` (${Math.round((100 * r.errors) / r.rate)}%)` : ''}</td>
          <td>${r.calls}</td><td>${r.failed}</td>
          <td class="buttons"><button type="button" class="small" data-logs="${r.id}"${logs.actor === r.id ? html` aria-pressed="true"` : ''}>Logs</button></td></tr>`)}`
      : html`<tr><td colspan="8" class="empty">no actors run</td></tr>`);
  };

  // ---- one actor's log lines -----------------------------------------

  // One stream at a time (/api/logs/<actor>): the lines its hosts keep,
  // then each new one; at most MAX_LOG_LINES shown. Lines are written as
  // text, never as markup.
  const MAX_LOG_LINES = 500;
  const logs = { actor: null, source: null };
  const closeLogs = () => {
    if (logs.source) logs.source.close();
    Object.assign(logs, { actor: null, source: null });
    $('#actor-logs').hidden = true;
    mark('actors');
  };
  const openLogs = (actor) => {
    closeLogs();
    const list = $('#log-lines');
    list.replaceChildren();
    $('#actor-logs-title').textContent = `Log lines of ${actor}`;
    $('#actor-logs').hidden = false;
    const source = new EventSource(`/api/logs/${encodeURIComponent(actor)}`);
    Object.assign(logs, { actor, source });
    source.addEventListener('log', (message) => {
      let line;
      try { line = JSON.parse(message.data); } catch { return; }
      const item = document.createElement('li');
      item.className = `log ${['warn', 'error'].includes(line.level) ? line.level : ''}`;
      const at = new Date(line.at_ms).toLocaleTimeString();
      item.textContent = `${at} ${String(line.host).slice(0, 8)} #${line.instance} ${line.level} ${line.source}: ${line.text}`;
      list.append(item);
      while (list.childElementCount > MAX_LOG_LINES) list.firstElementChild.remove();
      item.scrollIntoView({ block: 'nearest' });
    });
    mark('actors');
  };
  $('#close-logs').addEventListener('click', closeLogs);
  document.addEventListener('click', (clicked) => {
    const button = clicked.target.closest('button[data-logs]');
    if (button) openLogs(button.dataset.logs);
  });

  // ---- links --------------------------------------------------------

  const linkFilter = $('#link-filter');
  linkFilter.addEventListener('input', () => mark('links'));

  function runningKinds() {
    const actors = new Set();
    const providers = new Set();
    for (const host of model.hosts.values()) {
      host.actors.forEach((a) => actors.add(a.id));
      host.providers.forEach((p) => providers.add(p.id));
    }
    return { actors, providers };
  }

  function graph(links, kinds) {
    const nodes = new Map();
    const node = (id) => {
      if (!nodes.has(id)) nodes.set(id, { id, layer: 0, row: 0, from: [] });
      return nodes.get(id);
    };
    for (const l of links) { node(l.source); node(l.target).from.push(l.source); }
    if (nodes.size > GRAPH_MAX_NODES || links.length > GRAPH_MAX_LINKS) {
      return { hidden: `Graph not drawn: ${nodes.size} components and ${links.length} links. Filter to draw part of it; the table lists every link.` };
    }
    // Layers: longest path from a source, at most 8 deep (cycles stop).
    for (let pass = 0; pass < 8; pass += 1) {
      let moved = false;
      for (const l of links) {
        const s = nodes.get(l.source); const t = nodes.get(l.target);
        if (s !== t && t.layer < s.layer + 1 && s.layer + 1 < 8) { t.layer = s.layer + 1; moved = true; }
      }
      if (!moved) break;
    }
    const layers = [];
    for (const n of nodes.values()) (layers[n.layer] = layers[n.layer] || []).push(n);
    layers.forEach((layer, index) => {
      if (!layer) return;
      if (index === 0) layer.sort((a, b) => a.id.localeCompare(b.id));
      else {
        const centre = (n) => {
          const rows = n.from.map((f) => nodes.get(f).row);
          return rows.length ? rows.reduce((x, y) => x + y, 0) / rows.length : 0;
        };
        layer.sort((a, b) => centre(a) - centre(b) || a.id.localeCompare(b.id));
      }
      layer.forEach((n, row) => { n.row = row; });
    });
    const W = 168; const H = 28; const GAP_X = 96; const GAP_Y = 14; const PAD = 8;
    const x = (n) => PAD + n.layer * (W + GAP_X);
    const y = (n) => PAD + n.row * (H + GAP_Y);
    // No links, no layers: an empty graph, never a negative width.
    const width = PAD * 2 + Math.max(0, layers.length * (W + GAP_X) - GAP_X);
    const height = PAD * 2 + Math.max(1, ...layers.map((l) => (l ? l.length : 0))) * (H + GAP_Y) - GAP_Y;
    const labelled = links.length <= 40;
    const edges = links.map((l) => {
      const s = nodes.get(l.source); const t = nodes.get(l.target);
      const x1 = x(s) + W; const y1 = y(s) + H / 2; const x2 = x(t); const y2 = y(t) + H / 2;
      const bend = Math.max(40, Math.abs(x2 - x1) / 2);
      const label = labelled ? html`<text class="edge-label" x="${(x1 + x2) / 2}" y="${(y1 + y2) / 2 - 4}" text-anchor="middle">${l.namespace}:${l.package}${l.name !== 'default' ? html` (${l.name})` : ''}</text>` : '';
      return html`<g class="edge"><title>${l.source} → ${l.target}: ${contract(l)} (${l.name})</title>
        <path d="M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}" marker-end="url(#arrow)"></path>${label}</g>`;
    });
    const boxes = [...nodes.values()].map((n) => {
      const kind = kinds.providers.has(n.id) ? 'provider' : kinds.actors.has(n.id) ? 'actor' : 'absent';
      const shown = n.id.length > 22 ? `${n.id.slice(0, 21)}…` : n.id;
      const note = kind === 'absent' ? 'runs on no host' : kind;
      return html`<g class="node ${kind}" data-node="${n.id}"><title>${n.id} (${note})</title>
        <rect x="${x(n)}" y="${y(n)}" width="${W}" height="${H}" rx="5"></rect>
        <text x="${x(n) + 10}" y="${y(n) + H / 2 + 4}">${shown}</text></g>`;
    });
    return {
      svg: html`<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Link graph: ${nodes.size} components, ${links.length} links (the table below lists them)">
        <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"></path></marker></defs>
        ${edges}${boxes}</svg>`,
    };
  }

  // One section per source, keyed like the host cards: a link event
  // redraws the sections it touched, not a thousand rows.
  const linkGroups = new Map(); // source -> {element, signature}

  function linkGroup(source, group, kinds) {
    const rows = group.map((l) => {
      const config = Object.entries(l.source_config || {}).map(([k, v]) => `${k}=${v}`).join(', ');
      const key = linkKey(l);
      return html`<tr data-link="${key}" data-source="${l.source}" data-target="${l.target}">
          <th scope="row">${l.target}${kinds.actors.has(l.target) || kinds.providers.has(l.target) ? '' : html` <span class="badge absent" title="no host runs it">not running</span>`}</th>
          <td><code>${contract(l)}</code></td><td>${l.name}</td><td class="ref">${config}</td>
          <td class="buttons">${actionButton('link.del', 'Delete', { source: l.source, package: `${l.namespace}:${l.package}`, name: l.name, key: `del/${key}` }, 'danger')}</td></tr>`;
    });
    return html`<h3>${source} <small>→ ${group.length} link${group.length === 1 ? '' : 's'}</small></h3>
        <div class="scroll"><table class="mini links"><thead><tr><th scope="col">target</th><th scope="col">contract</th><th scope="col">name</th><th scope="col">config</th><th scope="col"><span class="visually-hidden">actions</span></th></tr></thead><tbody>${rows}</tbody></table></div>`;
  }

  DRAW.links = () => {
    const needle = linkFilter.value.trim().toLowerCase();
    const all = [...model.links.values()].sort((a, b) => linkKey(a).localeCompare(linkKey(b)));
    const links = needle
      ? all.filter((l) => `${l.source} ${l.target} ${contract(l)} ${l.name}`.toLowerCase().includes(needle))
      : all;
    const kinds = runningKinds();
    const drawn = graph(links, kinds);
    const figure = $('#link-graph');
    figure.hidden = !links.length;
    figure.querySelector('figcaption').textContent = drawn.hidden
      || 'Providers, actors, and components no host runs (dashed); hover an arrow for its contract.';
    render(figure.querySelector('.scroll'), drawn.svg || html``);
    const bySource = new Map();
    for (const l of links) {
      if (!bySource.has(l.source)) bySource.set(l.source, []);
      bySource.get(l.source).push(l);
    }
    const container = $('#link-groups');
    let previous = null;
    for (const [source, group] of bySource) {
      const running = group.map((l) => (kinds.actors.has(l.target) || kinds.providers.has(l.target) ? 1 : 0)).join('');
      const signature = `${running}|${JSON.stringify(group)}`;
      let entry = linkGroups.get(source);
      if (!entry) {
        const element = document.createElement('section');
        element.className = 'link-group';
        element.dataset.source = source;
        entry = { element, signature: '' };
        linkGroups.set(source, entry);
      }
      if (entry.signature !== signature) {
        render(entry.element, linkGroup(source, group, kinds));
        entry.signature = signature;
      }
      const next = previous ? previous.nextSibling : container.firstChild;
      if (entry.element !== next) container.insertBefore(entry.element, next);
      previous = entry.element;
    }
    for (const [source, entry] of linkGroups) {
      if (!bySource.has(source)) { entry.element.remove(); linkGroups.delete(source); }
    }
    const empty = $('#links-empty');
    empty.hidden = links.length > 0;
    empty.textContent = model.links.size ? 'No link matches the filter.' : 'No links.';
  };

  // ---- apps ---------------------------------------------------------

  DRAW.apps = () => {
    const list = $('#app-list');
    if (!model.apps.length) { render(list, html`<p class="empty">No apps. <code>lattice-ctl apply FILE</code> declares one.</p>`); return; }
    render(list, html`${model.apps.map((app) => {
      const status = app.status;
      const rows = status ? status.components.map((c) => html`<tr${c.reason ? html` class="failing"` : ''}>
          <th scope="row">${c.id}</th><td>${c.kind}</td><td>${c.desired}</td>
          <td>${c.running.length} <span class="hosts">${c.running.map((h, i) => html`${i ? ' ' : ''}<code title="${h}">${hostName(h)}</code>`)}</span></td>
          <td>${c.reason || ''}</td></tr>`) : '';
      const versions = app.versions.join(', ');
      return html`<article class="app ${app.state}" data-app="${app.name}">
        <header><h3>${app.name}</h3><span class="badge ${app.state}">${app.state}</span>
          <span class="meta">version ${app.current} (kept: ${versions})${status && status.version !== app.current ? ` · last reconciled: ${status.version}` : ''}</span>
          ${actionButton('app.del', 'Delete', { app: app.name, key: `delapp/${app.name}` }, 'danger')}</header>
        ${status ? html`<div class="scroll"><table class="mini"><thead><tr><th scope="col">component</th><th scope="col">kind</th><th scope="col">desired</th><th scope="col">running</th><th scope="col">reason</th></tr></thead><tbody>${rows}</tbody></table></div>`
          : html`<p class="empty">not reconciled yet</p>`}
      </article>`;
    })}`);
  };

  // ---- events -------------------------------------------------------

  const eventKind = $('#event-kind');
  const eventText = $('#event-text');
  const eventPause = $('#event-pause');
  let eventsDrawnTo = 0; // seq of the newest event shown
  let eventsFull = true; // draw the whole list next time
  const redrawEvents = () => { eventsFull = true; mark('events'); };
  eventKind.addEventListener('change', redrawEvents);
  eventText.addEventListener('input', redrawEvents);
  eventPause.addEventListener('change', redrawEvents);

  const FAILURE = /failed|refused|error/;
  function category(kind) {
    if (kind.startsWith('host_') || kind.startsWith('labels_')) return 'host';
    if (kind.startsWith('actor_')) return 'actor';
    if (kind.startsWith('provider_') || kind.startsWith('health_')) return 'provider';
    if (kind.startsWith('link_') || kind.startsWith('config_')) return 'link';
    if (kind.startsWith('app_') || kind.startsWith('replica_') || kind.startsWith('placement_')) return 'app';
    return 'other';
  }
  function summary(event) {
    const d = event.data || {};
    switch (event.kind) {
      case 'actor_scaled':
        return d.max_instances === 0 ? `${d.actor_id} stopped on ${hostName(d.host_id)}` : `${d.actor_id} on ${hostName(d.host_id)}: at most ${d.max_instances} instances (${d.actor_ref})`;
      case 'provider_started': case 'provider_stopped':
        return `${d.provider_id} (${d.reference}) on ${hostName(d.host_id)}${d.reason ? `: ${d.reason}` : ''}`;
      case 'link_set': case 'link_deleted':
        return `${d.source} → ${d.target} ${d.namespace}:${d.package}/${(d.interfaces || []).join(',')}${d.name && d.name !== 'default' ? ` (${d.name})` : ''}`;
      case 'host_started': case 'host_stopped': case 'host_heartbeat':
        return `${hostName(d.host_id)} (${short(d.host_id)}), ${d.actors} actors, ${d.providers} providers`;
      default: {
        const text = JSON.stringify(d);
        return text.length > 240 ? `${text.slice(0, 239)}…` : text;
      }
    }
  }
  function shows(event) {
    const wanted = eventKind.value;
    if (wanted === 'failure' ? !FAILURE.test(event.kind) : wanted && category(event.kind) !== wanted) return false;
    const needle = eventText.value.trim().toLowerCase();
    return !needle || `${event.kind} ${JSON.stringify(event.data)}`.toLowerCase().includes(needle);
  }
  function eventItem(event) {
    const time = event.time ? new Date(event.time) : null;
    const clock = time && Number.isFinite(time.getTime()) ? time.toLocaleTimeString([], { hour12: false }) : '';
    const bad = FAILURE.test(event.kind) ? ' bad' : '';
    return html`<li class="event ${category(event.kind)}${bad}" data-kind="${event.kind}" data-seq="${event.seq}">
      <time datetime="${event.time}">${clock}</time> <span class="kind">${event.kind}</span> <span class="what">${summary(event)}</span></li>`;
  }

  DRAW.events = () => {
    const list = $('#event-list');
    const newest = model.events.length ? model.events[model.events.length - 1].seq : 0;
    if (eventPause.checked) {
      const waiting = model.events.filter((e) => e.seq > eventsDrawnTo).length;
      $('#event-count').textContent = `Paused: ${waiting} new event${waiting === 1 ? '' : 's'} waiting.`;
      return;
    }
    if (eventsFull) {
      render(list, html`${model.events.filter(shows).reverse().map(eventItem)}`);
      eventsFull = false;
    } else {
      const fresh = model.events.filter((e) => e.seq > eventsDrawnTo && shows(e));
      if (fresh.length) prepend(list, html`${fresh.reverse().map(eventItem)}`);
      while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
    }
    eventsDrawnTo = newest;
    const missed = model.missed ? ` (${model.missed} missed while this page was behind)` : '';
    $('#event-count').textContent = `The last ${model.events.length} events, newest first${missed}.`;
  };

  // ---- the model ----------------------------------------------------

  function emptyHost(info) {
    return {
      host_id: info.host_id, labels: info.labels || {}, version: info.version || '',
      started_at: info.started_at || '', uptime_seconds: info.uptime_seconds || 0,
      state: 'ready', actors: [], providers: [], routing: {},
    };
  }

  function applyEvent(event) {
    const d = event.data || {};
    const host = d.host_id ? model.hosts.get(d.host_id) : undefined;
    switch (event.kind) {
      case 'host_started': case 'host_heartbeat': {
        const known = host || emptyHost(d);
        Object.assign(known, { labels: d.labels || known.labels, version: d.version, started_at: d.started_at, uptime_seconds: d.uptime_seconds });
        if (known.state === 'unreachable') known.state = 'ready';
        model.hosts.set(d.host_id, known);
        return ['hosts', 'summary'];
      }
      case 'host_stopped':
        model.hosts.delete(d.host_id);
        return ['hosts', 'summary', 'actors', 'links'];
      case 'labels_changed':
        if (host) host.labels = d.labels || {};
        return ['hosts'];
      case 'actor_scaled': {
        if (!host) return [];
        const index = host.actors.findIndex((a) => a.id === d.actor_id);
        if (d.max_instances === 0) { if (index >= 0) host.actors.splice(index, 1); }
        else if (index >= 0) Object.assign(host.actors[index], { max_instances: d.max_instances, reference: d.actor_ref });
        else {
          host.actors.push({ id: d.actor_id, reference: d.actor_ref, max_instances: d.max_instances, instances_in_use: 0, calls: 0, failed: 0, rate: 0, error_rate: 0 });
          host.actors.sort((a, b) => a.id.localeCompare(b.id));
        }
        return ['hosts', 'actors', 'summary', 'links'];
      }
      case 'actor_updated': {
        const actor = host && host.actors.find((a) => a.id === d.actor_id);
        if (actor) actor.reference = d.actor_ref;
        return ['hosts'];
      }
      case 'provider_started': {
        if (!host) return [];
        if (!host.providers.some((p) => p.id === d.provider_id)) {
          host.providers.push({ id: d.provider_id, reference: d.reference });
          host.providers.sort((a, b) => a.id.localeCompare(b.id));
        }
        return ['hosts', 'summary', 'links'];
      }
      case 'provider_stopped':
        // A process provider says so when its process exits, and may restart.
        if (host && d.restarting_in_ms === undefined) host.providers = host.providers.filter((p) => p.id !== d.provider_id);
        return ['hosts', 'summary', 'links'];
      case 'link_set':
        model.links.set(linkKey(d), d);
        return ['links', 'summary'];
      case 'link_deleted':
        model.links.delete(linkKey(d));
        return ['links', 'summary'];
      default:
        return [];
    }
  }

  function onEvent(event) {
    if (event.seq <= model.lastSeq) return;
    model.lastSeq = event.seq;
    model.events.push(event);
    if (model.events.length > MAX_EVENTS) model.events.splice(0, model.events.length - MAX_EVENTS);
    mark('events', ...applyEvent(event));
  }

  function connect() {
    const source = new EventSource('/api/events');
    const status = $('#connection');
    const handlers = {
      hosts: (hosts) => {
        model.hosts = new Map(hosts.map((h) => [h.host_id, h]));
        mark('hosts', 'actors', 'summary', 'links', 'apps');
      },
      links: (links) => { model.links = new Map(links.map((l) => [linkKey(l), l])); mark('links', 'summary'); },
      apps: (apps) => { model.apps = apps; mark('apps', 'summary'); },
      meta: (m) => { model.problems = m.problems || []; mark('problems'); },
      lattice: onEvent,
      lagged: (m) => { model.missed += m.missed || 0; mark('events'); },
    };
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, (message) => {
        let data;
        try { data = JSON.parse(message.data); } catch { return; }
        handle(data);
      });
    }
    source.addEventListener('open', () => {
      // The server sends its backlog again: take it afresh.
      model.events = []; model.lastSeq = 0; eventsDrawnTo = 0;
      redrawEvents();
      status.textContent = 'live';
      status.className = 'pill live';
      document.body.dataset.live = 'true';
    });
    source.addEventListener('error', () => {
      status.textContent = 'reconnecting…';
      status.className = 'pill down';
      document.body.dataset.live = 'false';
    });
  }

  // ---- actions ------------------------------------------------------

  const dialog = $('#confirm');
  const dialogBody = $('#confirm-body');
  const dialogError = $('#confirm-error');
  let pending = null; // {action, collect}

  function ask(title, body, action, collect) {
    $('#confirm-title').textContent = title;
    render(dialogBody, body);
    dialogError.textContent = '';
    pending = { action, collect };
    $('#confirm-ok').disabled = false;
    dialog.showModal();
    const first = dialogBody.querySelector('input, textarea, select');
    (first || $('#confirm-cancel')).focus();
  }

  function toast(text, bad) {
    const element = $('#toast');
    element.textContent = text;
    element.className = `toast shown${bad ? ' bad' : ''}`;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { element.className = 'toast'; }, 6000);
  }

  $('#confirm-cancel').addEventListener('click', () => dialog.close());
  $('#confirm-form').addEventListener('submit', async (submitted) => {
    submitted.preventDefault();
    if (!pending) return;
    let body;
    try { body = pending.collect(); } catch (problem) { dialogError.textContent = problem.message; return; }
    $('#confirm-ok').disabled = true;
    try {
      const answer = await fetch(`/api/actions/${pending.action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-lattice-token': TOKEN },
        body: JSON.stringify(body),
      });
      const said = await answer.json().catch(() => ({ error: `HTTP ${answer.status}` }));
      if (!answer.ok) { dialogError.textContent = said.error || `HTTP ${answer.status}`; $('#confirm-ok').disabled = false; return; }
      dialog.close();
      toast(said.message || 'done');
    } catch (problem) {
      dialogError.textContent = `cannot reach the dashboard: ${problem.message}`;
      $('#confirm-ok').disabled = false;
    }
  });

  // extra: more attributes, as markup (html`min="0"`).
  const field = (id, label, value = '', type = 'text', extra = '') =>
    html`<p><label for="${id}">${label}</label><input id="${id}" name="${id}" type="${type}" value="${value}" ${extra}></p>`;
  const value = (id) => document.getElementById(id).value.trim();
  const need = (id, what) => { const v = value(id); if (!v) throw new Error(`${what} is required`); return v; };

  document.addEventListener('click', (clicked) => {
    const button = clicked.target.closest('button[data-action]');
    if (!button || button.disabled) return;
    const d = button.dataset;
    switch (d.action) {
      case 'actor.scale':
        ask(`Scale actor ${d.actor}`, html`<p>On host <code>${hostName(d.host)}</code> (<code>${short(d.host)}</code>). 0 stops it.</p>${field('max-instances', 'Most instances at once', d.max, 'number', html`min="0" max="100000" required`)}`,
          'actor.scale', () => {
            const max = Number(need('max-instances', 'the number of instances'));
            if (!Number.isInteger(max) || max < 0) throw new Error('the number of instances is a whole number, 0 or more');
            return { host: d.host, actor: d.actor, max_instances: max };
          });
        break;
      case 'actor.stop':
        ask(`Stop actor ${d.actor}?`, html`<p>Stops <code>${d.actor}</code> on host <code>${hostName(d.host)}</code>. Calls in flight finish; new ones go to other hosts that run it, or fail.</p>`,
          'actor.stop', () => ({ host: d.host, actor: d.actor }));
        break;
      case 'provider.stop':
        ask(`Stop provider ${d.provider}?`, html`<p>Stops <code>${d.provider}</code> on host <code>${hostName(d.host)}</code>.</p>`,
          'provider.stop', () => ({ host: d.host, provider: d.provider }));
        break;
      case 'link.del':
        ask('Delete this link?', html`<p><code>${d.source}</code> loses its link for <code>${d.package}</code> named <code>${d.name}</code>; its calls over it fail from now on.</p>`,
          'link.del', () => ({ source: d.source, package: d.package, name: d.name }));
        break;
      case 'app.del':
        ask(`Delete app ${d.app}?`, html`<p>The reconciler stops every component of <code>${d.app}</code> and deletes its links.</p>`,
          'app.del', () => ({ name: d.app }));
        break;
      default:
    }
  });

  $('#put-link').addEventListener('click', () => ask('Put a link',
    html`${field('link-source', 'Source (caller)')}${field('link-target', 'Target (callee)')}${
      field('link-contract', 'Contract, ns:pkg/iface[,iface]', '', 'text', html`placeholder="wasi:keyvalue/store,atomics"`)}${
      field('link-name', 'Link name', 'default')}`,
    'link.put', () => ({
      source: need('link-source', 'the source'), target: need('link-target', 'the target'),
      contract: need('link-contract', 'the contract'), name: value('link-name') || 'default',
    })));

  $('#apply-app').addEventListener('click', () => ask('Apply an app',
    html`<p><label for="app-manifest">Manifest (TOML with an <code>[app]</code> table; files by absolute paths on the hosts, or registry references)</label></p><textarea id="app-manifest" rows="12" spellcheck="false" required></textarea>`,
    'app.apply', () => ({ manifest: need('app-manifest', 'the manifest') })));

  // ---- start --------------------------------------------------------

  const mode = $('#mode');
  mode.textContent = ACTIONS ? 'actions allowed' : 'read-only';
  mode.className = `pill ${ACTIONS ? 'actions' : 'read-only'}`;
  mode.title = ACTIONS ? 'each action asks for confirmation' : READ_ONLY;
  document.body.dataset.actions = ACTIONS ? 'on' : 'off';
  for (const id of ['#put-link', '#apply-app']) {
    const button = $(id);
    if (!ACTIONS) { button.disabled = true; button.title = READ_ONLY; }
  }
  // Uptimes tick while nothing else changes.
  setInterval(() => mark('hosts'), 30000);
  mark('summary', 'hosts', 'actors', 'links', 'apps', 'events');
  connect();
})();
