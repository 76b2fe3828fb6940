'use strict';
'require baseclass';

/*
 * hearth.render — turns hearth's JSON (rpcd object `hearth`, or the dashboard's
 * /status, /devices, /endpoints, /usage and /plan) into DOM nodes.
 *
 * One file, two users:
 *  - LuCI views load it as a module: 'require hearth.render as render';
 *  - hearth's own dashboard (http://dashboard_listen/hearth/, for DD-WRT and plain Linux)
 *    gets it from the daemon wrapped in a function that passes a stand-in `baseclass`.
 * It uses only the globals both provide: E(tag, attrs, children) and _(text). Widths are set
 * through element.style (not style="" attributes), which the dashboard's Content Security
 * Policy allows. Money arrives in micro-units (millionths) of the currency.
 * Elements carry data-device / data-endpoint / data-field attributes so tests can find them.
 */

function money(micro, currency) {
	var v = (+micro || 0) / 1e6;
	return v.toFixed(v !== 0 && v < 0.1 ? 4 : 2) + (currency ? ' ' + currency : '');
}

function bytes(n) {
	var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], v = +n || 0, i = 0;
	while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
	return (i ? v.toFixed(1) : String(v)) + ' ' + units[i];
}

function rate(kbit) {
	if (!kbit) return _('no limit');
	return kbit >= 1000 ? (kbit / 1000) + ' Mbit/s' : kbit + ' kbit/s';
}

function duration(secs) {
	var s = +secs || 0, d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24,
		m = Math.floor(s / 60) % 60;
	return (d ? d + 'd ' : '') + h + 'h ' + (m < 10 ? '0' : '') + m + 'm';
}

/* A bar of spent against limit; no limit → just the number. */
function bar(spent, limit, text, field) {
	var pct = limit ? Math.min(100, 100 * spent / limit) : 0;
	var fill = E('div', { 'class': 'hearth-bar-fill' + (pct >= 100 ? ' hearth-over' : pct >= 80 ? ' hearth-warn' : '') });
	fill.style.width = pct.toFixed(1) + '%';
	return E('div', {
		'class': 'cbi-progressbar hearth-bar',
		'title': limit ? pct.toFixed(0) + '%' : _('no budget'),
		'data-field': field || '',
		'data-value': String(spent)
	}, [ fill, E('span', { 'class': 'hearth-bar-text' }, text) ]);
}

function cell(field, value, text) {
	return E('td', { 'class': 'td', 'data-field': field, 'data-value': String(value) },
		text != null ? text : String(value));
}

function table(head, rows, empty) {
	return E('table', { 'class': 'table hearth-table' }, [
		E('tr', { 'class': 'tr table-titles' },
			head.map(function(h) { return E('th', { 'class': 'th' }, h); }))
	].concat(rows.length ? rows : [
		E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': String(head.length) }, empty))
	]));
}

function statusSummary(st) {
	if (!st || st.error)
		return E('p', { 'class': 'alert-message warning', 'data-field': 'error' },
			(st && st.error) || _('hearth is not running'));
	var b = st.balancer || {}, s = st.shaping || {};
	var items = [
		[ _('Version'), st.version ],
		[ _('Uptime'), duration(st.uptime_secs) ],
		[ _('Config generation'), String(st.generation) ],
		[ _('LLM balancer'), b.enabled ? _('on') + ' (' + (b.listen || []).join(', ') + ')' : _('off') ],
		[ _('Shaping'), s.enabled ? (s.error ? _('failed') + ': ' + s.error :
			(s.devices || []).join(', ') + (s.leaf ? ', ' + s.leaf : '')) : _('off') ]
	];
	if (s.capabilities)
		items.push([ _('Kernel'), Object.keys(s.capabilities).filter(function(k) {
			return s.capabilities[k]; }).join(', ') || _('basic qdiscs only') ]);
	return E('dl', { 'class': 'hearth-summary' }, items.reduce(function(acc, kv) {
		return acc.concat([ E('dt', {}, kv[0]), E('dd', {}, kv[1]) ]);
	}, []));
}

/* Everything a household should look at now, as a list of strings. */
function warningList(st, eps) {
	var out = [];
	if (!st || st.error)
		return [ (st && st.error) || _('hearth is not running') ];
	if (st.shaping && st.shaping.error)
		out.push(_('Shaping failed: ') + st.shaping.error);
	var bud = st.budgets || {};
	(bud.anomalies || []).forEach(function(a) {
		out.push(_('Spend anomaly: ') + a.key + ' (' + (+a.ratio).toFixed(1) + '× ' + _('usual') + ')');
	});
	(bud.exhausted || []).forEach(function(r) {
		out.push(_('Budget used up: ') + r.scope + ' ' + r.option + ', ' + _('resets') + ' ' + r.resets_at);
	});
	(bud.warnings || []).forEach(function(r) {
		out.push(_('Budget over 80%: ') + r.scope + ' ' + r.option);
	});
	((eps && eps.endpoints) || []).forEach(function(e) {
		if (e.problem)
			out.push(_('Endpoint unusable: ') + e.name + ': ' + e.problem);
		else if (!e.healthy)
			out.push(_('Endpoint out of rotation: ') + e.name + ' (' + ((e.health || {}).reason || '?') + ')');
	});
	return out;
}

function warnings(st, eps) {
	var list = warningList(st, eps);
	if (!list.length)
		return E('p', { 'class': 'hearth-ok', 'data-field': 'warnings', 'data-value': '0' }, _('No warnings.'));
	return E('ul', { 'class': 'hearth-warnings', 'data-field': 'warnings', 'data-value': String(list.length) },
		list.map(function(w) { return E('li', {}, w); }));
}

/* Bytes seen per device at the previous refresh, for the current bandwidth column. */
var lastSeen = {};

/* bit/s since the previous call for `name` (null on the first call). */
function bandwidth(name, total) {
	var now = Date.now(), prev = lastSeen[name];
	lastSeen[name] = { bytes: total, at: now };
	if (!prev || now <= prev.at || total < prev.bytes)
		return null;
	return (total - prev.bytes) * 8 * 1000 / (now - prev.at);
}

function bits(bps) {
	if (bps == null) return '–';
	return bps >= 1e6 ? (bps / 1e6).toFixed(1) + ' Mbit/s' : bps >= 1e3 ? (bps / 1e3).toFixed(1) + ' kbit/s' : Math.round(bps) + ' bit/s';
}

function devicesTable(dv) {
	var cur = (dv && dv.currency) || '';
	var rows = ((dv && dv.devices) || []).map(function(d) {
		var bps = bandwidth(d.name, (+d.bytes_month || 0) + (+d.llm_bytes_up || 0) + (+d.llm_bytes_down || 0));
		return E('tr', { 'class': 'tr', 'data-device': d.name }, [
			E('td', { 'class': 'td' }, [ E('strong', {}, d.label), E('br'), E('small', {}, d.mac + ' ' + (d.ips || []).join(' ')) ]),
			cell('group', d.group),
			cell('rate', d.rate_down_kbit, rate(d.rate_down_kbit) + ' / ' + rate(d.rate_up_kbit)),
			cell('bandwidth', bps == null ? '' : Math.round(bps), bits(bps)),
			E('td', { 'class': 'td' }, bar(d.bytes_month, d.data_month_bytes,
				bytes(d.bytes_month) + (d.data_month_bytes ? ' / ' + bytes(d.data_month_bytes) : ''), 'bytes_month')),
			E('td', { 'class': 'td' }, bar(d.llm_spent_month, d.llm_month_limit,
				money(d.llm_spent_month, cur) + (d.llm_month_limit ? ' / ' + money(d.llm_month_limit, cur) : ''), 'llm_spent_month')),
			cell('llm_requests', d.llm_requests),
			cell('llm_tokens', d.llm_tokens)
		]);
	});
	return table([ _('Device'), _('Group'), _('Limit down / up'), _('Now'), _('Data this month'),
		_('LLM spend this month'), _('LLM requests'), _('Tokens') ], rows, _('No devices configured.'));
}

function endpointsTable(ep) {
	if (!ep || ep.enabled === false)
		return E('p', {}, _('The LLM balancer is off (no balancer section).'));
	var cur = ep.currency || '';
	var rows = (ep.endpoints || []).map(function(e) {
		var state = e.problem ? _('unusable') : e.healthy ? _('healthy') :
			_('out of rotation') + ' (' + ((e.health || {}).seconds_left || 0) + 's)';
		return E('tr', { 'class': 'tr', 'data-endpoint': e.name }, [
			E('td', { 'class': 'td' }, [ E('strong', {}, e.name), E('br'), E('small', {}, e.url || '') ]),
			cell('health', e.healthy ? 1 : 0, E('span', { 'class': e.healthy ? 'hearth-good' : 'hearth-bad' }, state)),
			cell('latency_ms', e.latency_ms == null ? '' : e.latency_ms, e.latency_ms == null ? '–' : e.latency_ms + ' ms'),
			cell('in_flight', e.in_flight),
			cell('requests', e.requests),
			cell('errors', e.errors),
			cell('cost', e.cost, money(e.cost, cur))
		]);
	});
	return table([ _('Endpoint'), _('Health'), _('Latency'), _('In flight'), _('Requests'), _('Errors'), _('Cost') ],
		rows, _('No endpoints.'));
}

function usageTable(u, currency) {
	var rows = ((u && u.rows) || []).map(function(r) {
		var isMoney = r.metric === 'money', show = function(v) {
			return isMoney ? money(v, currency) : r.metric === 'bytes' ? bytes(v) : String(v);
		};
		return E('tr', { 'class': 'tr', 'data-scope': r.scope }, [
			cell('scope', r.scope), cell('period', r.period_id),
			cell('metric', r.metric),
			E('td', { 'class': 'td' }, bar(r.spent, r.limit, show(r.spent) + (r.limit ? ' / ' + show(r.limit) : ''), 'spent')),
			cell('resets_at', r.resets_at)
		]);
	});
	return table([ _('Who'), _('Period'), _('Metric'), _('Spent / budget'), _('Resets') ], rows, _('Nothing spent yet.'));
}

function planView(p) {
	if (!p || p.error)
		return E('p', { 'class': 'alert-message', 'data-field': 'plan-error' }, (p && p.error) || _('No plan.'));
	var r = p.report || {}, rec = r.recommendation || {}, cur = r.current || {};
	var img = E('img', { 'class': 'hearth-heatmap', 'alt': _('Predicted signal heatmap') });
	img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(p.svg || '');
	return E('div', { 'class': 'hearth-plan' }, [
		E('p', { 'data-field': 'coverage', 'data-value': String(cur.coverage_pct) },
			_('Coverage now: ') + cur.coverage_pct + '% ' + _('of the home at') + ' ' +
			((r.settings || {}).target_rssi) + ' dBm ' + _('or better')),
		E('h4', { 'data-field': 'recommendation' }, (rec.title || '') + (rec.reaches_target ? '' : ' (' + _('does not reach the target') + ')')),
		E('p', {}, rec.reason || ''),
		E('ul', {}, (rec.notes || []).map(function(n) { return E('li', {}, n); })),
		img
	]);
}

return baseclass.extend({
	money: money,
	bytes: bytes,
	rate: rate,
	duration: duration,
	bar: bar,
	statusSummary: statusSummary,
	warningList: warningList,
	warnings: warnings,
	devicesTable: devicesTable,
	endpointsTable: endpointsTable,
	usageTable: usageTable,
	planView: planView
});
