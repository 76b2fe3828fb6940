'use strict';
'require view';
'require rpc';
'require poll';
'require hearth.render as render';

/*
 * Services → hearth → Overview: the agent's state, warnings, per-device bandwidth and LLM
 * spend against budget (bars), and endpoint health. Read-only; refreshed every 5 s.
 * Data: ubus object `hearth` (the rpcd plugin /usr/libexec/rpcd/hearth).
 */

var callStatus = rpc.declare({ object: 'hearth', method: 'status' });
var callDevices = rpc.declare({ object: 'hearth', method: 'devices' });
var callEndpoints = rpc.declare({ object: 'hearth', method: 'endpoints' });

function fetchAll() {
	return Promise.all([
		L.resolveDefault(callStatus(), { error: _('hearth is not running') }),
		L.resolveDefault(callDevices(), {}),
		L.resolveDefault(callEndpoints(), {})
	]);
}

function fill(id, node) {
	var el = document.getElementById(id);
	if (el)
		L.dom.content(el, node);
}

return view.extend({
	load: fetchAll,

	update: function(data) {
		fill('hearth-status', render.statusSummary(data[0]));
		fill('hearth-warnings', render.warnings(data[0], data[2]));
		fill('hearth-devices', render.devicesTable(data[1]));
		fill('hearth-endpoints', render.endpointsTable(data[2]));
	},

	render: function(data) {
		var node = E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('hearth')),
			E('div', { 'class': 'cbi-map-descr' },
				_('Traffic shaping, LLM budgets and endpoints of this router. Settings are under the other tabs.')),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, _('Status')), E('div', { 'id': 'hearth-status' }) ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, _('Warnings')), E('div', { 'id': 'hearth-warnings' }) ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, _('Devices')), E('div', { 'id': 'hearth-devices' }) ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, _('LLM endpoints')), E('div', { 'id': 'hearth-endpoints' }) ])
		]);
		var self = this;
		requestAnimationFrame(function() { self.update(data); });
		poll.add(function() { return fetchAll().then(L.bind(self.update, self)); }, 5);
		return node;
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
