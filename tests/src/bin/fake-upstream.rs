//! `fake-upstream`: the fake OpenAI-compatible upstream of `hearth_e2e::fake_upstream` as a
//! process, for benchmarks. Prints `listening on ADDR` once it accepts connections and serves
//! until SIGTERM or Ctrl-C. Requests are not recorded (memory stays flat), unless `--summary`
//! asks for a count of what was served, printed as one JSON line at exit (the demo's
//! upstream-side tally).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use hearth_e2e::fake_upstream::{Behaviour, FakeUpstream};

const USAGE: &str = "\
usage: fake-upstream --listen ADDR:PORT [--name NAME] [--mode ok|stream] [--chunks N]
                     [--delay-ms D] [--models ID,ID,...] [--threads N] [--summary]

  --listen    address to bind (port 0 picks one; the line `listening on ADDR` tells which)
  --name      upstream name carried by every answer (default: fake)
  --mode      ok: JSON answers (a request with \"stream\": true gets 3 chunks at once), after
                  --delay-ms before the headers;
              stream: every chat/completions answer is SSE with --chunks content chunks,
                  each --delay-ms after the previous event (default: ok)
  --chunks    content chunks per stream in stream mode (default: 3)
  --delay-ms  see --mode (default: 0)
  --models    ids listed by GET /v1/models (default: fake-model)
  --threads   runtime worker threads (default: 2)
  --summary   record requests and print at exit one JSON line: the completions answered
              with 200 per model, and the prompt tokens billed for them";

/// The command line, parsed.
struct Args {
    /// Where to listen.
    listen: SocketAddr,
    /// The upstream's name.
    name: String,
    /// `true` for `--mode stream`.
    stream: bool,
    /// Content chunks per stream.
    chunks: usize,
    /// Gap, see `--mode`.
    delay: Duration,
    /// Model ids of `GET /v1/models`.
    models: Option<Vec<String>>,
    /// Tokio worker threads.
    threads: usize,
    /// Whether to record and print the summary at exit.
    summary: bool,
}

impl Args {
    fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut listen = None;
        let mut args = Args {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            name: "fake".to_owned(),
            stream: false,
            chunks: 3,
            delay: Duration::ZERO,
            models: None,
            threads: 2,
            summary: false,
        };
        while let Some(flag) = argv.next() {
            if flag == "--help" || flag == "-h" {
                return Err(String::new());
            }
            if flag == "--summary" {
                args.summary = true;
                continue;
            }
            let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = |what: &str| {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{what} must be a whole number, not {value:?}"))
            };
            match flag.as_str() {
                "--listen" => {
                    let addr = value
                        .parse()
                        .map_err(|_| format!("--listen must be ADDR:PORT, not {value:?}"))?;
                    listen = Some(addr);
                }
                "--name" => args.name = value,
                "--mode" => {
                    args.stream = match value.as_str() {
                        "ok" => false,
                        "stream" => true,
                        _ => return Err(format!("--mode must be ok or stream, not {value:?}")),
                    }
                }
                "--chunks" => args.chunks = number("--chunks")? as usize,
                "--delay-ms" => args.delay = Duration::from_millis(number("--delay-ms")?),
                "--models" => {
                    args.models = Some(value.split(',').map(str::to_owned).collect());
                }
                "--threads" => args.threads = (number("--threads")? as usize).max(1),
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        args.listen = listen.ok_or("--listen is required")?;
        Ok(args)
    }

    /// The default behaviour the options describe.
    fn behaviour(&self) -> Behaviour {
        if self.stream {
            Behaviour::stream(self.chunks, self.delay)
        } else if self.delay.is_zero() {
            Behaviour::Ok
        } else {
            Behaviour::StallBeforeHeaders(self.delay)
        }
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("fake-upstream: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fake-upstream: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let upstream = match FakeUpstream::start_on(args.listen, &args.name).await {
        Ok(upstream) => upstream,
        Err(e) => {
            eprintln!("fake-upstream: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    upstream.set_recording(args.summary);
    upstream.set_default(args.behaviour());
    if let Some(models) = args.models.clone() {
        upstream.set_models(models);
    }
    println!("listening on {}", upstream.addr);
    if let Err(e) = until_terminated().await {
        eprintln!("fake-upstream: cannot wait for signals: {e}");
    }
    if args.summary {
        println!("{}", summary(&upstream));
    }
    upstream.stop().await;
    ExitCode::SUCCESS
}

/// Returns on SIGTERM or SIGINT.
async fn until_terminated() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => Ok(()),
        interrupted = tokio::signal::ctrl_c() => interrupted,
    }
}

/// The `--summary` line: completions answered with 200, per model, with the prompt tokens the
/// fake billed for them (its rule: body bytes / 4, rounded up).
fn summary(upstream: &FakeUpstream) -> serde_json::Value {
    let mut by_model = serde_json::Map::new();
    let (mut requests, mut prompt_tokens) = (0u64, 0u64);
    for r in upstream.requests() {
        if !r.path.ends_with("/completions") || r.status != Some(200) {
            continue;
        }
        requests += 1;
        prompt_tokens += (r.body.len() as u64).div_ceil(4);
        let model = r.model.unwrap_or_default();
        let n = by_model.get(&model).and_then(|v| v.as_u64()).unwrap_or(0);
        by_model.insert(model, (n + 1).into());
    }
    serde_json::json!({
        "name": upstream.name(),
        "requests": requests,
        "prompt_tokens": prompt_tokens,
        "by_model": by_model,
    })
}
