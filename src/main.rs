//! The `rig` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use rig::bench::config::Connection;
use rig::bench::self_check::self_check;
use rig::bench::{Bench, BenchFile, EMBEDDED_SIM_PTY, EMBEDDED_TWIN, load_or_default};
use rig::clock::RigClock;
use rig::run::emergency::{self, Interrupts as _, ProcessSignals};
use rig::sim::Fault;
use rig::twin_host::{SimEndpoints, run_sim_process};

/// Exit codes, the same for every command.
mod exit {
    pub const OK: u8 = 0;
    /// A check failed: a finding about the pump (or, for check-bench, the bench).
    pub const FAILED: u8 = 1;
    /// Bad input: a plan, a bench file or the command line. Nothing moved.
    pub const USAGE: u8 = 2;
    /// The bench or the rig failed.
    pub const BENCH: u8 = 3;
    /// Interrupted by SIGINT or SIGTERM.
    pub const INTERRUPTED: u8 = rig::run::emergency::INTERRUPTED_EXIT;
}

#[derive(Parser)]
#[command(name = "rig", version, about = "Hardware-in-the-loop test rig for intrathecal drug pump firmware")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Generate an Ed25519 (minisign) key pair: the secret key in FILE (mode 0600; keep it off
    /// the bundles' folders) and the public key in FILE.pub, for reviewers.
    Generate {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum Cmd {
    /// Run test plans (default bench: the in-process twin; default out: runs/).
    Run {
        /// Plan files or folders of plans (default: test-plans).
        plans: Vec<PathBuf>,
        /// Bench file (default: the built-in in-process twin, rig/sim.yaml).
        #[arg(long)]
        bench: Option<PathBuf>,
        /// Seed a firmware defect into the twin (repeatable; see `rig faults`).
        #[arg(long = "fault", value_name = "NAME")]
        faults: Vec<String>,
        /// Where each case's folder goes.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// No operator at the bench (nightly): plans with prompts are reported not runnable.
        #[arg(long)]
        non_interactive: bool,
        /// No progress display.
        #[arg(long)]
        quiet: bool,
        /// Who runs the bench, for the evidence (default: $RIG_OPERATOR, then the login name,
        /// then the password entry of the uid; the record says which).
        #[arg(long)]
        operator: Option<String>,
        /// Run although an instrument is past its calibration due date; every report then says
        /// so on its first line.
        #[arg(long)]
        allow_expired_calibration: bool,
        /// Run although an instrument reports another identity than the bench file declares;
        /// every report then says so on its first line.
        #[arg(long)]
        allow_identity_mismatch: bool,
        /// Compare each case's result with the approved baseline in this folder; drift beyond a
        /// check's allowance is a finding (exit 1) even when every limit passes.
        #[arg(long, value_name = "DIR")]
        baseline: Option<PathBuf>,
        /// Sign each bundle's MANIFEST.sha256 with this minisign secret key (`rig key generate`);
        /// without one, bundles are unsigned.
        #[arg(long, value_name = "FILE", env = "RIG_SIGNING_KEY")]
        sign_key: Option<PathBuf>,
    },
    /// Verify run bundles: recompute MANIFEST.sha256 and name any file changed, missing or extra;
    /// with --key, check its signature too.
    Verify {
        /// Run folders (one per plan case).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The public key (`FILE.pub` of `rig key generate`) the bundles must be signed with.
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
    },
    /// Promote a verified PASS run's result to the approved baseline, with its provenance.
    Approve {
        /// Run folders (one per plan case).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The baseline folder.
        #[arg(long, value_name = "DIR")]
        baseline: PathBuf,
        /// The public key the bundles must be signed with (an unsigned or badly signed bundle is
        /// refused).
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
        /// Who approves (default: $RIG_OPERATOR, then the login name, then the password entry of
        /// the uid; the baseline says which).
        #[arg(long)]
        approver: Option<String>,
        /// Approve a run that is not a plain PASS (FAIL, ERROR, expired calibration, ...); needs
        /// --reason, and the baseline records both.
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why a forced approval is right.
        #[arg(long, requires = "force", value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Signing keys for bundles.
    Key {
        #[command(subcommand)]
        command: KeyCmd,
    },
    /// Check plans without touching hardware: syntax, units, references, and whether the bench
    /// can run them.
    Check {
        /// Plan files or folders of plans (default: test-plans).
        plans: Vec<PathBuf>,
        /// Bench file (default: the built-in in-process twin, rig/sim.yaml).
        #[arg(long)]
        bench: Option<PathBuf>,
        /// Check as for an unattended run (prompts need an operator).
        #[arg(long)]
        non_interactive: bool,
    },
    /// Print the JSON Schema of the plan format (for editors: yaml-language-server).
    Schema,
    /// Check a bench end to end: identify pump and sensor, deliver, see the flow, block the line.
    CheckBench {
        /// Bench file (default: the built-in in-process twin, rig/sim.yaml).
        #[arg(long)]
        bench: Option<PathBuf>,
        /// Seed a firmware defect into the twin (repeatable; see `rig faults`).
        #[arg(long = "fault", value_name = "NAME")]
        faults: Vec<String>,
        /// How long to average the flow, in seconds (bench time).
        #[arg(long, default_value_t = 120)]
        seconds: u64,
    },
    /// Check a bench is ready for a run, moving nothing: every device present and answering, the
    /// sensor's serial as in the bench file, calibration due dates, firmware identity, clock
    /// source, real-time priority, disk space. Prints every problem as a table. Exits 0 all well,
    /// 1 warnings only, 3 a problem (2 a bad bench file).
    Doctor {
        /// Bench file (default: the built-in in-process twin, rig/sim.yaml).
        #[arg(long)]
        bench: Option<PathBuf>,
        /// The folder the bundles will go to, for its free space.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
    },
    /// Run the digital twin as its own process: the pump on a pseudo-terminal, the sensor and
    /// valve on the bench-bus socket (ICD part 2), in real time, until SIGINT or SIGTERM.
    Sim {
        /// Bench file giving the twin's seed, faults, sensor and valve, and (a twin bench) its
        /// `stall_attempts`, as `rig run` gives them to the in-process twin (default: rig/sim-pty.yaml).
        #[arg(long)]
        bench: Option<PathBuf>,
        /// Seed a firmware defect (repeatable; see `rig faults`).
        #[arg(long = "fault", value_name = "NAME")]
        faults: Vec<String>,
        /// Folder for `pump` and `bus.sock` (default: the folder rig/sim-pty.yaml names).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// List the firmware defects the twin can be seeded with.
    Faults,
    /// Print the requirements coverage of the plans (SRS id → plans and checks), as Markdown.
    Coverage {
        /// Plan files or folders of plans (default: test-plans).
        plans: Vec<PathBuf>,
    },
    /// Run the plans on the twin once nominal and once per seeded defect; print the
    /// defect-detection matrix as Markdown. Exits 1 if a defect goes uncaught or the nominal
    /// firmware does not pass every plan.
    Matrix {
        /// Plan files or folders of plans (default: test-plans).
        plans: Vec<PathBuf>,
        /// Where the runs' folders go (default: a temporary folder, removed afterwards).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Suites run at a time.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Cmd::Run {
            plans,
            bench,
            faults,
            out,
            non_interactive,
            quiet,
            operator,
            allow_expired_calibration,
            allow_identity_mismatch,
            baseline,
            sign_key,
        } => {
            let evidence =
                Evidence { operator, allow_expired_calibration, allow_identity_mismatch, baseline, sign_key };
            run(&plans, bench, &faults, out, non_interactive, quiet, evidence)
        }
        Cmd::Verify { runs, key } => verify(&runs, key.as_deref()),
        Cmd::Approve { runs, baseline, key, approver, force: _, reason } => {
            approve(&runs, &baseline, key.as_deref(), approver.as_deref(), reason.as_deref())
        }
        Cmd::Key { command: KeyCmd::Generate { out } } => key_generate(&out),
        Cmd::Check { plans, bench, non_interactive } => check(&plans, bench, non_interactive),
        Cmd::Schema => {
            say_raw(&rig::plan::commands::schema_json());
            exit::OK
        }
        Cmd::Faults => list_faults(),
        Cmd::CheckBench { bench, faults, seconds } => check_bench(bench, &faults, Duration::from_secs(seconds)),
        Cmd::Sim { bench, faults, dir } => sim(bench, &faults, dir),
        Cmd::Doctor { bench, out } => doctor(bench, &out),
        Cmd::Coverage { plans } => coverage(&plans),
        Cmd::Matrix { plans, out, jobs } => matrix(&plans, out, jobs),
    };
    ExitCode::from(code)
}

fn default_plans(plans: &[PathBuf]) -> Vec<PathBuf> {
    if plans.is_empty() { vec![PathBuf::from("test-plans")] } else { plans.to_vec() }
}

/// An operator can answer prompts: asked for, and a terminal on standard input.
fn interactive(non_interactive: bool) -> bool {
    !non_interactive && std::io::IsTerminal::is_terminal(&std::io::stdin())
}

fn load_public_key(key: Option<&std::path::Path>) -> Result<Option<rig::evidence::signature::VerifyingKey>, u8> {
    key.map(rig::evidence::signature::VerifyingKey::load).transpose().map_err(usage)
}

fn verify(runs: &[PathBuf], key: Option<&std::path::Path>) -> u8 {
    let key = match load_public_key(key) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let mut code = exit::OK;
    for dir in runs {
        match rig::evidence::bundle::verify_bundle(dir, key.as_ref()) {
            Ok(v) => rig::say!("ok       {}  ({})", dir.display(), rig::evidence::bundle::describe_verified(&v)),
            Err(problems) => {
                code = exit::FAILED;
                rig::say!("CHANGED  {}", dir.display());
                for p in problems {
                    rig::say!("  {p}");
                }
            }
        }
    }
    code
}

fn approve(
    runs: &[PathBuf],
    baseline: &std::path::Path,
    key: Option<&std::path::Path>,
    approver: Option<&str>,
    reason: Option<&str>,
) -> u8 {
    use rig::evidence::baseline::{ApproveOptions, approve};
    let key = match load_public_key(key) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let approver = match rig::evidence::person::identify_person(approver, "--approver") {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    if reason.is_some_and(|r| r.trim().is_empty()) {
        return usage("--reason is empty: say why this run is to be the baseline all the same");
    }
    let options = ApproveOptions { baseline, key: key.as_ref(), approver: &approver, forced_reason: reason };
    let mut code = exit::OK;
    for dir in runs {
        match approve(dir, &options) {
            Ok(done) => {
                let replaced = if done.replaced { " (replacing the one approved before)" } else { "" };
                rig::say!("approved {}  -> {}{replaced}", dir.display(), done.file.display());
                if let Some(forced) = &done.forced {
                    rig::say!("  FORCED ({}): {}", forced.overriding.join("; "), forced.reason);
                }
            }
            Err(e) => {
                rig::say_err!("error: {e}");
                code = exit::FAILED;
            }
        }
    }
    code
}

fn key_generate(out: &std::path::Path) -> u8 {
    match rig::evidence::signature::generate_key(out) {
        Ok(k) => {
            rig::say!(
                "secret key {}  (mode 0600: keep it on the bench, never in a bundle's folder)",
                k.secret.display()
            );
            rig::say!("public key {}  (give it to reviewers: rig verify --key, minisign -V)", k.public.display());
            rig::say!("key id     {}", k.key_id);
            exit::OK
        }
        Err(e) => usage(e),
    }
}

/// Loads plans for a command that needs them all valid; prints the diagnostics otherwise.
fn valid_plans(plans: &[PathBuf]) -> Result<rig::plan::LoadOutcome, u8> {
    let loaded = rig::plan::load_plans(&default_plans(plans));
    if !loaded.is_ok() {
        rig::say_err_raw!("{}", loaded.render_diagnostics());
        rig::say_err!("error: {} problem(s) in the plans", loaded.error_count());
        return Err(exit::USAGE);
    }
    Ok(loaded)
}

fn coverage(plans: &[PathBuf]) -> u8 {
    let loaded = match valid_plans(plans) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let coverage = rig::plan::Coverage::of(loaded.plans.iter().flat_map(|f| f.cases.iter()));
    say_raw(&rig::plan::coverage_doc(&coverage));
    exit::OK
}

fn matrix(plans: &[PathBuf], out: Option<PathBuf>, jobs: usize) -> u8 {
    let loaded = match valid_plans(plans) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let bench = match load_or_default(None, EMBEDDED_TWIN, "rig/sim.yaml (built in)") {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let temp;
    let out = match out {
        Some(dir) => dir,
        None => match tempfile::tempdir() {
            Ok(t) => {
                temp = t;
                temp.path().to_path_buf()
            }
            Err(e) => return bench_failure(format!("cannot make a temporary folder: {e}")),
        },
    };
    let runs = rig::run::matrix::run_matrix(&loaded.plans, &bench, rig::sim::Fault::ALL, &out, jobs);
    say_raw(&rig::run::matrix::matrix_doc(&runs));
    if runs.iter().all(rig::run::matrix::SuiteRun::as_required) { exit::OK } else { exit::FAILED }
}

fn check(plans: &[PathBuf], bench: Option<PathBuf>, non_interactive: bool) -> u8 {
    let file = match load_or_default(bench.as_deref(), EMBEDDED_TWIN, "rig/sim.yaml (built in)") {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let paths = default_plans(plans);
    rig::plan::commands::check_command(
        &paths,
        &file,
        interactive(non_interactive),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
}

/// What `rig run` needs for the evidence besides the plans and the bench.
struct Evidence {
    operator: Option<String>,
    allow_expired_calibration: bool,
    allow_identity_mismatch: bool,
    baseline: Option<PathBuf>,
    sign_key: Option<PathBuf>,
}

fn run(
    plans: &[PathBuf],
    bench: Option<PathBuf>,
    faults: &[String],
    out: PathBuf,
    non_interactive: bool,
    quiet: bool,
    evidence: Evidence,
) -> u8 {
    let (file, faults) = match bench_and_faults(bench, faults) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let expired = rig::run::case_record::expired_calibrations(&file, rig::civil_time::today());
    if !expired.is_empty() {
        if !evidence.allow_expired_calibration {
            rig::say_err!(
                "error: bench `{}` ({}): {} past its calibration due date: {}\n  = this bench cannot produce evidence; recalibrate and update the bench file, or run with --allow-expired-calibration (every report will say so on its first line)",
                file.name,
                file.source.path,
                if expired.len() == 1 { "an instrument is" } else { "instruments are" },
                expired.join("; ")
            );
            return exit::USAGE;
        }
        rig::say_err!("warning: running with expired calibration ({}): the evidence will say so", expired.join("; "));
    }
    let operator = match rig::evidence::person::identify_person(evidence.operator.as_deref(), "--operator") {
        Ok(p) => p,
        Err(e) => {
            rig::say_err!("error: {e}\n  = the evidence names who ran the bench; nothing was run");
            return exit::USAGE;
        }
    };
    let signing_key = match evidence.sign_key.as_deref().map(|k| signing_key(k, &out)).transpose() {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    match &signing_key {
        Some(k) => rig::say_err!("signing bundles with key {} ({})", k.key_id, k.path.display()),
        None => rig::say_err!(
            "note: no signing key (--sign-key or RIG_SIGNING_KEY): bundles are unsigned, checked by their hashes only"
        ),
    }
    // Nothing moves unless every plan is valid.
    let paths = default_plans(plans);
    let loaded = rig::plan::load_plans(&paths);
    if !loaded.is_ok() {
        rig::say_err_raw!("{}", loaded.render_diagnostics());
        rig::say_err!("error: {} problem(s) in the plans; nothing was run", loaded.error_count());
        return exit::USAGE;
    }
    let options = rig::run::RunOptions {
        faults,
        interactive: interactive(non_interactive),
        progress: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        operator: Ok(operator),
        allow_expired_calibration: evidence.allow_expired_calibration,
        allow_identity_mismatch: evidence.allow_identity_mismatch,
        baseline: evidence.baseline,
        signing_key: signing_key.map(std::sync::Arc::new),
        ..rig::run::RunOptions::new(file.clone(), out)
    };
    let runtime = match runtime_for(&file) {
        Ok(r) => r,
        Err(e) => return bench_failure(format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        // Installed before anything moves, and kept for both signals (see `ProcessSignals`).
        let signals = match ProcessSignals::install() {
            Ok(s) => s,
            Err(e) => {
                return bench_failure(format!(
                    "cannot listen for SIGINT/SIGTERM ({e}); without them an interrupt could not make the bench safe"
                ));
            }
        };
        let (interrupt_tx, interrupt) = tokio::sync::watch::channel(None);
        let emergency = rig::run::EmergencyStop::default();
        let escalation = emergency.clone();
        // The first interrupt ends the run below, which returns 130 like any other exit code;
        // a second one ends the process from inside `supervise`, after the emergency stop.
        let flush = || {
            // The reporter threads write what they were handed, then the files go to disk. Events
            // a thread could not write in time leave a file short: counted as one not flushed.
            let all_written = rig::run::reporters::reporter_thread::write_what_is_held(Duration::from_millis(200));
            let (flushed, failed) = rig::run::reporters::flush_open_files(Duration::from_millis(200));
            (flushed, failed + usize::from(!all_written))
        };
        tokio::spawn(emergency::supervise(signals, interrupt_tx, escalation, flush, emergency::exit_process));
        let summary = rig::run::run_plans(&loaded.plans, &options, interrupt, &emergency).await;
        rig::say!("{}", rig::run::render_summary(&summary));
        if let Some(why) = &summary.refused {
            rig::say_err!("error: {why}");
        }
        summary.exit_code()
    })
}

/// The signing key at `path`, refused when it lies inside the folder the bundles go to.
fn signing_key(path: &std::path::Path, out: &std::path::Path) -> Result<rig::evidence::signature::SigningKey, String> {
    let key = rig::evidence::signature::SigningKey::load(path)?;
    let inside = match (std::fs::canonicalize(path), std::fs::canonicalize(out)) {
        (Ok(k), Ok(o)) => k.starts_with(o),
        _ => false,
    };
    if inside {
        return Err(format!(
            "signing key {} is inside the output folder {}: a secret key must not travel with the evidence",
            path.display(),
            out.display()
        ));
    }
    Ok(key)
}

fn list_faults() -> u8 {
    rig::say!("{:<28} {:<22} description", "fault", "violates");
    for f in Fault::ALL {
        rig::say!("{:<28} {:<22} {}", f.name(), f.requirement().join(","), f.description());
    }
    exit::OK
}

/// The bench file (the built-in twin by default) and the seeded faults, which need the twin.
fn bench_and_faults(bench: Option<PathBuf>, faults: &[String]) -> Result<(BenchFile, Vec<Fault>), u8> {
    let file = load_or_default(bench.as_deref(), EMBEDDED_TWIN, "rig/sim.yaml (built in)").map_err(usage)?;
    let faults = parse_faults(faults).map_err(usage)?;
    if !faults.is_empty() && !matches!(file.connection, Connection::Twin { .. }) {
        return Err(usage(format!("--fault needs the in-process twin; bench `{}` runs real firmware", file.name)));
    }
    Ok((file, faults))
}

fn parse_faults(names: &[String]) -> Result<Vec<Fault>, String> {
    names.iter().map(|n| n.parse::<Fault>().map_err(|e| format!("--fault {n}: {e}"))).collect()
}

/// A runtime for `bench`: on the in-process twin, tokio's clock is paused and auto-advances,
/// so bench time costs no wall time; elsewhere it is real time.
fn runtime_for(file: &BenchFile) -> std::io::Result<tokio::runtime::Runtime> {
    match file.connection {
        Connection::Twin { .. } => rig::clock::virtual_time_runtime(),
        _ => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    }
}

fn check_bench(bench: Option<PathBuf>, faults: &[String], measure: Duration) -> u8 {
    let (file, faults) = match bench_and_faults(bench, faults) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let runtime = match runtime_for(&file) {
        Ok(r) => r,
        Err(e) => return bench_failure(format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        let mut signals = match ProcessSignals::install() {
            Ok(s) => s,
            Err(e) => return bench_failure(format!("cannot listen for SIGINT/SIGTERM: {e}")),
        };
        let clock = RigClock::start();
        let mut bench = match Bench::open(&file, &faults, clock).await {
            Ok(b) => b,
            Err(e) => return bench_failure(e),
        };
        let check = self_check(&mut bench, &file, measure);
        tokio::select! {
            report = check => match report {
                Ok(report) => {
                    rig::say!("{report}");
                    if report.passed() { exit::OK } else { exit::FAILED }
                }
                Err(e) => bench_failure(e),
            },
            why = signals.next() => {
                let safe = bench.make_safe().await;
                rig::say_err!("rig: interrupted by {why}; {}", safe.describe());
                exit::INTERRUPTED
            }
        }
    })
}

fn doctor(bench: Option<PathBuf>, out: &std::path::Path) -> u8 {
    let file = match load_or_default(bench.as_deref(), EMBEDDED_TWIN, "rig/sim.yaml (built in)") {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let runtime = match runtime_for(&file) {
        Ok(r) => r,
        Err(e) => return bench_failure(format!("cannot start the runtime: {e}")),
    };
    let host = rig::bench::doctor::HostFacts::gather(out);
    let report = runtime.block_on(rig::bench::doctor::doctor(&file, &host, RigClock::start()));
    rig::say!("{report}");
    report.exit_code()
}

fn sim(bench: Option<PathBuf>, faults: &[String], dir: Option<PathBuf>) -> u8 {
    let file = match load_or_default(bench.as_deref(), EMBEDDED_SIM_PTY, "rig/sim-pty.yaml (built in)") {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let faults = match parse_faults(faults) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let config = match file.twin_config(&faults) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let default_dir = match file.resolved_connection() {
        Connection::Twin { .. } => default_sim_dir(),
        Connection::SimProcess { serial, .. } => {
            PathBuf::from(serial).parent().map(PathBuf::from).unwrap_or_else(default_sim_dir)
        }
        Connection::Hardware { .. } => {
            return usage(format!("rig sim: bench `{}` is real hardware; give a twin or sim-process bench", file.name));
        }
    };
    let endpoints = SimEndpoints::in_dir(&dir.unwrap_or(default_dir));
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => return bench_failure(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run_sim_process(config, &endpoints)) {
        Ok(summary) => {
            rig::say_err!("rig sim: {summary}");
            exit::OK
        }
        Err(e) => bench_failure(e),
    }
}

fn default_sim_dir() -> PathBuf {
    PathBuf::from(format!("/tmp/rig-sim-{}", nix::unistd::getuid().as_raw()))
}

fn usage(e: impl std::fmt::Display) -> u8 {
    rig::say_err!("error: {e}");
    exit::USAGE
}

fn bench_failure(e: impl std::fmt::Display) -> u8 {
    rig::say_err!("bench error: {e}");
    exit::BENCH
}

/// Prints text that carries its own line ends, never panicking on a closed stdout.
fn say_raw(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
