'use strict';
/*
 * hearth's dashboard script: fetches the daemon's JSON (the hearth_token cookie carries the
 * token), renders it with window.hearthRender (LuCI's hearth.render module, served wrapped
 * as /hearth/render.js) and refreshes every 5 seconds, like the LuCI overview's poll.
 * Provides the two globals hearth.render expects from LuCI: E() and _().
 */
(function () {
	var POLL_MS = 5000;

	function append(el, c) {
		if (c == null) return;
		if (Array.isArray(c)) { c.forEach(function (x) { append(el, x); }); return; }
		el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
	}

	/* LuCI's E(tag, [attrs], [children]): functions become event listeners. */
	window.E = function (tag, attrs, children) {
		var el = document.createElement(tag);
		if (attrs != null && (typeof attrs !== 'object' || Array.isArray(attrs) || attrs instanceof Node)) {
			children = attrs;
			attrs = null;
		}
		Object.keys(attrs || {}).forEach(function (k) {
			var v = attrs[k];
			if (v == null) return;
			if (typeof v === 'function') el.addEventListener(k, v);
			else el.setAttribute(k, v);
		});
		append(el, children);
		return el;
	};
	window._ = function (s) { return s; };

	var render = window.hearthRender;

	function get(path) {
		return fetch(path, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
			if (r.status === 401) throw new Error('the token is missing or wrong: open /hearth/?token=TOKEN');
			return r.json();
		});
	}

	function put(id, node) {
		var el = document.getElementById(id);
		while (el.firstChild) el.removeChild(el.firstChild);
		el.appendChild(node);
	}

	var planLoaded = false;

	function loadPlan() {
		planLoaded = true;
		document.getElementById('planner-section').hidden = false;
		put('plan', E('p', {}, 'planning…'));
		get('/plan').then(function (p) { put('plan', render.planView(p)); })
			.catch(function (e) { put('plan', render.planView({ error: String(e.message || e) })); });
	}

	function refresh() {
		return Promise.all([ get('/status'), get('/devices'), get('/endpoints'), get('/usage') ])
			.then(function (all) {
				var st = all[0], dv = all[1], ep = all[2], us = all[3];
				put('status', render.statusSummary(st));
				put('warnings', render.warnings(st, ep));
				put('devices', render.devicesTable(dv));
				put('endpoints', render.endpointsTable(ep));
				put('usage', render.usageTable(us, dv.currency));
				if (!planLoaded && st.planner && st.planner.configured) loadPlan();
				var u = document.getElementById('updated');
				u.textContent = 'updated ' + new Date().toLocaleTimeString();
				u.setAttribute('data-value', String(Date.now()));
			})
			.catch(function (e) {
				put('status', render.statusSummary({ error: 'hearth is not reachable: ' + (e.message || e) }));
			});
	}

	refresh();
	setInterval(refresh, POLL_MS);
})();
