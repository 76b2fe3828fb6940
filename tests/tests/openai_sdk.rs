//! A real client against the real balancer: the official `openai` Python SDK
//! (`tests/python/openai_client.py`) talks to `hearth run` in front of a fake upstream, all on
//! 127.0.0.1, and must get what it gets from OpenAI — models, a chat completion, streams
//! without and with `include_usage`, embeddings, and a typed `NotFoundError` for an unknown
//! model.
//!
//! The interpreter is `$HEARTH_PYTHON` (default `python3`); `scripts/test.sh` installs the SDK
//! into a venv and exports it. Without the SDK the test says SKIPPED, loudly, and passes.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hearth_e2e::daemon::{balancer_section, endpoint_section, Hearth};
use hearth_e2e::fake_upstream::FakeUpstream;
use hearth_e2e::workspace_root;
use serde_json::{json, Value};

/// How long the interpreter may take for the import check and for the whole client run.
const IMPORT_PATIENCE: Duration = Duration::from_secs(60);
const RUN_PATIENCE: Duration = Duration::from_secs(120);

/// The Python interpreter to use.
fn python() -> String {
    std::env::var("HEARTH_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs `cmd` to its end, at most `within` (then kills it); `None` if it could not start or
/// ran out of time.
fn run_bounded(mut cmd: Command, within: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let mut out = child.stdout.take()?;
    let mut err = child.stderr.take()?;
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + within;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    Some(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// Whether the interpreter can `import openai`.
fn sdk_available(python: &str) -> bool {
    let mut cmd = Command::new(python);
    cmd.args(["-c", "import openai"]);
    run_bounded(cmd, IMPORT_PATIENCE).is_some_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_python_sdk_works_through_hearth() {
    let python = python();
    let probe = python.clone();
    let available = tokio::task::spawn_blocking(move || sdk_available(&probe))
        .await
        .expect("import check");
    if !available {
        eprintln!(
            "\n*** SKIPPED: the openai Python SDK is not installed (scripts/test.sh installs it); \
             '{python} -c \"import openai\"' failed. Set HEARTH_PYTHON to an interpreter that has it. ***\n"
        );
        return;
    }

    let alpha = FakeUpstream::start("alpha").await;
    let a = alpha.base_url();
    let h = Hearth::start(|s| {
        format!(
            "{}{}",
            balancer_section(s.listen, &[]),
            endpoint_section(
                "alpha",
                &a,
                &["gpt-4o-mini", "text-embedding-3-small"],
                &[("api_key", "sk-upstream-key")]
            ),
        )
    })
    .await;

    let script = workspace_root().join("tests/python/openai_client.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script).arg(h.base_url());
    // The SDK must talk to hearth directly, whatever proxy the environment has.
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_PROXY", "127.0.0.1").env("OPENAI_LOG", "");
    let output = tokio::task::spawn_blocking(move || run_bounded(cmd, RUN_PATIENCE))
        .await
        .expect("client thread")
        .unwrap_or_else(|| {
            panic!(
                "{python} {} did not finish within {RUN_PATIENCE:?}",
                script.display()
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary; stdout:\n{stdout}\nstderr:\n{stderr}"));
    assert!(
        output.status.success(),
        "the client failed ({}): {summary}\nstderr:\n{stderr}",
        output.status
    );
    assert_eq!(summary["problems"], json!([]), "{summary}");

    // What the SDK saw.
    assert_eq!(
        summary["models"],
        json!(["gpt-4o-mini", "text-embedding-3-small"])
    );
    let records = alpha.requests();
    let posts: Vec<_> = records.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 4, "chat, two streams, embeddings");
    let prompt = |i: usize| (posts[i].body.len() as u64).div_ceil(4);
    assert_eq!(summary["chat"]["content"], "hello from alpha");
    assert_eq!(summary["chat"]["finish_reason"], "stop");
    assert_eq!(summary["chat"]["usage"], json!([prompt(0), 3]));
    assert_eq!(
        summary["stream"]["content"],
        "alpha:tok0 alpha:tok1 alpha:tok2 "
    );
    assert_eq!(summary["stream"]["usage_seen"], false);
    assert_eq!(summary["stream"]["empty_choices"], 0);
    assert_eq!(
        summary["stream_with_usage"]["content"],
        "alpha:tok0 alpha:tok1 alpha:tok2 "
    );
    assert_eq!(summary["stream_with_usage"]["last_chunk_choices"], 0);
    assert_eq!(summary["stream_with_usage"]["usage"], json!([prompt(2), 3]));
    assert_eq!(summary["embeddings"], json!([8, 8]));
    assert_eq!(
        summary["not_found"],
        json!({"status": 404, "code": "model_not_found"})
    );

    // What the upstream saw: hearth's key, never the SDK's; usage asked for in both streams.
    for r in &records {
        assert_eq!(r.header("authorization"), Some("Bearer sk-upstream-key"));
    }
    assert!(posts[1].stream && posts[1].include_usage());
    assert!(posts[2].stream && posts[2].include_usage());
    assert_eq!(posts[3].path, "/v1/embeddings");

    // And hearth settled every request: four answered, the unknown model failed.
    let settled = h.wait_settlements(5).await;
    let outcomes: Vec<&str> = settled.iter().map(|s| s.outcome.as_str()).collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "ok", "rejected"]);
    assert!(
        settled[..4].iter().all(|s| !s.tokens().2),
        "real usage everywhere"
    );
}
