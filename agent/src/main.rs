//! The `hearth` command line. Everything real lives in the library; this file parses
//! arguments, calls it, and maps outcomes to exit codes:
//! 0 success, 1 operational failure (I/O, runtime), 2 invalid config or usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hearth::config::{self, LoadError};
use hearth::uci;

/// Exit code for an invalid config (also what clap uses for bad usage).
const EXIT_INVALID: u8 = 2;

#[derive(Parser)]
#[command(
    name = "hearth",
    version,
    about = "Home router agent: traffic shaping, VPN policy, LLM request balancing, Wi-Fi planning",
    long_about = "hearth runs on an OpenWRT (or DD-WRT) router. It shapes traffic and applies VPN \
policy through netlink, balances the household's OpenAI-compatible LLM requests across upstreams \
within budgets, and plans Wi-Fi coverage. It is configured by the UCI file /etc/config/hearth \
and started by procd (/etc/init.d/hearth).\n\nStart with: hearth check",
    after_help = "Config file: --config PATH, else $HEARTH_CONFIG, else /etc/config/hearth.\n\
Exit codes: 0 ok, 1 failure, 2 invalid config or usage."
)]
struct Cli {
    /// The UCI config file to use [default: $HEARTH_CONFIG, else /etc/config/hearth]
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent in the foreground (procd starts this); SIGHUP reloads, SIGTERM stops
    Run,
    /// Apply traffic shaping to the kernel once (through netlink), then exit
    Apply {
        /// Print the plan without touching the kernel (needs no root)
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        /// Remove everything hearth put on the shaped devices
        #[arg(long, conflicts_with = "dry_run")]
        remove: bool,
        /// Print the byte/packet/drop counters of every planned class instead (JSON lines)
        #[arg(long, conflicts_with_all = ["dry_run", "remove"])]
        counters: bool,
    },
    /// Check the config file and list every problem with its line (exit 2 if invalid)
    Check,
    /// Show what the running agent is doing (asks it over its control socket)
    Status {
        /// Print the raw JSON (what LuCI reads)
        #[arg(long)]
        json: bool,
        /// Print the Prometheus metrics instead
        #[arg(long, conflicts_with = "json")]
        metrics: bool,
    },
    /// Show LLM spend, tokens and data use per device and group against their budgets
    Usage {
        /// Print JSON (what LuCI reads)
        #[arg(long)]
        json: bool,
        /// Only this device (a device section name), with its group and the household
        #[arg(long)]
        device: Option<String>,
        /// Only this group, with its devices
        #[arg(long)]
        group: Option<String>,
        /// Acknowledge a spend anomaly (KEY as shown: device:NAME or endpoint:NAME)
        #[arg(long, value_name = "KEY", conflicts_with_all = ["device", "group"])]
        ack: Option<String>,
    },
    /// Wi-Fi planner: coverage report and ranked recommendations from survey data
    Plan(PlanArgs),
    /// Read and print UCI files (works on any /etc/config file)
    Uci {
        #[command(subcommand)]
        command: UciCommand,
    },
    /// rpcd exec plugin protocol for LuCI ('list', or 'call METHOD' with JSON on stdin)
    Rpcd {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
}

/// `hearth plan` (see docs/planner.md).
#[derive(clap::Args)]
struct PlanArgs {
    /// Survey file, CSV or JSON [default: the planner section's 'survey']
    #[arg(long, value_name = "FILE")]
    survey: Option<PathBuf>,
    /// Print JSON (what LuCI reads) instead of the text report
    #[arg(long)]
    json: bool,
    /// Also write an SVG heatmap of the predicted signal to this file
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// Leave bad survey rows out (each one is reported) instead of rejecting the file
    #[arg(long)]
    skip_bad: bool,
    /// Where an access point stands: ID:X,Y,FLOOR[:STANDARD] (repeat for more; CSV surveys need one)
    #[arg(long = "ap", value_name = "ID:X,Y,FLOOR", value_parser = hearth::planner::ApPlacement::parse)]
    aps: Vec<hearth::planner::ApPlacement>,
    /// The planner section to use when the config has several [default: the first]
    #[arg(long, value_name = "NAME")]
    planner: Option<String>,
    /// Add live radio data (a snapshot written by --collect) to the survey
    #[arg(long, value_name = "FILE", conflicts_with = "collect")]
    snapshot: Option<PathBuf>,
    /// Sample the router's radios (nl80211) for N seconds and write a snapshot instead of planning
    #[arg(long, value_name = "N", conflicts_with_all = ["survey", "svg", "skip_bad", "aps"])]
    collect: Option<u32>,
    /// Where --collect writes the snapshot [default: stdout]
    #[arg(long, value_name = "FILE", requires = "collect")]
    out: Option<PathBuf>,
    /// Skip the mesh placement search (the benchmark's baseline)
    #[arg(long, hide = true)]
    no_search: bool,
}

#[derive(Subcommand)]
enum UciCommand {
    /// Print FILE the way `uci show` prints a package (pkg.section.option='value')
    Show {
        /// The UCI file; its base name is the package name, as with `uci -c DIR show NAME`
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    // rpcd runs the plugin as /usr/libexec/rpcd/hearth (a symlink to this binary).
    let argv: Vec<String> = std::env::args().collect();
    if argv
        .first()
        .is_some_and(|a| hearth::rpcd::invoked_as_plugin(std::path::Path::new(a)))
    {
        return ExitCode::from(hearth::rpcd::main(&argv[1..], config::resolve_path(None)));
    }
    let cli = Cli::parse();
    // A command whose output goes to `head` or a closed pipe ends quietly, as Unix tools do
    // (Rust ignores SIGPIPE, and println! would panic on EPIPE). The daemon keeps ignoring it:
    // a client that hangs up must not kill it.
    if !matches!(cli.command, Command::Run) {
        use nix::sys::signal::{signal, SigHandler, Signal};
        // SAFETY: restores the default disposition before any thread exists; no handler runs.
        let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    }
    match cli.command {
        Command::Check => check(config::resolve_path(cli.config)),
        Command::Uci {
            command: UciCommand::Show { file },
        } => uci_show(&file),
        Command::Run => run(config::resolve_path(cli.config)),
        Command::Apply {
            dry_run,
            json,
            remove,
            counters,
        } => apply(
            config::resolve_path(cli.config),
            dry_run,
            json,
            remove,
            counters,
        ),
        Command::Status { json, metrics } => {
            status(config::resolve_path(cli.config), json, metrics)
        }
        Command::Usage { ack: Some(key), .. } => {
            ack_anomaly(config::resolve_path(cli.config), &key)
        }
        Command::Usage {
            json,
            device,
            group,
            ack: None,
        } => usage(
            config::resolve_path(cli.config),
            json,
            device.as_deref(),
            group.as_deref(),
        ),
        Command::Plan(args) => plan(cli.config, args),
        Command::Rpcd { rest } => {
            ExitCode::from(hearth::rpcd::main(&rest, config::resolve_path(cli.config)))
        }
    }
}

/// `hearth plan`: read the survey (I/O here), plan (pure), print and write the heatmap.
fn plan(cli_config: Option<PathBuf>, args: PlanArgs) -> ExitCode {
    use hearth::planner;
    if let Some(secs) = args.collect {
        return plan_collect(secs, args.out.as_deref());
    }
    let explicit =
        cli_config.is_some() || std::env::var_os("HEARTH_CONFIG").is_some_and(|v| !v.is_empty());
    let path = config::resolve_path(cli_config);
    let cfg = match config::load(&path) {
        Ok(c) => Some(c),
        Err(LoadError::Uci(uci::UciError::Io { .. })) if !explicit && args.survey.is_some() => {
            eprintln!(
                "hearth plan: no config at {}; using the defaults (target -67 dBm, budget 0)",
                path.display()
            );
            None
        }
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            return match e {
                LoadError::Uci(uci::UciError::Io { .. }) => ExitCode::FAILURE,
                _ => ExitCode::from(EXIT_INVALID),
            };
        }
    };
    let request = planner::run::Request {
        survey: args.survey,
        skip_bad: args.skip_bad,
        aps: args.aps,
        planner: args.planner,
        search: !args.no_search,
        snapshot: args.snapshot,
    };
    let outcome = match planner::run::run(cfg.as_ref(), &path, request) {
        Ok(o) => o,
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            return match e {
                planner::run::RunError::Io(_) => ExitCode::FAILURE,
                planner::run::RunError::Invalid(_) => ExitCode::from(EXIT_INVALID),
            };
        }
    };
    for p in &outcome.skipped {
        eprintln!("hearth plan: skipped {p}");
    }
    let (result, name, skipped, live) =
        (outcome.plan, outcome.input, outcome.skipped, outcome.live);
    if let Some(out) = &args.svg {
        if let Err(e) = std::fs::write(out, planner::svg::render(&result)) {
            eprintln!("hearth plan: cannot write {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
    }
    if args.json {
        let v = planner::report::to_json(&result, &name, &skipped);
        match serde_json::to_string_pretty(&v) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("hearth plan: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", planner::report::to_text(&result, &name, &skipped));
        if !live.is_empty() {
            println!("\nLive radio data:");
            for n in &live {
                println!("  - {n}");
            }
        }
    }
    ExitCode::SUCCESS
}

/// `hearth plan --collect N [--out FILE]`: sample the radios (I/O in `wifi::collect`), write
/// the snapshot (JSON) to FILE or stdout, and a summary for people to stderr.
fn plan_collect(secs: u32, out: Option<&std::path::Path>) -> ExitCode {
    use hearth::wifi;
    let max = wifi::collect::MAX_WINDOW_S;
    if secs == 0 || secs > max {
        eprintln!("hearth plan: --collect takes 1 to {max} seconds, got {secs}");
        return ExitCode::from(EXIT_INVALID);
    }
    eprintln!("hearth plan: sampling the radios for {secs} s ...");
    let snap = match wifi::collect::collect(std::time::Duration::from_secs(u64::from(secs))) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hearth plan: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = match serde_json::to_string_pretty(&wifi::file::to_json(&snap)) {
        Ok(t) => t + "\n",
        Err(e) => {
            eprintln!("hearth plan: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprint!("{}", wifi::summary(&snap));
    match out {
        Some(path) => {
            // Written whole next to the target, then renamed: a reader never sees half a file.
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".tmp");
            let tmp = PathBuf::from(tmp);
            if let Err(e) = std::fs::write(&tmp, &text).and_then(|_| std::fs::rename(&tmp, path)) {
                let _ = std::fs::remove_file(&tmp);
                eprintln!("hearth plan: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!(
                "hearth plan: snapshot written to {}; plan with: hearth plan --snapshot {}",
                path.display(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}

/// Where the running agent's control socket is: from the config if it loads, else the default.
fn control_socket(path: &std::path::Path) -> PathBuf {
    let dir = match config::load(path) {
        Ok(cfg) => cfg.agent.runtime_dir,
        Err(_) => config::Agent::default().runtime_dir,
    };
    dir.join(hearth::control::SOCKET_NAME)
}

fn ack_anomaly(path: PathBuf, key: &str) -> ExitCode {
    let socket = control_socket(&path);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hearth usage: {e}");
            return ExitCode::FAILURE;
        }
    };
    let path = format!("/anomaly/ack?key={key}");
    match rt.block_on(hearth::control::request(&socket, http::Method::POST, &path)) {
        Ok((s, _)) if s.is_success() => {
            println!("acknowledged {key}");
            ExitCode::SUCCESS
        }
        Ok((_, body)) => {
            eprintln!("hearth usage: {body}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "hearth is not running, or not reachable at {} ({e})",
                socket.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn usage(path: PathBuf, json: bool, device: Option<&str>, group: Option<&str>) -> ExitCode {
    use hearth::budget::report;
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    for (what, name, known) in [
        (
            "device",
            device,
            cfg.devices
                .iter()
                .any(|d| Some(d.meta.name.as_str()) == device),
        ),
        (
            "group",
            group,
            group == Some(hearth::config::DEFAULT_GROUP)
                || cfg
                    .groups
                    .iter()
                    .any(|g| Some(g.meta.name.as_str()) == group),
        ),
    ] {
        if let (Some(n), false) = (name, known) {
            eprintln!(
                "hearth usage: no {what} section named '{n}' in {}",
                path.display()
            );
            return ExitCode::from(2);
        }
    }
    let (source, rows) = match report::fetch(&cfg, &control_socket(&path)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hearth usage: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rows = report::filter(&cfg, rows, device, group);
    if json {
        let source = match source {
            report::Source::Daemon => "daemon",
            report::Source::Ledger => "ledger",
        };
        println!(
            "{}",
            serde_json::json!({"source": source, "currency": cfg.agent.currency, "rows": rows})
        );
    } else {
        print!("{}", report::render(&rows, source, &cfg.agent.currency));
    }
    ExitCode::SUCCESS
}

fn status(path: PathBuf, json: bool, metrics: bool) -> ExitCode {
    let socket = control_socket(&path);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hearth status: {e}");
            return ExitCode::FAILURE;
        }
    };
    let what = if metrics { "/metrics" } else { "/status" };
    let body = match rt.block_on(hearth::control::get(&socket, what)) {
        Ok((s, body)) if s.is_success() => body,
        Ok((s, body)) => {
            eprintln!("hearth status: the agent answered {s}: {body}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!(
                "hearth is not running, or not reachable at {} ({e}); start it with /etc/init.d/hearth start",
                socket.display()
            );
            return ExitCode::FAILURE;
        }
    };
    if json || metrics {
        print!("{body}");
        if !body.ends_with('\n') {
            println!();
        }
        return ExitCode::SUCCESS;
    }
    match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(v) => {
            print!("{}", render_status(&v));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hearth status: unreadable answer ({e})");
            ExitCode::FAILURE
        }
    }
}

/// A successful shaping report, as status lines.
fn render_shaping(s: &serde_json::Value) -> Vec<String> {
    let devs: Vec<&str> = s["devices"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let caps = &s["capabilities"];
    vec![format!(
        "shaping {} (leaf {}; kernel: cake {}, fq_codel {}, fw {})",
        devs.join(", "),
        s["leaf"].as_str().unwrap_or("-"),
        caps["cake"],
        caps["fq_codel"],
        caps["fw"]
    )]
}

/// A successful VPN report, as status lines (one per link).
fn render_vpn(vp: &serde_json::Value) -> Vec<String> {
    vp["links"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            format!(
                "vpn {} via {}: link {}",
                l["vpn"].as_str().unwrap_or("?"),
                l["interface"].as_str().unwrap_or("?"),
                l["state"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// The human form of `/status`.
fn render_status(v: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let up = v["uptime_secs"].as_u64().unwrap_or(0);
    let _ = writeln!(
        out,
        "hearth {} running (pid {}, up {}h{:02}m{:02}s), config {} (generation {})",
        v["version"].as_str().unwrap_or("?"),
        v["pid"],
        up / 3600,
        up / 60 % 60,
        up % 60,
        v["config"].as_str().unwrap_or("?"),
        v["generation"]
    );
    let b = &v["balancer"];
    if b["enabled"].as_bool() == Some(true) {
        let listen: Vec<&str> = b["listen"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let _ = writeln!(out, "LLM balancer on {}", listen.join(", "));
        for e in b["endpoints"].as_array().into_iter().flatten() {
            let h = &e["health"];
            let state = match (e["problem"].as_str(), h["state"].as_str()) {
                (Some(p), _) => format!("unusable: {p}"),
                (None, Some("ejected")) => format!(
                    "out of rotation ({}, {}s left)",
                    h["reason"].as_str().unwrap_or("?"),
                    h["seconds_left"]
                ),
                _ => "healthy".to_string(),
            };
            let _ = writeln!(
                out,
                "  {:<16} {:<40} in flight {:<3} {}",
                e["name"].as_str().unwrap_or("?"),
                state,
                e["in_flight"],
                e["url"].as_str().unwrap_or("")
            );
        }
    } else {
        let _ = writeln!(out, "LLM balancer off (no 'config balancer' section)");
    }
    for (what, r, render) in [
        (
            "shaping",
            &v["shaping"],
            render_shaping as fn(&serde_json::Value) -> Vec<String>,
        ),
        ("VPN policy", &v["vpn"], render_vpn),
    ] {
        match (r["enabled"].as_bool(), r["error"].as_str()) {
            (Some(true), Some(e)) => {
                let _ = writeln!(
                    out,
                    "{what} FAILED to apply config generation {}: {e}",
                    r["generation"]
                );
                let kept = &r["in_force"];
                if kept.is_object() {
                    let _ = writeln!(
                        out,
                        "  the kernel keeps what generation {} applied:",
                        kept["generation"]
                    );
                    for line in render(kept) {
                        let _ = writeln!(out, "  {line}");
                    }
                } else {
                    let _ = writeln!(out, "  nothing of it was applied before: none in force");
                }
            }
            (Some(true), None) => {
                for line in render(r) {
                    let _ = writeln!(out, "{line}");
                }
            }
            _ if what == "shaping" => {
                let _ = writeln!(out, "shaping off (no 'config shaper' section)");
            }
            _ => {
                let _ = writeln!(out, "VPN policy off (no 'config vpn' section)");
            }
        }
    }
    let b = &v["budgets"];
    if b.is_object() {
        let list = |k: &str| b[k].as_array().cloned().unwrap_or_default();
        let (warn, out_of) = (list("warnings"), list("exhausted"));
        let _ = writeln!(
            out,
            "budgets: {} request(s) holding a reservation, {} over 80%, {} used up{}",
            b["in_flight"],
            warn.len(),
            out_of.len(),
            if warn.is_empty() && out_of.is_empty() {
                ""
            } else {
                " (hearth usage shows all)"
            }
        );
        for a in list("anomalies") {
            let _ = writeln!(
                out,
                "  SPEND ANOMALY {}: {} micro-units this window, {:.1}x usual (hearth usage --ack {})",
                a["key"].as_str().unwrap_or("?"),
                a["window_spend"],
                a["ratio"].as_f64().unwrap_or(0.0),
                a["key"].as_str().unwrap_or("?")
            );
        }
        for (r, what) in out_of
            .iter()
            .map(|r| (r, "used up"))
            .chain(warn.iter().map(|r| (r, "over 80%")))
        {
            let _ = writeln!(
                out,
                "  {} {} of {} ({}): {what}, resets {}",
                r["option"].as_str().unwrap_or("?"),
                r["metric"].as_str().unwrap_or("?"),
                r["scope"].as_str().unwrap_or("?"),
                r["period_id"].as_str().unwrap_or("?"),
                r["resets_at"].as_str().unwrap_or("?")
            );
        }
    }
    out
}

fn apply(path: PathBuf, dry_run: bool, json: bool, remove: bool, counters: bool) -> ExitCode {
    use hearth::netlink::{shaping as exec, socket::RouteSocket};
    use hearth::shaping::{self, PlanInputs};
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let mut sock = RouteSocket::open().ok();
    let (caps, probed, cached) = match sock
        .as_mut()
        .map(|s| shaping::caps_cache::probe(s, &cfg.agent.runtime_dir))
    {
        Some(Ok((c, cached))) => (c, true, cached),
        _ => (shaping::Capabilities::default(), false, false),
    };
    if !probed && !dry_run {
        eprintln!("hearth apply: cannot use netlink to change traffic control (run as root)");
        return ExitCode::FAILURE;
    }
    // Addresses the neighbour table knows for configured devices count as theirs.
    let learned = hearth::devices::learned(&cfg);
    let plan = match shaping::plan(
        &cfg,
        &PlanInputs {
            caps,
            learned: learned.clone(),
            ..Default::default()
        },
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hearth apply: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let leaf = plan
        .leaf
        .map(|l| format!("{l:?}"))
        .unwrap_or_else(|| "none".into());
    let caps_json = serde_json::json!({"cake": caps.cake, "fq_codel": caps.fq_codel, "fw": caps.fw, "probed": probed, "cached": cached});
    let vpn_plan = hearth::vpn::plan(&cfg, &learned);
    if dry_run {
        if json {
            println!(
                "{}",
                serde_json::json!({"dry_run": true, "leaf": leaf, "capabilities": caps_json, "links": plan_json(&plan), "vpn": hearth::vpn::plan_json(&vpn_plan)})
            );
        } else {
            print!("{}", plan_text(&plan, probed));
            print!("{}", hearth::vpn::plan_text(&vpn_plan));
        }
        return ExitCode::SUCCESS;
    }
    let Some(sock) = sock.as_mut() else {
        return ExitCode::FAILURE;
    };
    if counters {
        return match exec::counters(sock, &plan) {
            Ok(list) => {
                for c in list {
                    println!(
                        "{}",
                        serde_json::json!({"device": c.device, "direction": format!("{:?}", c.direction).to_lowercase(),
                            "class": format!("{:?}", c.role), "bytes": c.bytes, "packets": c.packets,
                            "drops": c.drops, "backlog": c.backlog})
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("hearth apply --counters: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let started = std::time::Instant::now();
    let result = if remove {
        exec::remove(sock, &plan).map_err(|e| e.to_string())
    } else {
        exec::apply(sock, &plan).map_err(|e| e.to_string())
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    // VPN policy after shaping (independent: a VPN failure leaves the shaping applied).
    let vpn = match (&result, remove, cfg.vpns.is_empty()) {
        (Err(_), _, _) => Ok(hearth::netlink::vpn::VpnReport::default()),
        (Ok(_), true, _) => hearth::netlink::vpn::remove(sock),
        (Ok(_), false, true) => Ok(hearth::netlink::vpn::VpnReport::default()),
        (Ok(_), false, false) => hearth::netlink::vpn::apply(sock, &vpn_plan),
    };
    let vpn = match vpn {
        Ok(v) => v,
        Err(e) => {
            eprintln!("hearth apply: VPN policy: {e}");
            return ExitCode::FAILURE;
        }
    };
    let vpn_json = serde_json::json!({
        "changes": vpn.changes,
        "actions": vpn.actions,
        "links": vpn.links.iter().map(|(v, i, s)| serde_json::json!({"vpn": v, "interface": i, "state": s})).collect::<Vec<_>>(),
        "wireguard": if remove { serde_json::json!([]) } else { hearth::netlink::vpn::wireguard_report(&vpn_plan) },
    });
    for (v, i, s) in &vpn.links {
        if *s != "up" {
            eprintln!("hearth apply: vpn '{v}': link {i} is {s}: its traffic is held by the kill switch until it is up");
        }
    }
    match result {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"changes": r.changes + vpn.changes, "devices": r.devices, "leaf": leaf, "capabilities": caps_json, "actions": r.actions, "vpn": vpn_json, "elapsed_ms": (elapsed_ms * 1000.0).round() / 1000.0})
                );
            } else {
                for a in r.actions.iter().chain(&vpn.actions) {
                    println!("{a}");
                }
                println!(
                    "{} change(s) on {}",
                    r.changes,
                    if r.devices.is_empty() {
                        "no device (nothing to shape)".to_string()
                    } else {
                        r.devices.join(", ")
                    }
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hearth apply: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The plan as JSON (for `--dry-run --json` and LuCI).
fn plan_json(plan: &hearth::shaping::ShapingPlan) -> serde_json::Value {
    let links: Vec<serde_json::Value> = plan
        .links
        .iter()
        .map(|l| {
            serde_json::json!({
                "device": l.device,
                "ifb_of": l.ifb_of,
                "redirect_ingress_to": l.redirect_ingress_to,
                "direction": format!("{:?}", l.direction).to_lowercase(),
                "default_class": format!("{:x}:{:x}", l.default_class >> 16, l.default_class & 0xffff),
                "overhead": l.overhead,
                "classes": l.classes.iter().map(|c| serde_json::json!({
                    "classid": format!("{:x}:{:x}", c.classid >> 16, c.classid & 0xffff),
                    "parent": format!("{:x}:{:x}", c.parent >> 16, c.parent & 0xffff),
                    "role": format!("{:?}", c.role),
                    "rate_kbit": c.rate * 8 / 1000,
                    "ceil_kbit": c.ceil * 8 / 1000,
                    "prio": c.prio,
                    "leaf": c.leaf.map(|x| format!("{x:?}")),
                })).collect::<Vec<_>>(),
                "filters": l.filters.iter().map(|f| {
                    let m = match &f.matches {
                        hearth::shaping::Match::Dscp { ipv6, dscp } => serde_json::json!({"dscp": dscp, "ipv6": ipv6}),
                        hearth::shaping::Match::Mark { value, mask } => serde_json::json!({"mark": format!("{value:#x}"), "mask": format!("{mask:#x}")}),
                        hearth::shaping::Match::Addr { source, addr, prefix } => serde_json::json!({
                            if *source { "src" } else { "dst" }: format!("{addr}/{prefix}"),
                        }),
                    };
                    serde_json::json!({
                        "prio": f.prio,
                        "match": m,
                        "classid": format!("{:x}:{:x}", f.classid >> 16, f.classid & 0xffff),
                    })
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::Value::Array(links)
}

/// The plan for people.
fn plan_text(plan: &hearth::shaping::ShapingPlan, probed: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if plan.links.is_empty() {
        out.push_str("nothing to shape (no shaper with a rate, and no per-device classes)\n");
        return out;
    }
    if !probed {
        out.push_str("(kernel not probed — not root — so leaf 'auto' is shown as pfifo)\n");
    }
    for l in &plan.links {
        let what = match (&l.ifb_of, &l.redirect_ingress_to) {
            (Some(of), _) => format!("IFB carrying {of}'s ingress"),
            (None, Some(ifb)) if l.classes.is_empty() => format!("ingress redirected to {ifb}"),
            (None, Some(ifb)) => format!("egress; ingress redirected to {ifb}"),
            _ => "egress".to_string(),
        };
        let overhead = match l.overhead {
            0 => String::new(),
            o => format!(", {o:+} bytes per packet (size table)"),
        };
        let _ = writeln!(
            out,
            "{} ({what}), shaping {:?}{overhead}:",
            l.device, l.direction
        );
        for c in &l.classes {
            let _ = writeln!(
                out,
                "  class {:x}:{:<5x} {:<28} rate {:>9} kbit  ceil {:>9} kbit  prio {}{}",
                c.classid >> 16,
                c.classid & 0xffff,
                format!("{:?}", c.role),
                c.rate * 8 / 1000,
                c.ceil * 8 / 1000,
                c.prio,
                c.leaf.map(|x| format!("  leaf {x:?}")).unwrap_or_default()
            );
        }
        if !l.filters.is_empty() {
            let _ = writeln!(out, "  {} filter(s)", l.filters.len());
        }
    }
    out
}

fn check(path: PathBuf) -> ExitCode {
    match config::load(&path) {
        Ok(cfg) => {
            println!("{}: OK ({})", path.display(), summary(&cfg));
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            match e {
                LoadError::Uci(uci::UciError::Io { .. }) => ExitCode::FAILURE,
                _ => ExitCode::from(EXIT_INVALID),
            }
        }
    }
}

/// "1 shaper, 6 devices, ..." for the sections present.
fn summary(cfg: &config::Config) -> String {
    let counts = [
        (cfg.shapers.len(), "shaper"),
        (cfg.groups.len(), "group"),
        (cfg.devices.len(), "device"),
        (cfg.vpns.len(), "vpn"),
        (cfg.wireguard_peers.len(), "wireguard peer"),
        (usize::from(cfg.balancer.is_some()), "balancer"),
        (cfg.endpoints.len(), "endpoint"),
        (cfg.routes.len(), "route"),
        (cfg.planners.len(), "planner"),
    ];
    let parts: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    if parts.is_empty() {
        "agent settings only".into()
    } else {
        parts.join(", ")
    }
}

fn uci_show(file: &std::path::Path) -> ExitCode {
    match uci::Document::load(file) {
        Ok(doc) => {
            print!("{}", uci::show(doc.package()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            match e {
                uci::UciError::Io { .. } => ExitCode::FAILURE,
                _ => ExitCode::from(EXIT_INVALID),
            }
        }
    }
}

fn run(path: PathBuf) -> ExitCode {
    hearth::logger::init(log::LevelFilter::Info);
    let subsystems = hearth::daemon::subsystems();
    let daemon = match hearth::daemon::Daemon::new(path, subsystems) {
        Ok(d) => d,
        Err(e) => {
            hearth::daemon::report_load_error(&e);
            log::error!("not starting: the config is invalid (run 'hearth check' for the list)");
            return match e {
                LoadError::Uci(uci::UciError::Io { .. }) => ExitCode::FAILURE,
                _ => ExitCode::from(EXIT_INVALID),
            };
        }
    };
    log::set_max_level(daemon.config().agent.log_level.filter());
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(daemon.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::render_status;

    #[test]
    fn status_says_what_stays_in_force_after_a_failed_apply() {
        let v = serde_json::json!({
            "version": "0.1.0", "pid": 1, "uptime_secs": 5, "config": "/etc/config/hearth",
            "generation": 3,
            "shaping": {
                "enabled": true, "error": "RTM_NEWQDISC: Invalid argument", "generation": 3,
                "in_force": {"enabled": true, "generation": 2, "devices": ["tv"], "leaf": "Cake",
                             "capabilities": {"cake": true, "fq_codel": true, "fw": true}}
            },
            "vpn": {"enabled": true, "error": "no such device", "generation": 3, "in_force": null},
        });
        let out = render_status(&v);
        assert!(
            out.contains("shaping FAILED to apply config generation 3: RTM_NEWQDISC: Invalid argument\n  the kernel keeps what generation 2 applied:\n  shaping tv (leaf Cake;"),
            "{out}"
        );
        assert!(
            out.contains("VPN policy FAILED to apply config generation 3: no such device\n  nothing of it was applied before"),
            "{out}"
        );
    }
}
