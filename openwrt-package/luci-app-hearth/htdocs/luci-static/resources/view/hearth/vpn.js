'use strict';
'require view';
'require form';
'require uci';
'require rpc';
'require hearth.render as render';

/*
 * Services → hearth → VPN: VPN policies (which interface and routing table a group's traffic
 * uses, kill switch) and the WireGuard peers of links hearth manages itself, edited in
 * /etc/config/hearth; the VPN links' state comes from ubus hearth status (links).
 */

var callStatus = rpc.declare({ object: 'hearth', method: 'status' });

return view.extend({
	load: function() {
		return Promise.all([ uci.load('hearth'), L.resolveDefault(callStatus(), {}) ]);
	},

	render: function(data) {
		var live, m, s, o, st = data[1] || {};
		m = new form.Map('hearth', _('VPN'),
			_('A group (or device) with option vpn sends its traffic through that VPN policy.'));

		var links = (st.links || []).filter(function(l) { return l.role === 'vpn'; });
		live = E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Links')),
			links.length ? E('ul', {}, links.map(function(l) {
				return E('li', { 'data-field': 'link', 'data-value': l.state }, l.device + ': ' + l.state);
			})) : E('p', {}, st.error ? st.error : _('No VPN link configured.'))
		]);

		s = m.section(form.TypedSection, 'vpn', _('VPN policies'));
		s.addremove = true;
		s.anonymous = false;
		o = s.option(form.Value, 'interface', _('Interface'), _('e.g. wg0'));
		o.datatype = 'netdevname';
		o.rmempty = false;
		o = s.option(form.Value, 'gateway', _('Gateway'), _('Empty for a point-to-point link'));
		o.datatype = 'ipaddr';
		o.optional = true;
		o = s.option(form.Value, 'table', _('Routing table'));
		o.datatype = 'uinteger';
		o = s.option(form.Flag, 'kill_switch', _('Kill switch'), _('Drop the traffic when the VPN is down instead of using the WAN'));
		o = s.option(form.Flag, 'manage_link', _('hearth manages the WireGuard link'));
		o = s.option(form.Value, 'private_key_file', _('Private key file'));
		o.depends('manage_link', '1');
		o = s.option(form.Value, 'listen_port', _('Listen port'));
		o.datatype = 'port';
		o.depends('manage_link', '1');
		o = s.option(form.DynamicList, 'address', _('Addresses'));
		o.datatype = 'cidr';
		o.depends('manage_link', '1');

		s = m.section(form.TypedSection, 'wireguard_peer', _('WireGuard peers'));
		s.addremove = true;
		s.anonymous = true;
		o = s.option(form.Value, 'vpn', _('VPN policy'));
		o.datatype = 'uciname';
		o = s.option(form.Value, 'public_key', _('Public key'));
		o = s.option(form.Value, 'endpoint', _('Endpoint'), _('host:port'));
		o = s.option(form.DynamicList, 'allowed_ips', _('Allowed IPs'));
		o.datatype = 'cidr';
		o = s.option(form.Value, 'persistent_keepalive', _('Keepalive (s)'));
		o.datatype = 'range(0,65535)';
		o.optional = true;

		return m.render().then(function(node) {
			node.insertBefore(live, node.querySelector(':scope > .cbi-section'));
			return node;
		});
	}
});
