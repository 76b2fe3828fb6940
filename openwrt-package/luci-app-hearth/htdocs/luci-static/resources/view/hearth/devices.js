'use strict';
'require view';
'require form';
'require uci';
'require rpc';
'require poll';
'require hearth.render as render';

/*
 * Services → hearth → Devices & budgets: groups and devices (limits, budgets, what happens
 * when a budget runs out), edited in /etc/config/hearth, with live use per device and per
 * budget account (ubus hearth devices / usage).
 */

var callDevices = rpc.declare({ object: 'hearth', method: 'devices' });
var callUsage = rpc.declare({ object: 'hearth', method: 'usage', params: [ 'device', 'group' ] });

function limits(s) {
	var o;
	o = s.option(form.ListValue, 'priority', _('Priority'));
	o.value('', _('inherit'));
	o.value('high', _('high'));
	o.value('normal', _('normal'));
	o.value('bulk', _('bulk'));
	o.optional = true;
	o = s.option(form.Value, 'rate_down', _('Download limit (kbit/s)'));
	o.datatype = 'uinteger';
	o.optional = true;
	o = s.option(form.Value, 'rate_up', _('Upload limit (kbit/s)'));
	o.datatype = 'uinteger';
	o.optional = true;
	o = s.option(form.Value, 'data_month', _('Data per month (GiB)'));
	o.datatype = 'ufloat';
	o.optional = true;
	o = s.option(form.Value, 'data_throttle', _('Rate when over the data budget (kbit/s)'));
	o.datatype = 'uinteger';
	o.optional = true;
	o = s.option(form.Value, 'llm_day', _('LLM budget per day'));
	o.datatype = 'ufloat';
	o.optional = true;
	o = s.option(form.Value, 'llm_month', _('LLM budget per month'));
	o.datatype = 'ufloat';
	o.optional = true;
	o = s.option(form.Value, 'llm_tokens_day', _('LLM tokens per day'));
	o.datatype = 'uinteger';
	o.optional = true;
	o = s.option(form.ListValue, 'on_exhaust', _('When a budget is used up'));
	o.value('', _('inherit'));
	o.value('deny', _('refuse requests'));
	o.value('downgrade', _('use the downgrade route'));
	o.optional = true;
	o = s.option(form.Value, 'downgrade_route', _('Downgrade route'));
	o.datatype = 'uciname';
	o.depends('on_exhaust', 'downgrade');
	o = s.option(form.Value, 'vpn', _('VPN policy'));
	o.datatype = 'uciname';
	o.optional = true;
}

return view.extend({
	load: function() {
		return Promise.all([
			uci.load('hearth'),
			L.resolveDefault(callDevices(), {}),
			L.resolveDefault(callUsage({}), {})
		]);
	},

	render: function(data) {
		var live, m, s, o;
		m = new form.Map('hearth', _('Devices & budgets'),
			_('Devices are known by MAC address; a device without a group is in the built-in group "default". Money is in the currency set in the agent section.'));

		live = E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Now')),
			E('div', { 'id': 'hearth-devices' }, render.devicesTable(data[1])),
			E('h3', {}, _('Budget accounts')),
			E('div', { 'id': 'hearth-usage' }, render.usageTable(data[2], data[2].currency))
		]);

		s = m.section(form.TypedSection, 'group', _('Groups'));
		s.addremove = true;
		s.anonymous = false;
		limits(s);

		s = m.section(form.TypedSection, 'device', _('Devices'));
		s.addremove = true;
		s.anonymous = false;
		o = s.option(form.Value, 'mac', _('MAC address'));
		o.datatype = 'macaddr';
		o.rmempty = false;
		o = s.option(form.DynamicList, 'ip', _('Fixed addresses'));
		o.datatype = 'ipaddr';
		o = s.option(form.Value, 'label', _('Name shown'));
		o = s.option(form.Value, 'group', _('Group'));
		o.datatype = 'uciname';
		o.placeholder = 'default';
		limits(s);

		poll.add(function() {
			return Promise.all([ L.resolveDefault(callDevices(), {}), L.resolveDefault(callUsage({}), {}) ]).then(function(r) {
				var d = document.getElementById('hearth-devices'), u = document.getElementById('hearth-usage');
				if (d) L.dom.content(d, render.devicesTable(r[0]));
				if (u) L.dom.content(u, render.usageTable(r[1], r[1].currency));
			});
		}, 10);

		return m.render().then(function(node) {
			node.insertBefore(live, node.querySelector(':scope > .cbi-section'));
			return node;
		});
	}
});
