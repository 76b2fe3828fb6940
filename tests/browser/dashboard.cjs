// Drives hearth's dashboard in headless Chromium (Debian's `chromium`) with playwright-core.
// Run by tests/tests/dashboard_browser.rs against a real `hearth run`; prints one JSON line
// with what it saw and exits non-zero on the first failed expectation.
//
// Environment:
//   HEARTH_DASHBOARD   base URL, e.g. http://127.0.0.1:PORT
//   HEARTH_TOKEN       the dashboard token
//   HEARTH_BALANCER    the balancer's base URL (http://127.0.0.1:PORT/v1), for live traffic
//   HEARTH_SCREENSHOT  where to write the PNG
//   PLAYWRIGHT_CORE    path of the playwright-core package
//   CHROMIUM           the browser binary (default /usr/bin/chromium)
'use strict';

const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const base = process.env.HEARTH_DASHBOARD;
const token = process.env.HEARTH_TOKEN;
const balancer = process.env.HEARTH_BALANCER;
const seen = {};

function expect(ok, what) {
	if (!ok) throw new Error('expectation failed: ' + what + ' (seen so far: ' + JSON.stringify(seen) + ')');
}

async function chat() {
	const r = await fetch(balancer + '/chat/completions', {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ model: 'm', messages: [ { role: 'user', content: 'hi' } ] })
	});
	expect(r.status === 200, 'the balancer answers a chat request (got ' + r.status + ')');
	await r.text();
}

async function main() {
	// The token is enforced on the page and on the JSON (no browser needed to see that).
	for (const path of [ '/hearth/', '/status', '/devices', '/endpoints', '/usage' ]) {
		const none = await fetch(base + path, { redirect: 'manual' });
		expect(none.status === 401, path + ' without a token is 401 (got ' + none.status + ')');
		const wrong = await fetch(base + path, { headers: { authorization: 'Bearer ' + token.replace(/.$/, c => c === 'a' ? 'b' : 'a') } });
		expect(wrong.status === 401, path + ' with a wrong token is 401 (got ' + wrong.status + ')');
	}
	seen.token_enforced = true;

	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: [ '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--no-first-run' ]
	});
	const problems = [];
	try {
		const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
		page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.type() + ': ' + m.text()); });
		page.on('pageerror', e => problems.push('pageerror: ' + e.message));
		page.on('requestfailed', r => problems.push('requestfailed: ' + r.url()));

		// Without the token the browser gets the 401 page.
		const denied = await page.goto(base + '/hearth/');
		expect(denied.status() === 401, 'the page without a token is 401');
		expect((await page.textContent('h1')).includes('token required'), 'the 401 page says a token is required');
		// Chromium logs the 401 itself: expected here, not later. Let everything this page
		// asked for settle first, so nothing of it is counted later.
		await page.waitForLoadState('networkidle');
		problems.length = 0;

		// With ?token= the server sets the cookie and sends the browser to /hearth/.
		const resp = await page.goto(base + '/hearth/?token=' + encodeURIComponent(token));
		expect(resp.status() === 200, 'the page with the token loads (got ' + resp.status() + ')');
		expect(new URL(page.url()).search === '', 'the token left the address bar: ' + page.url());
		const cookies = await page.context().cookies();
		expect(cookies.some(c => c.name === 'hearth_token' && c.httpOnly && c.sameSite === 'Strict'),
			'an HttpOnly SameSite=Strict cookie carries the token');

		// Live numbers: the device row shows the requests the test sent before the page opened.
		const row = '[data-device="laptop"] [data-field="llm_requests"]';
		await page.waitForSelector(row, { timeout: 15000 });
		const before = Number(await page.getAttribute(row, 'data-value'));
		seen.requests_before = before;
		expect(before >= 2, 'the page shows the 2 requests sent before it opened (shows ' + before + ')');
		const ep = '[data-endpoint="local"] [data-field="requests"]';
		seen.endpoint_requests_before = Number(await page.getAttribute(ep, 'data-value'));
		expect(seen.endpoint_requests_before >= 2, 'the endpoint row counts them too');
		seen.version = await page.textContent('.hearth-summary dd');
		const spend = Number(await page.getAttribute('[data-device="laptop"] [data-field="llm_spent_month"]', 'data-value'));
		expect(spend > 0, 'the spend bar shows money spent (' + spend + ')');
		seen.spent_before = spend;

		// More traffic while the page is open: the next poll (5 s) shows it without a reload.
		await chat();
		await chat();
		await chat();
		await page.waitForFunction(([sel, n]) => {
			const el = document.querySelector(sel);
			return el && Number(el.getAttribute('data-value')) >= n;
		}, [ row, before + 3 ], { timeout: 20000 });
		seen.requests_after = Number(await page.getAttribute(row, 'data-value'));
		seen.spent_after = Number(await page.getAttribute('[data-device="laptop"] [data-field="llm_spent_month"]', 'data-value'));
		expect(seen.spent_after > seen.spent_before, 'spend grew live');

		// The planner section: heatmap and recommendation.
		await page.waitForSelector('.hearth-heatmap', { timeout: 30000 });
		const loaded = await page.$eval('.hearth-heatmap', img => img.complete && img.naturalWidth > 0);
		expect(loaded, 'the heatmap image renders');
		seen.recommendation = await page.textContent('[data-field="recommendation"]');
		expect(seen.recommendation.length > 0, 'a recommendation is shown');

		await page.screenshot({ path: process.env.HEARTH_SCREENSHOT, fullPage: true });
		seen.screenshot = process.env.HEARTH_SCREENSHOT;
		expect(problems.length === 0, 'no console errors or warnings: ' + problems.join(' | '));
	} finally {
		await browser.close();
	}
	console.log(JSON.stringify(seen));
}

main().catch(e => { console.error(String(e && e.stack || e)); process.exit(1); });
