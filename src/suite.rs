//! `splitbrain suite FILE`: a nightly job's matrix of runs in one command.
//!
//! The file (TOML) lists cells: a lock, a nemesis, fencing, seeds and what each run is
//! expected to conclude. `[[matrix]]` tables expand to one cell per lock × nemesis ×
//! fencing. Every run is checked before any starts (a typo exits 254 at once), then run
//! one after another as `splitbrain run` in its own folder, and the suite writes a
//! summary page linking every run's report, one `junit.xml` with a test suite per run
//! whose test case passes when the run concluded what its cell expected, and exits 0
//! only when every run did. A canary (`expect = "invalid"`) that comes out valid is a
//! failure: the harness has lost its teeth.
//!
//! ```toml
//! name = "canary"
//! [defaults]
//! time_limit = 12
//! ttl_ms = 500
//! [[cell]]
//! lock = "redis"
//! nemesis = "pause-holder"
//! fencing = "off"
//! seeds = [4242]
//! expect = "invalid"
//! ```

use crate::exit::{BadInput, bad_input};
use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;
use splitbrain_reports::{Case, SuiteHead, document, render_suite};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// SuiteArgs are `suite`'s options.
#[derive(Args, Debug, Clone)]
pub struct SuiteArgs {
    /// The suite file (TOML): cells of lock, nemesis, fencing, seeds and expectation
    pub file: PathBuf,
    /// The folder for the runs, the summary page and junit.xml [default:
    /// results/suite-NAME]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the runs the file describes, each as the `splitbrain run` command, and stop
    #[arg(long)]
    pub list: bool,
    /// Run every cell on this backend, as `run --backend` (local, kubernetes)
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
    /// For --backend kubernetes: the cluster's kubeconfig, as `run --kubeconfig`
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// For --backend kubernetes: the node pods' image, as `run --image`
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
}

impl SuiteArgs {
    /// The `run` arguments that say where every cell runs.
    fn backend_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(b) = &self.backend {
            out.extend(["--backend".to_owned(), b.clone()]);
        }
        if let Some(k) = &self.kubeconfig {
            out.extend(["--kubeconfig".to_owned(), k.display().to_string()]);
        }
        if let Some(i) = &self.image {
            out.extend(["--image".to_owned(), i.clone()]);
        }
        out
    }
}

/// RunOptions are the `run` options a suite may set, for all cells or one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunOptions {
    workload: Option<String>,
    clients: Option<u64>,
    nodes: Option<u64>,
    time_limit: Option<f64>,
    ttl_ms: Option<u64>,
    cs_wait_ms: Option<u64>,
    op_timeout_ms: Option<u64>,
    nemesis_interval: Option<f64>,
}

impl RunOptions {
    /// These options, with `base` filling in what they leave unset.
    fn over(&self, base: &RunOptions) -> RunOptions {
        RunOptions {
            workload: self.workload.clone().or_else(|| base.workload.clone()),
            clients: self.clients.or(base.clients),
            nodes: self.nodes.or(base.nodes),
            time_limit: self.time_limit.or(base.time_limit),
            ttl_ms: self.ttl_ms.or(base.ttl_ms),
            cs_wait_ms: self.cs_wait_ms.or(base.cs_wait_ms),
            op_timeout_ms: self.op_timeout_ms.or(base.op_timeout_ms),
            nemesis_interval: self.nemesis_interval.or(base.nemesis_interval),
        }
    }

    /// As `run` arguments.
    fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                out.push(flag.to_owned());
                out.push(v);
            }
        };
        push("--workload", self.workload.clone());
        push("--clients", self.clients.map(|v| v.to_string()));
        push("--nodes", self.nodes.map(|v| v.to_string()));
        push("--time-limit", self.time_limit.map(|v| v.to_string()));
        push("--ttl-ms", self.ttl_ms.map(|v| v.to_string()));
        push("--cs-wait-ms", self.cs_wait_ms.map(|v| v.to_string()));
        push("--op-timeout-ms", self.op_timeout_ms.map(|v| v.to_string()));
        push(
            "--nemesis-interval",
            self.nemesis_interval.map(|v| v.to_string()),
        );
        out
    }
}

/// Seeds: a count (1 to N) or a list.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum Seeds {
    Count(u64),
    List(Vec<u64>),
}

impl Seeds {
    fn list(&self) -> Vec<u64> {
        match self {
            Seeds::Count(n) => (1..=*n).collect(),
            Seeds::List(l) => l.clone(),
        }
    }
}

/// What a run is expected to conclude.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Valid,
    Invalid,
    Unknown,
    /// Any verdict (the cell is run for its report).
    Any,
}

impl Expect {
    fn word(self) -> &'static str {
        match self {
            Expect::Valid => "valid",
            Expect::Invalid => "invalid",
            Expect::Unknown => "unknown",
            Expect::Any => "any verdict",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CellSpec {
    lock: String,
    nemesis: String,
    fencing: String,
    seeds: Seeds,
    #[serde(default = "expect_valid")]
    expect: Expect,
    #[serde(default)]
    options: RunOptions,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixSpec {
    locks: Vec<String>,
    nemesis: Vec<String>,
    fencing: Vec<String>,
    seeds: Seeds,
    #[serde(default = "expect_valid")]
    expect: Expect,
    #[serde(default)]
    options: RunOptions,
}

fn expect_valid() -> Expect {
    Expect::Valid
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: Option<String>,
    #[serde(default)]
    defaults: RunOptions,
    #[serde(default)]
    cell: Vec<CellSpec>,
    #[serde(default)]
    matrix: Vec<MatrixSpec>,
}

/// One run of the suite.
#[derive(Clone, Debug)]
struct Planned {
    lock: String,
    nemesis: String,
    fencing: String,
    seed: u64,
    expect: Expect,
    /// `run`'s arguments, `--out` excluded.
    args: Vec<String>,
}

impl Planned {
    /// A folder name that says what the run is.
    fn slug(&self) -> String {
        let clean = |s: &str| s.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
        format!(
            "{}-{}-fencing-{}-seed{}",
            clean(&self.lock),
            clean(&self.nemesis),
            self.fencing,
            self.seed
        )
    }

    fn title(&self) -> String {
        format!(
            "{} {} fencing={} seed={}",
            self.lock, self.nemesis, self.fencing, self.seed
        )
    }
}

/// How one run ended.
struct Outcome {
    planned: Planned,
    /// The verdict, or why there is none.
    verdict: Result<splitbrain_checker::Validity, String>,
    /// The run's folder (the one its `latest` link names), when it has one.
    run_dir: Option<PathBuf>,
    seconds: f64,
}

impl Outcome {
    fn met(&self) -> bool {
        use splitbrain_checker::Validity::*;
        match (&self.verdict, self.planned.expect) {
            (Err(_), _) => false,
            (Ok(_), Expect::Any) => true,
            (Ok(v), e) => matches!(
                (v, e),
                (Valid, Expect::Valid) | (Invalid, Expect::Invalid) | (Unknown, Expect::Unknown)
            ),
        }
    }

    fn got(&self) -> String {
        match &self.verdict {
            Ok(v) => verdict_word(*v).to_owned(),
            Err(why) => why.clone(),
        }
    }
}

fn verdict_word(v: splitbrain_checker::Validity) -> &'static str {
    match v {
        splitbrain_checker::Validity::Valid => "valid",
        splitbrain_checker::Validity::Invalid => "invalid",
        splitbrain_checker::Validity::Unknown => "unknown",
    }
}

/// Reads and expands a suite file; every run's arguments are checked as `run` would.
fn plan(file: &Path) -> Result<(String, Vec<Planned>)> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        BadInput(format!(
            "cannot read the suite file: file={}: {e}",
            file.display()
        ))
    })?;
    let suite: SuiteFile = toml::from_str(&text).map_err(|e| {
        BadInput(format!(
            "the suite file is not a suite: file={}: {e}(see examples/canary.toml)",
            file.display()
        ))
    })?;
    let name = suite.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map_or("suite".into(), |s| s.to_string_lossy().into_owned())
    });
    let mut cells = suite.cell.clone();
    for m in &suite.matrix {
        for lock in &m.locks {
            for nemesis in &m.nemesis {
                for fencing in &m.fencing {
                    cells.push(CellSpec {
                        lock: lock.clone(),
                        nemesis: nemesis.clone(),
                        fencing: fencing.clone(),
                        seeds: m.seeds.clone(),
                        expect: m.expect,
                        options: m.options.clone(),
                    });
                }
            }
        }
    }
    let mut planned = Vec::new();
    for cell in &cells {
        if cell.seeds.list().is_empty() {
            bad_input!(
                "a cell has no seeds: lock={} nemesis={} in file={} (give seeds = N or a list)",
                cell.lock,
                cell.nemesis,
                file.display()
            );
        }
        for seed in cell.seeds.list() {
            let mut args = vec![
                "--lock".to_owned(),
                cell.lock.clone(),
                "--nemesis".to_owned(),
                cell.nemesis.clone(),
                "--fencing".to_owned(),
                cell.fencing.clone(),
                "--seed".to_owned(),
                seed.to_string(),
            ];
            args.extend(cell.options.over(&suite.defaults).args());
            crate::cli::check_run_args(&args).with_context(|| {
                format!(
                    "in file={}: the cell lock={} nemesis={} fencing={}",
                    file.display(),
                    cell.lock,
                    cell.nemesis,
                    cell.fencing
                )
            })?;
            planned.push(Planned {
                lock: cell.lock.clone(),
                nemesis: cell.nemesis.clone(),
                fencing: cell.fencing.clone(),
                seed,
                expect: cell.expect,
                args,
            });
        }
    }
    if planned.is_empty() {
        bad_input!(
            "the suite has no runs: file={} (add [[cell]] or [[matrix]] tables)",
            file.display()
        );
    }
    Ok((name, planned))
}

/// Runs the suite; returns 0 when every run concluded what its cell expected, 1 when
/// one did not, 2 when the suite was interrupted before its end.
pub fn run(args: &SuiteArgs) -> Result<u8> {
    let (name, mut planned) = plan(&args.file)?;
    let backend = args.backend_args();
    if !backend.is_empty() {
        for p in &mut planned {
            p.args.extend(backend.iter().cloned());
        }
        crate::cli::check_run_args(&planned[0].args)
            .context("the suite's --backend, --kubeconfig and --image")?;
    }
    if args.list {
        for p in &planned {
            println!(
                "splitbrain run {}  # expect {}",
                p.args.join(" "),
                p.expect.word()
            );
        }
        return Ok(0);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(format!("suite-{name}")));
    std::fs::create_dir_all(out.join("runs")).map_err(|e| {
        BadInput(format!(
            "cannot make the suite's folder: out={}: {e}",
            out.display()
        ))
    })?;
    eprintln!(
        "suite {name}: {} runs, into {}",
        planned.len(),
        out.display()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (outcomes, interrupted) = rt.block_on(run_all(&planned, &out))?;
    let summary = write_summary(&name, &out, &outcomes, planned.len())?;
    let junit = write_junit(&name, &out, &outcomes)?;
    let met = outcomes.iter().filter(|o| o.met()).count();
    println!(
        "suite {name}: {met} of {} runs concluded as expected{}",
        planned.len(),
        if interrupted {
            format!("; interrupted after {} runs", outcomes.len())
        } else {
            String::new()
        }
    );
    for o in outcomes.iter().filter(|o| !o.met()) {
        println!(
            "  UNEXPECTED: {}: expected {}, got {}",
            o.planned.title(),
            o.planned.expect.word(),
            o.got()
        );
    }
    println!("summary: {}", summary.display());
    println!("junit: {}", junit.display());
    Ok(if interrupted {
        2
    } else if met == planned.len() {
        0
    } else {
        1
    })
}

/// Runs every planned run in turn; stops at SIGINT or SIGTERM (passing SIGTERM on to the
/// run in progress, which tears its cluster down).
async fn run_all(planned: &[Planned], out: &Path) -> Result<(Vec<Outcome>, bool)> {
    let interrupt = splitbrain_runner::interrupt::Interrupt::install()?;
    let me = std::env::current_exe().context("finding the splitbrain binary")?;
    let mut outcomes = Vec::with_capacity(planned.len());
    for (i, p) in planned.iter().enumerate() {
        if interrupt.fired().is_some() {
            return Ok((outcomes, true));
        }
        let dir = out.join("runs").join(p.slug());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(dir.with_extension("log"))?;
        eprintln!("suite: [{}/{}] {} ...", i + 1, planned.len(), p.title());
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&me)
            .arg("run")
            .args(&p.args)
            .arg("--out")
            .arg(&dir)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a run")?;
        let status = tokio::select! {
            status = child.wait() => status?,
            _ = interrupt.wait() => {
                if let Some(pid) = child.id() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
                child.wait().await?
            }
        };
        let verdict = match status.code() {
            Some(0) => Ok(splitbrain_checker::Validity::Valid),
            Some(1) => Ok(splitbrain_checker::Validity::Invalid),
            Some(2) => Ok(splitbrain_checker::Validity::Unknown),
            Some(code) => Err(format!(
                "no verdict (exit {code}; see {}.log)",
                dir.display()
            )),
            None => Err(format!("no verdict (killed; see {}.log)", dir.display())),
        };
        let outcome = Outcome {
            planned: p.clone(),
            verdict,
            run_dir: std::fs::canonicalize(dir.join("latest")).ok(),
            seconds: started.elapsed().as_secs_f64(),
        };
        eprintln!(
            "suite: [{}/{}] {}: {} (expected {}){} in {:.1} s",
            i + 1,
            planned.len(),
            p.title(),
            outcome.got(),
            p.expect.word(),
            if outcome.met() { "" } else { " UNEXPECTED" },
            outcome.seconds
        );
        outcomes.push(outcome);
    }
    Ok((outcomes, interrupt.fired().is_some()))
}

/// The suite's JUnit: a test suite per run, its one case passing when the run concluded
/// what its cell expected; the checkers' summaries and the report's path beside it.
fn write_junit(name: &str, out: &Path, outcomes: &[Outcome]) -> Result<PathBuf> {
    let started_at = splitbrain_runner::run_dir::now_rfc3339();
    let mut suites = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        let p = &o.planned;
        let loaded = o
            .run_dir
            .as_ref()
            .and_then(|d| splitbrain_reports::load_checked(d).ok());
        let mut details = String::new();
        if let Some((_, results)) = &loaded {
            for (checker, r) in &results.checkers {
                let _ = writeln!(details, "{checker}: {}", r.summary);
            }
        }
        let properties = [
            ("lock", p.lock.clone()),
            ("nemesis", p.nemesis.clone()),
            ("fencing", p.fencing.clone()),
            ("seed", p.seed.to_string()),
            ("expect", p.expect.word().to_owned()),
            ("verdict", o.got()),
        ];
        let report = o.run_dir.as_ref().map_or_else(
            || "no report".to_owned(),
            |d| d.join("index.html").display().to_string(),
        );
        let system_out = format!(
            "rerun: splitbrain run {}\nreport: {report}\n{details}",
            p.args.join(" ")
        );
        let suite_name = format!("splitbrain suite {name}: {}", p.title());
        let head = SuiteHead {
            name: &suite_name,
            properties: &properties,
            time_s: o.seconds,
            started_at: loaded
                .as_ref()
                .map_or(started_at.as_str(), |(run, _)| run.info.started_at.as_str()),
            system_out: &system_out,
        };
        let summary = format!("expected {}, got {}", p.expect.word(), o.got());
        let case_name = format!("expect {}", p.expect.word());
        let case = Case {
            name: &case_name,
            valid: if o.met() {
                splitbrain_checker::Validity::Valid
            } else {
                splitbrain_checker::Validity::Invalid
            },
            summary: &summary,
            details: details.clone(),
        };
        suites.push(render_suite(&head, &[case]));
    }
    let path = out.join(splitbrain_reports::JUNIT_FILE);
    splitbrain_reports::write_document(
        &path,
        &document(&format!("splitbrain suite {name}"), &suites),
    )?;
    Ok(path)
}

/// The summary page: one row per run, linking its report.
fn write_summary(name: &str, out: &Path, outcomes: &[Outcome], planned: usize) -> Result<PathBuf> {
    use splitbrain_reports::esc;
    let met = outcomes.iter().filter(|o| o.met()).count();
    let mut rows = String::new();
    for o in outcomes {
        let p = &o.planned;
        let link = o.run_dir.as_ref().map_or_else(
            || "no report".to_owned(),
            |d| {
                let rel = d
                    .strip_prefix(std::fs::canonicalize(out).unwrap_or_default())
                    .unwrap_or(d);
                format!(
                    "<a href=\"{}\">report</a>",
                    esc(&rel.join("index.html").display().to_string())
                )
            },
        );
        let class = if o.met() { "met" } else { "unmet" };
        let _ = writeln!(
            rows,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} s</td><td>{link}</td></tr>",
            esc(&p.lock),
            esc(&p.nemesis),
            esc(&p.fencing),
            p.seed,
            p.expect.word(),
            esc(&o.got()),
            o.seconds
        );
    }
    let not_run = planned - outcomes.len();
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>splitbrain suite {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:24px}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px}}tr.unmet{{background:#fdd}}tr.met{{background:#efe}}</style>\
         </head><body><h1>suite {title}</h1><p>{met} of {planned} runs concluded as expected{rest}.</p>\
         <table><tr><th>lock</th><th>nemesis</th><th>fencing</th><th>seed</th><th>expected</th><th>got</th><th>took</th><th></th></tr>\n{rows}</table></body></html>\n",
        title = esc(name),
        rest = if not_run > 0 {
            format!("; {not_run} not run (interrupted)")
        } else {
            String::new()
        },
    );
    let path = out.join("summary.html");
    splitbrain_reports::write_document(&path, &html)?;
    Ok(path)
}
