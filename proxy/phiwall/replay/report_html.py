"""The replay report as one self-contained HTML page: the JSON report embedded, tables and SVG charts drawn by an
inline script (no CDN, no external file, nothing fetched), so it can be mailed to a privacy officer or attached to
a change request and opened offline. Charts: verdicts by service, by rule, and over time."""

from __future__ import annotations

import html
import json
from typing import Any

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}.v-block{color:#b00020;font-weight:600}.v-warn{color:#a66300}.v-allow{color:#17702e}
.v-passthrough{color:#777}.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
svg text{font:11px system-ui,sans-serif}
"""

_SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById('phiwall-data').textContent);
  const COLORS = {block: '#d32f2f', deidentify: '#7b1fa2', warn: '#f9a825', allow: '#43a047', passthrough: '#9e9e9e'};
  const ORDER = ['block', 'deidentify', 'warn', 'allow', 'passthrough'];
  const NS = 'http://www.w3.org/2000/svg';
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function legend(parent, verdicts) {
    const d = el('div', {class: 'legend'});
    verdicts.forEach(v => {
      const s = el('span');
      s.appendChild(el('i', {class: 'sw', style: 'background:' + COLORS[v]}));
      s.appendChild(document.createTextNode(v));
      d.appendChild(s);
    });
    parent.appendChild(d);
  }
  // Horizontal stacked bars: groups = [[label, {verdict: n}]]
  function stacked(id, groups) {
    const box = document.getElementById(id);
    const max = Math.max(1, ...groups.map(g => Object.values(g[1]).reduce((a, b) => a + b, 0)));
    const rowH = 22, left = 170, width = 460;
    const svg = svgEl('svg', {width: left + width + 60, height: groups.length * rowH + 10, role: 'img'});
    groups.forEach((g, i) => {
      const y = 5 + i * rowH;
      svg.appendChild(svgEl('text', {x: 0, y: y + 14, class: 'label'}, g[0]));
      let x = left, total = 0;
      ORDER.forEach(v => {
        const n = g[1][v] || 0;
        if (!n) return;
        const w = Math.max(1, Math.round(width * n / max));
        const r = svgEl('rect', {x: x, y: y, width: w, height: rowH - 6, fill: COLORS[v], class: 'bar',
          'data-group': g[0], 'data-verdict': v, 'data-value': n});
        r.appendChild(svgEl('title', {}, g[0] + ' ' + v + ': ' + n));
        svg.appendChild(r);
        x += w; total += n;
      });
      svg.appendChild(svgEl('text', {x: x + 4, y: y + 14, class: 'total', 'data-group': g[0]}, String(total)));
    });
    box.appendChild(svg);
    legend(box, ORDER.filter(v => groups.some(g => g[1][v])));
  }
  function table(id, head, rows, rowAttrs) {
    const t = document.getElementById(id);
    const tr = el('tr');
    head.forEach(h => tr.appendChild(el('th', {}, h)));
    t.appendChild(tr);
    rows.forEach((r, i) => {
      const row = el('tr', rowAttrs ? rowAttrs(i) : {});
      r.forEach((c, j) => {
        const cls = j === 1 && head[1] === 'verdict' ? {class: 'v-' + c} : {};
        row.appendChild(el('td', cls, String(c)));
      });
      t.appendChild(row);
    });
  }
  const reqs = data.requests;
  const tot = data.totals;
  document.getElementById('title').textContent =
    'phiwall replay: policy ' + data.policy.id + ', ' + tot.requests + ' requests';
  table('totals', ['verdict', 'requests'], ORDER.filter(v => tot.by_verdict[v]).map(v => [v, tot.by_verdict[v]]),
    i => ({'data-verdict': ORDER.filter(v => tot.by_verdict[v])[i]}));
  // verdicts by service
  stacked('chart-service', Object.keys(tot.by_service).map(s => [s, tot.by_service[s]]));
  // by rule: which verdict each rule gave is per hit; count requests per rule, coloured by the request verdict
  const byRule = {};
  reqs.forEach(r => r.rule_ids.forEach(id => {
    byRule[id] = byRule[id] || {};
    byRule[id][r.verdict] = (byRule[id][r.verdict] || 0) + 1;
  }));
  stacked('chart-rule', Object.keys(byRule).sort().map(k => [k, byRule[k]]));
  // over time: up to 24 equal buckets between the first and last timestamp
  const times = reqs.filter(r => r.ts).map(r => Date.parse(r.ts));
  const tbox = document.getElementById('chart-time');
  if (times.length) {
    const t0 = Math.min(...times), t1 = Math.max(...times);
    const n = Math.min(24, Math.max(1, times.length));
    const step = Math.max(1, Math.ceil((t1 - t0 + 1) / n));
    const buckets = [];
    for (let i = 0; i < n; i++) buckets.push({});
    reqs.forEach(r => {
      if (!r.ts) return;
      const b = Math.min(n - 1, Math.floor((Date.parse(r.ts) - t0) / step));
      buckets[b][r.verdict] = (buckets[b][r.verdict] || 0) + 1;
    });
    const max = Math.max(1, ...buckets.map(b => Object.values(b).reduce((a, c) => a + c, 0)));
    const H = 160, bw = 24;
    const svg = svgEl('svg', {width: n * (bw + 4) + 40, height: H + 40, role: 'img'});
    buckets.forEach((b, i) => {
      let y = H;
      const label = new Date(t0 + i * step).toISOString().slice(0, 16).replace('T', ' ');
      ORDER.forEach(v => {
        const c = b[v] || 0;
        if (!c) return;
        const h = Math.max(1, Math.round(H * c / max));
        y -= h;
        const r = svgEl('rect', {x: 30 + i * (bw + 4), y: y, width: bw, height: h, fill: COLORS[v], class: 'bar',
          'data-group': label, 'data-verdict': v, 'data-value': c});
        r.appendChild(svgEl('title', {}, label + ' ' + v + ': ' + c));
        svg.appendChild(r);
      });
    });
    svg.appendChild(svgEl('text', {x: 30, y: H + 16}, new Date(t0).toISOString().slice(0, 16).replace('T', ' ')));
    const last = new Date(t1).toISOString().slice(0, 16).replace('T', ' ');
    svg.appendChild(svgEl('text', {x: 30, y: H + 32}, 'to ' + last));
    tbox.appendChild(svg);
    legend(tbox, ORDER.filter(v => buckets.some(b => b[v])));
  } else {
    tbox.appendChild(el('p', {}, 'The recording has no timestamps.'));
  }
  if (data.compare) {
    const c = data.compare;
    document.getElementById('compare-title').textContent =
      'Compared with policy ' + c.policy.id + ': ' + c.changes.length + ' requests change verdict';
    table('changes', ['#', 'verdict', 'other verdict', 'method', 'url', 'rules', 'other rules'],
      c.changes.map(x => [x.index, x.verdict, x.other_verdict, x.method, x.url, x.rule_ids.join(', '),
        x.other_rule_ids.join(', ')]), i => ({'data-index': c.changes[i].index}));
  }
  const fmt = f => Object.keys(f || {}).map(k => k + '\u00d7' + f[k]).join(', ');
  table('requests', ['#', 'verdict', 'method', 'service', 'endpoint', 'url', 'rules', 'findings'],
    reqs.map(r => [r.index, r.verdict, r.method, r.service || '-', r.endpoint || '-', r.url, r.rule_ids.join(', '),
      fmt(r.findings)]), i => ({'data-index': reqs[i].index, 'data-verdict': reqs[i].verdict}));
  document.body.setAttribute('data-rendered', 'yes');
})();
"""


def render_html(report: dict[str, Any]) -> str:
    """The report page. The embedded JSON is escaped so no recorded string can close the script element."""
    payload = json.dumps(report, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")
    title = html.escape(f"phiwall replay: policy {report['policy']['id']}")
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'\">"
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f'<h1 id="title">{title}</h1>'
        "<noscript>This report draws its tables and charts with JavaScript; the data is in the JSON report.</noscript>"
        '<h2>Verdicts</h2><table id="totals"></table>'
        '<h2>Verdicts by service</h2><div id="chart-service" class="chart"></div>'
        '<h2>Requests by rule</h2><div id="chart-rule" class="chart"></div>'
        '<h2>Verdicts over time</h2><div id="chart-time" class="chart"></div>'
        '<h2 id="compare-title"></h2><table id="changes"></table>'
        '<h2>Requests</h2><table id="requests"></table>'
        f'<script type="application/json" id="phiwall-data">{payload}</script>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
