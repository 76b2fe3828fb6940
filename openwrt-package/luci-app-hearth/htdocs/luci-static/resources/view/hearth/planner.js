'use strict';
'require view';
'require form';
'require uci';
'require rpc';
'require hearth.render as render';

/*
 * Services → hearth → Wi-Fi planner: the survey and the home (planner section of
 * /etc/config/hearth), and the planner's report for it: the predicted-signal heatmap and
 * the recommendation (ubus hearth plan; the plugin runs the planner on the survey).
 */

var callPlan = rpc.declare({ object: 'hearth', method: 'plan' });

return view.extend({
	load: function() {
		return Promise.all([ uci.load('hearth'), L.resolveDefault(callPlan(), { error: _('The planner did not answer.') }) ]);
	},

	render: function(data) {
		var live, m, s, o;
		m = new form.Map('hearth', _('Wi-Fi planner'),
			_('Walk through the home with a phone, record the signal per room (CSV or JSON, see docs/planner.md), store the file on the router and name it here. Save & Apply, then reload this page for a new report.'));

		live = E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Report')),
			E('div', { 'id': 'hearth-plan' }, render.planView(data[1]))
		]);

		s = m.section(form.TypedSection, 'planner', _('Home and survey'));
		s.addremove = true;
		s.anonymous = false;
		o = s.option(form.Value, 'survey', _('Survey file'), _('CSV or JSON; relative to /etc/config'));
		o = s.option(form.Value, 'target_rssi', _('Target signal (dBm)'));
		o.datatype = 'range(-100,-30)';
		o.placeholder = '-67';
		o = s.option(form.Value, 'budget', _('Hardware budget'));
		o.datatype = 'ufloat';
		o = s.option(form.Value, 'width', _('Width (m)'));
		o.datatype = 'ufloat';
		o = s.option(form.Value, 'height', _('Depth (m)'));
		o.datatype = 'ufloat';
		o = s.option(form.Value, 'floors', _('Floors'));
		o.datatype = 'range(1,10)';
		o = s.option(form.DynamicList, 'ap', _('Access points'), _('ID:X,Y,FLOOR[:STANDARD], e.g. main:1,1,0:wifi6'));

		return m.render().then(function(node) {
			node.insertBefore(live, node.querySelector(':scope > .cbi-section'));
			return node;
		});
	}
});
