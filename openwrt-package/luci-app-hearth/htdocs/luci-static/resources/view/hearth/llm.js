'use strict';
'require view';
'require form';
'require uci';
'require rpc';
'require poll';
'require hearth.render as render';

/*
 * Services → hearth → LLM endpoints: the balancer (where it listens, strategy, anomaly
 * detection), its endpoints (URL, key file, models, prices) and routes, edited in
 * /etc/config/hearth; live endpoint health, latency and in-flight requests
 * (ubus hearth endpoints).
 */

var callEndpoints = rpc.declare({ object: 'hearth', method: 'endpoints' });

function strategies(o) {
	[ 'least_connections', 'round_robin', 'weighted', 'ip_hash', 'latency', 'cost' ].forEach(function(v) { o.value(v); });
}

return view.extend({
	load: function() {
		return Promise.all([ uci.load('hearth'), L.resolveDefault(callEndpoints(), {}) ]);
	},

	render: function(data) {
		var live, m, s, o;
		m = new form.Map('hearth', _('LLM endpoints'),
			_('Devices send OpenAI-compatible requests to the balancer\'s LAN address; hearth forwards each to an endpoint within the budgets. Prices are per 1 million tokens.'));

		live = E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Now')),
			E('div', { 'id': 'hearth-endpoints' }, render.endpointsTable(data[1]))
		]);

		s = m.section(form.TypedSection, 'balancer', _('Balancer'));
		s.addremove = true;
		s.anonymous = true;
		o = s.option(form.DynamicList, 'listen', _('Listen on'), _('LAN address:port, e.g. 192.168.1.1:8080'));
		o.datatype = 'ipaddrport(1)';
		o = s.option(form.Flag, 'allow_wan', _('Allow a WAN or wildcard address'));
		o = s.option(form.ListValue, 'strategy', _('Strategy'));
		strategies(o);
		o = s.option(form.Value, 'llm_month', _('Household LLM budget per month'));
		o.datatype = 'ufloat';
		o.optional = true;
		o = s.option(form.Value, 'request_timeout', _('Request timeout (s)'));
		o.datatype = 'range(1,86400)';
		o.optional = true;
		o = s.option(form.Value, 'retries', _('Retries on another endpoint'));
		o.datatype = 'range(0,10)';
		o.optional = true;
		o = s.option(form.Value, 'anomaly_factor', _('Spend anomaly factor (0 = off)'));
		o.datatype = 'ufloat';
		o.optional = true;
		o = s.option(form.Flag, 'anomaly_shift', _('Send a flagged device to the cheapest endpoint'));

		s = m.section(form.TypedSection, 'endpoint', _('Endpoints'));
		s.addremove = true;
		s.anonymous = false;
		o = s.option(form.Value, 'url', _('Base URL'), _('e.g. https://api.openai.com/v1 or http://192.168.1.10:11434/v1'));
		o.rmempty = false;
		o = s.option(form.Value, 'api_key_file', _('API key file'), _('A root-only file holding the key'));
		o.optional = true;
		o = s.option(form.DynamicList, 'model', _('Models'), _('Names or globs such as gpt-4o*'));
		o = s.option(form.Value, 'price_input', _('Input price per 1M tokens'));
		o.datatype = 'ufloat';
		o.optional = true;
		o = s.option(form.Value, 'price_output', _('Output price per 1M tokens'));
		o.datatype = 'ufloat';
		o.optional = true;
		o = s.option(form.Value, 'weight', _('Weight'));
		o.datatype = 'range(1,1000)';
		o.optional = true;
		o = s.option(form.Value, 'health_check', _('Health check interval (s, 0 = passive only)'));
		o.datatype = 'range(0,86400)';
		o.optional = true;

		s = m.section(form.TypedSection, 'route', _('Routes'), _('Matched in order; the first match decides the endpoints.'));
		s.addremove = true;
		s.anonymous = false;
		o = s.option(form.Value, 'match_model', _('Model'));
		o.optional = true;
		o = s.option(form.Value, 'match_group', _('Group'));
		o.datatype = 'uciname';
		o.optional = true;
		o = s.option(form.DynamicList, 'endpoint', _('Endpoints'));
		o.datatype = 'uciname';
		o = s.option(form.ListValue, 'strategy', _('Strategy'));
		o.value('', _('the balancer\'s'));
		strategies(o);
		o.optional = true;

		poll.add(function() {
			return L.resolveDefault(callEndpoints(), {}).then(function(ep) {
				var el = document.getElementById('hearth-endpoints');
				if (el) L.dom.content(el, render.endpointsTable(ep));
			});
		}, 5);

		return m.render().then(function(node) {
			node.insertBefore(live, node.querySelector(':scope > .cbi-section'));
			return node;
		});
	}
});
