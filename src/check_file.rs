//! `splitbrain check FILE --model M`: checks one history file (ours, Jepsen's or
//! porcupine's) for linearizability against a model, prints the verdict with a short
//! explanation (or JSON), optionally writes an HTML page, and returns Jepsen's exit code.

use crate::exit::{BadInput, bad_input};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::Value;
use splitbrain_checker::Validity;
use splitbrain_checker::linear::{CheckOptions, LinearReport, check_with_model};
use splitbrain_checker::models::ModelKind;
use splitbrain_history::History;
use splitbrain_history::import::{self, Format};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a check may search when `--time-limit` is not given: a hard history gets
/// `unknown` rather than a command that never returns.
const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(60);

/// A FileFormat is a history file format, as `--format` spells it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// splitbrain's history.jsonl.
    Jsonl,
    /// porcupine's Jepsen etcd logs.
    PorcupineJepsen,
    /// porcupine's kv test data (one EDN map per line).
    PorcupineKv,
    /// Jepsen's or Knossos's history.edn.
    JepsenEdn,
}

impl From<FileFormat> for Format {
    fn from(f: FileFormat) -> Format {
        match f {
            FileFormat::Jsonl => Format::Jsonl,
            FileFormat::PorcupineJepsen => Format::PorcupineJepsen,
            FileFormat::PorcupineKv => Format::PorcupineKv,
            FileFormat::JepsenEdn => Format::JepsenEdn,
        }
    }
}

/// A ModelArg is a model, as `--model` spells it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// Read/write register.
    Register,
    /// Read/write/compare-and-set register.
    CasRegister,
    /// Key-value map with get/put/append, checked per key.
    Kv,
    /// Mutex with an owner: only the holder may release.
    Mutex,
    /// Mutex whose grants carry strictly increasing fencing tokens.
    FencedMutex,
    /// Knossos's multi-register: transactions reading and writing registers by key
    /// (--init {"x": 0, ...}); reads of nil accept any value.
    MultiRegister,
}

/// A NilReads is how a register's read that returned nil is judged, as `--nil-reads`
/// spells it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum NilReads {
    /// As Knossos does: a nil read is consistent with any state.
    Any,
    /// As porcupine does: nil is a value, read only while the register holds it.
    Value,
}

impl From<ModelArg> for ModelKind {
    fn from(m: ModelArg) -> ModelKind {
        match m {
            ModelArg::Register => ModelKind::Register,
            ModelArg::CasRegister => ModelKind::CasRegister,
            ModelArg::Kv => ModelKind::Kv,
            ModelArg::Mutex => ModelKind::Mutex,
            ModelArg::FencedMutex => ModelKind::FencedMutex,
            ModelArg::MultiRegister => ModelKind::MultiRegister,
        }
    }
}

/// CheckFileArgs are the options of checking a history file.
#[derive(Args, Debug, Clone, Default)]
pub struct CheckFileArgs {
    /// Format of the history file [default: from the extension: .jsonl, .edn, .log]
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Model to check the history against (required for a history file)
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Initial value of the model, as JSON (`nil` is accepted for null). Registers start
    /// at null unless told: porcupine's cas-register starts at nil, Knossos's at 0
    #[arg(long, value_name = "VALUE")]
    pub init: Option<String>,
    /// Give up after this many seconds and answer unknown (exit code 2) [default: 60]
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<f64>,
    /// Print the full result as JSON
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML page of the history and its linearization
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// Check a kv history as one map instead of key by key (slow; for comparison)
    #[arg(long)]
    pub no_partition: bool,
    /// Search every partition, even a register whose writes are all unique, which is
    /// otherwise checked without search (slow; for comparison)
    #[arg(long)]
    pub general_search: bool,
    /// The most heap the check may use (`512MiB`, `2GiB`, or bytes); past it the search
    /// drops its caches and goes on without them, slower, and says so [default: 1GiB]
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// How a register's read of nil is judged: `any` state (Knossos) or only the `value`
    /// nil (porcupine) [default: any for jepsen-edn histories, value otherwise]
    #[arg(long, value_enum, value_name = "HOW")]
    pub nil_reads: Option<NilReads>,
    /// Also write the verdict as JUnit XML here (one test case: the model)
    #[arg(long, value_name = "OUT")]
    pub junit: Option<PathBuf>,
    /// Threads checking partitions at once [default: the machine's cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl CheckFileArgs {
    /// The options given, as the command line spells them.
    pub fn given(&self) -> Vec<&'static str> {
        let flags = [
            (self.format.is_some(), "--format"),
            (self.model.is_some(), "--model"),
            (self.init.is_some(), "--init"),
            (self.time_limit.is_some(), "--time-limit"),
            (self.json, "--json"),
            (self.html.is_some(), "--html"),
            (self.no_partition, "--no-partition"),
            (self.general_search, "--general-search"),
            (self.memory_limit.is_some(), "--memory-limit"),
            (self.threads.is_some(), "--threads"),
            (self.nil_reads.is_some(), "--nil-reads"),
            (self.junit.is_some(), "--junit"),
        ];
        flags
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, f)| *f)
            .collect()
    }
}

/// Checks `file` and prints the outcome. Returns 0 when linearizable, 1 when not, 2 when
/// unknown (out of time, or nothing to check).
pub fn run(file: &Path, args: &CheckFileArgs) -> Result<i32> {
    let Some(model) = args.model else {
        bad_input!(
            "checking a history file needs a model: file={} (add --model register|cas-register|kv|mutex|fenced-mutex|multi-register)",
            file.display()
        );
    };
    let format = match args.format {
        Some(f) => Format::from(f),
        None => guess_format(file)?,
    };
    let init = args.init.as_deref().map(parse_init).transpose()?;
    let options = options(args)?;
    let ops = import::read(file, format)
        .with_context(|| format!("reading the history (format={format})"))?;
    let mut history = History::new(ops);
    let nil_reads = args.nil_reads.unwrap_or(match format {
        Format::JepsenEdn => NilReads::Any,
        _ => NilReads::Value,
    });
    let mut nil_reads_accepted = 0;
    if nil_reads == NilReads::Any && matches!(model, ModelArg::Register | ModelArg::CasRegister) {
        (history, nil_reads_accepted) = splitbrain_checker::linear::nil_reads_match_any(&history);
    }
    let report = check_with_model(model.into(), &history, init.as_ref(), &options)
        .with_context(|| format!("checking {}", file.display()))?;
    if args.json {
        let out = serde_json::json!({
            "file": file,
            "format": format.name(),
            "nil_reads_accepted_as_any": nil_reads_accepted,
            "result": report,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(file, &report);
        if nil_reads_accepted > 0 {
            println!(
                "  nil reads: {nil_reads_accepted} reads of nil were accepted as consistent \
                 with any state, as Knossos judges them (--nil-reads value counts nil as a \
                 value the register holds, as porcupine does)"
            );
        }
    }
    if let Some(out) = &args.junit {
        write_junit(out, file, format, &report)?;
        if !args.json {
            println!("junit: {}", out.display());
        }
    }
    if let Some(out) = &args.html {
        let title = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let page = splitbrain_reports::linear_page::render(&history, &report, &title);
        splitbrain_checker::write_atomically(out, page.as_bytes()).map_err(|e| {
            BadInput(format!(
                "cannot write the page: html={}: {e} (give --html a file in a directory \
                 you can write to)",
                out.display()
            ))
        })?;
        if !args.json {
            println!("page: {}", out.display());
        }
    }
    Ok(report.valid.exit_code())
}

/// The check as a JUnit suite of one case.
fn write_junit(out: &Path, file: &Path, format: Format, report: &LinearReport) -> Result<()> {
    use splitbrain_reports::{Case, SuiteHead, document, render_suite};
    let name = format!("splitbrain check {}", file.display());
    let properties = [
        ("file", file.display().to_string()),
        ("format", format.name().to_owned()),
        ("model", report.model.clone()),
    ];
    let details = report
        .counterexample
        .as_ref()
        .map_or(String::new(), |c| c.explanation.clone());
    let started_at = splitbrain_runner::run_dir::now_rfc3339();
    let head = SuiteHead {
        name: &name,
        properties: &properties,
        time_s: report.stats.elapsed_ms / 1e3,
        started_at: &started_at,
        system_out: "",
    };
    let case = Case {
        name: &report.model,
        valid: report.valid,
        summary: &report.summary(),
        details,
    };
    let text = document("splitbrain", &[render_suite(&head, &[case])]);
    splitbrain_reports::write_document(out, &text).map_err(|e| {
        BadInput(format!(
            "cannot write the JUnit file: junit={}: {e} (give --junit a file in a directory \
             you can write to)",
            out.display()
        ))
    })?;
    Ok(())
}

fn options(args: &CheckFileArgs) -> Result<CheckOptions> {
    let time_limit = match args.time_limit {
        None => Some(DEFAULT_TIME_LIMIT),
        Some(s) => match Duration::try_from_secs_f64(s) {
            Ok(d) if !d.is_zero() => Some(d),
            _ => bad_input!("bad --time-limit: secs={s} (expected a positive number of seconds)"),
        },
    };
    let defaults = CheckOptions::default();
    let memory_limit = match &args.memory_limit {
        None => defaults.memory_limit,
        Some(text) => Some(parse_size(text)?),
    };
    let threads = match args.threads {
        None => defaults.threads,
        Some(0) => bad_input!("bad --threads: 0 (expected at least 1)"),
        Some(n) => n,
    };
    Ok(CheckOptions {
        time_limit,
        partition: !args.no_partition,
        reads_from: !args.general_search,
        memory_limit,
        threads,
        ..defaults
    })
}

/// A size such as `1GiB`, `512MiB`, `64KiB` or a number of bytes.
fn parse_size(text: &str) -> Result<usize> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let scale: Option<usize> = match unit.trim() {
        "" | "B" => Some(1),
        "KiB" => Some(1 << 10),
        "MiB" => Some(1 << 20),
        "GiB" => Some(1 << 30),
        _ => None,
    };
    match (digits.parse::<usize>(), scale) {
        (Ok(n), Some(scale)) if n > 0 => match n.checked_mul(scale) {
            Some(bytes) => Ok(bytes),
            None => {
                bad_input!("bad --memory-limit: {text:?} is more than this machine can address")
            }
        },
        _ => bad_input!(
            "bad --memory-limit: {text:?} (expected a positive size such as 512MiB, 2GiB or \
             a number of bytes)"
        ),
    }
}

/// `--init` as JSON, with `nil` (Clojure's) for null. Anything else is refused: a typo
/// such as `nill` taken as the string "nill" would silently change the verdict.
fn parse_init(text: &str) -> Result<Value> {
    if text.trim() == "nil" {
        return Ok(Value::Null);
    }
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(e) => bad_input!(
            "bad --init: {text:?} is not a JSON value ({e}); give JSON such as 0, null, \
             or \"text\" in double quotes (nil is accepted for null)"
        ),
    }
}

fn guess_format(file: &Path) -> Result<Format> {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    Ok(match ext {
        "jsonl" | "json" => Format::Jsonl,
        "edn" => Format::JepsenEdn,
        "log" => Format::PorcupineJepsen,
        _ => bad_input!(
            "cannot tell the format of file={} from its extension (add --format jsonl|porcupine-jepsen|porcupine-kv|jepsen-edn)",
            file.display()
        ),
    })
}

fn print_text(file: &Path, report: &LinearReport) {
    let verdict = match report.valid {
        Validity::Valid => "linearizable",
        Validity::Invalid => "NOT linearizable",
        Validity::Unknown => "unknown",
    };
    println!("{}: {verdict} ({} model)", file.display(), report.model);
    println!("  {}", report.summary());
    if let Some(c) = &report.counterexample {
        println!("  {}", c.explanation);
        let shown = c.prefix.len().min(8);
        if shown > 0 {
            println!("  last {shown} operations of the longest linearizable prefix:");
            for step in &c.prefix[c.prefix.len() - shown..] {
                println!(
                    "    index={:<6} process={:<4} {:<32} state after: {}",
                    step.index, step.process, step.op, step.state
                );
            }
        }
        if let Some(f) = &c.failed {
            println!(
                "  cannot linearize: index={} process={} {} (state before: {})",
                f.index, f.process, f.op, f.state
            );
        }
    }
    let s = &report.stats;
    let peak = s
        .memory_peak_bytes
        .map_or(String::new(), |b| format!(" memory_peak_mib={}", b >> 20));
    println!(
        "  operations={} partitions={} without_search={} steps={} cache_peak_entries={} cache_peak_kib={}{peak} elapsed_ms={:.1}",
        s.operations,
        s.partitions,
        s.partitions_by_reads_from,
        s.steps,
        s.cache_entries_peak,
        s.cache_bytes_peak / 1024,
        s.elapsed_ms
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus/porcupine")
            .join(rel)
    }

    fn args(model: ModelArg) -> CheckFileArgs {
        CheckFileArgs {
            model: Some(model),
            ..CheckFileArgs::default()
        }
    }

    #[test]
    fn porcupine_etcd_logs_exit_with_their_verdicts() {
        let a = args(ModelArg::CasRegister);
        assert_eq!(run(&corpus("jepsen/etcd_002.log"), &a).unwrap(), 0);
        assert_eq!(run(&corpus("jepsen/etcd_000.log"), &a).unwrap(), 1);
    }

    #[test]
    fn a_kv_file_needs_its_format_named_and_then_checks() {
        let mut a = args(ModelArg::Kv);
        let err = run(&corpus("kv/c01-bad.txt"), &a).unwrap_err().to_string();
        assert!(err.contains("--format"), "{err}");
        a.format = Some(FileFormat::PorcupineKv);
        a.json = true;
        assert_eq!(run(&corpus("kv/c01-bad.txt"), &a).unwrap(), 1);
    }

    #[test]
    fn a_missing_model_or_a_bad_time_limit_is_a_clear_error() {
        let err = run(Path::new("h.jsonl"), &CheckFileArgs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--model"), "{err}");
        let mut a = args(ModelArg::Register);
        for bad in [-1.0, 0.0, f64::NAN, 1e300] {
            a.time_limit = Some(bad);
            let err = run(Path::new("h.jsonl"), &a).unwrap_err().to_string();
            assert!(err.contains("bad --time-limit: secs="), "{err}");
        }
    }

    #[test]
    fn a_malformed_file_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.edn");
        std::fs::write(
            &path,
            "[{:type :invoke, :f :read, :process 0}\n {:type :ok :f}]",
        )
        .unwrap();
        let err = format!("{:#}", run(&path, &args(ModelArg::Register)).unwrap_err());
        assert!(err.contains("h.edn:2:"), "{err}");
    }

    #[test]
    fn open_operations_at_the_end_are_indeterminate_and_the_page_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let lines = [
            r#"{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"write","value":1}"#,
            r#"{"index":1,"time_ns":5,"process":1,"type":"invoke","f":"read","value":null}"#,
            r#"{"index":2,"time_ns":9,"process":1,"type":"ok","f":"read","value":1}"#,
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let mut a = args(ModelArg::CasRegister);
        a.html = Some(dir.path().join("page.html"));
        a.init = Some("nil".into());
        assert_eq!(run(&path, &a).unwrap(), 0);
        let page = std::fs::read_to_string(dir.path().join("page.html")).unwrap();
        assert!(
            page.contains("<svg") && page.contains("linearizable"),
            "{page}"
        );
    }

    #[test]
    fn init_values_read_as_json_or_nil_and_nothing_else() {
        assert_eq!(parse_init("0").unwrap(), serde_json::json!(0));
        assert_eq!(parse_init("nil").unwrap(), Value::Null);
        assert_eq!(parse_init("\"free\"").unwrap(), serde_json::json!("free"));
        for typo in ["nill", "free", "", "{"] {
            let err = parse_init(typo).unwrap_err();
            assert!(err.is::<BadInput>(), "{typo}: {err}");
            assert!(err.to_string().contains("bad --init"), "{err}");
        }
    }
}
