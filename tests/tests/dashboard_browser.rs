//! hearth's own dashboard (`/hearth/` on `dashboard_listen`) in a real browser: headless
//! Chromium driven by playwright-core (tests/browser/dashboard.cjs) against a real `hearth
//! run` with a fake upstream, a device, a budget and a planner survey. Checked: the token is
//! enforced on the page and on the JSON; `?token=` sets an HttpOnly cookie and leaves the
//! address bar; the page loads with no console error or warning; it shows the device's and
//! endpoint's live numbers and updates them after more traffic without a reload; the planner
//! heatmap renders. The screenshot is written to `target/browser/dashboard.png` (a CI
//! artifact).
//!
//! Needs `node`, Debian's `chromium` and the npm package `playwright-core` (scripts/test.sh
//! installs all three). When one is missing the test says which and skips — unless
//! `HEARTH_REQUIRE_BROWSER=1` (set by scripts/test.sh), when it fails instead.

use std::path::PathBuf;
use std::process::Command;

use hearth_e2e::client::{chat_body, Client, CHAT};
use hearth_e2e::daemon::{balancer_section, endpoint_section, free_port, Hearth};
use hearth_e2e::fake_upstream::FakeUpstream;
use hearth_e2e::workspace_root;

const TOKEN: &str = "d4shb0ard-t0ken-for-the-test";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// What the browser lane needs, or the list of what is missing.
struct Tools {
    chromium: PathBuf,
    playwright: PathBuf,
}

fn tools() -> Result<Tools, Vec<String>> {
    let mut missing = Vec::new();
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node (Debian package nodejs)".to_string());
    }
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        missing.push(format!("{} (Debian package chromium)", chromium.display()));
    }
    let playwright = std::env::var_os("PLAYWRIGHT_CORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("tools/browser/node_modules/playwright-core"));
    if !playwright.join("package.json").exists() {
        missing.push(format!(
            "npm package playwright-core at {} (npm install --prefix target/tools/browser playwright-core)",
            playwright.display()
        ));
    }
    if missing.is_empty() {
        Ok(Tools {
            chromium,
            playwright,
        })
    } else {
        Err(missing)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium_shows_live_numbers_behind_the_token() {
    let tools = match tools() {
        Ok(t) => t,
        Err(missing) => {
            let msg = format!(
                "browser test SKIPPED: missing {}; scripts/test.sh installs them",
                missing.join(", ")
            );
            if std::env::var_os("HEARTH_REQUIRE_BROWSER").is_some_and(|v| v == "1") {
                panic!("{msg} (and HEARTH_REQUIRE_BROWSER=1 forbids skipping)");
            }
            eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
            return;
        }
    };
    let up = FakeUpstream::start("local").await;
    let dash_port = free_port();
    let survey = workspace_root().join("configs/demo-survey.csv");
    let h = Hearth::start(|s| {
        let token_file = s.dir.join("dashboard.token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write the token file");
        let mut t = format!(
            "config agent 'main'\n\toption runtime_dir '{run}'\n\toption state_dir '{state}'\n\
             \toption dashboard_listen '127.0.0.1:{dash_port}'\n\toption dashboard_token_file '{tf}'\n",
            run = s.dir.join("run").display(),
            state = s.dir.join("state").display(),
            tf = token_file.display(),
        );
        t.push_str(&balancer_section(s.listen, &[]));
        t.push_str(
            "config group 'family'\n\toption llm_month '20'\n\
             config device 'laptop'\n\toption mac '02:00:00:00:00:31'\n\tlist ip '127.0.0.1'\n\
             \toption group 'family'\n\toption label 'Laptop'\n",
        );
        t.push_str(&endpoint_section(
            "local",
            &up.base_url(),
            &["m"],
            &[("price_input", "1000"), ("price_output", "1000")],
        ));
        t.push_str(&format!(
            "config planner 'home'\n\toption survey '{}'\n\tlist ap 'main:1,1,0:wifi5'\n",
            survey.display()
        ));
        t
    })
    .await;
    assert!(
        h.lines().iter().any(|l| l.contains(&format!(
            "dashboard on http://127.0.0.1:{dash_port}/hearth/"
        ))),
        "the control subsystem logs the dashboard's address"
    );
    // Two requests before the page opens.
    for _ in 0..2 {
        let mut c = Client::connect(h.addr).await;
        let a = c
            .send("POST", CHAT, &[], &chat_body("m", false, None))
            .await
            .expect("answered");
        assert_eq!(a.status, 200, "{}", a.text());
    }
    h.wait_settlements(2).await;

    let shot = target_dir().join("browser/dashboard.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    let script = workspace_root().join("tests/browser/dashboard.cjs");
    // The daemon runs on this test's runtime: wait for node without blocking it.
    let mut child = Command::new("node")
        .arg(&script)
        .env("HEARTH_DASHBOARD", format!("http://127.0.0.1:{dash_port}"))
        .env("HEARTH_TOKEN", TOKEN)
        .env("HEARTH_BALANCER", h.base_url())
        .env("HEARTH_SCREENSHOT", &shot)
        .env("PLAYWRIGHT_CORE", &tools.playwright)
        .env("CHROMIUM", &tools.chromium)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run node");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().expect("wait for node").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().expect("collect node's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    eprintln!("dashboard: {seen}");
    assert_eq!(seen["token_enforced"], true);
    assert!(seen["requests_after"].as_u64() >= Some(5), "{seen}");
    let png = std::fs::read(&shot).expect("the screenshot exists");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    let (status, _) = h.terminate().await;
    assert!(status.success());
}
