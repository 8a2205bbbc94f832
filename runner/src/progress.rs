//! What a run shows while it runs: the phases, and live op counts during the workload.
//! On a terminal this is a progress bar; elsewhere (CI logs) plain lines.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use splitbrain_history::OpCounts;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A Progress shows the phases of a run to the person (or log) watching it, and keeps
/// how long each took.
pub struct Progress {
    bar: ProgressBar,
    interactive: bool,
    phases: Mutex<Vec<(String, Instant)>>,
    /// When the last plain workload line was printed (off a terminal).
    last_line: Mutex<Option<Instant>>,
}

/// How often a plain workload line is printed when stderr is not a terminal.
const PLAIN_LINE_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// A progress display on stderr; plain lines when stderr is not a terminal.
    pub fn stderr() -> Progress {
        let target = ProgressDrawTarget::stderr();
        let interactive = !target.is_hidden();
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.cyan} [{elapsed_precise}] {prefix:.bold} {wide_msg}",
            )
            .expect("static template is valid"),
        );
        if interactive {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Progress {
            bar,
            interactive,
            phases: Mutex::default(),
            last_line: Mutex::default(),
        }
    }

    /// A progress display that shows nothing, for tests and library use.
    pub fn hidden() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
            interactive: false,
            phases: Mutex::default(),
            last_line: Mutex::default(),
        }
    }

    /// Starts a phase (`cluster up`, `workload`, `check`, ...).
    pub fn phase(&self, name: &str) {
        self.phases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), Instant::now()));
        self.bar.set_prefix(name.to_string());
        self.bar.set_message("");
        if !self.interactive {
            eprintln!("splitbrain: {name}");
        }
    }

    /// Updates the live line of the workload phase; `faults` says what is in force (and
    /// on whom). Off a terminal, the same line is printed every few seconds, so a CI log
    /// shows the run moving.
    pub fn workload(&self, elapsed: Duration, limit: Duration, counts: OpCounts, faults: &str) {
        let line = format!(
            "{:>3}/{}s  ops invoked={} ok={} fail={} info={}  nemesis ops={}  {faults}",
            elapsed.as_secs(),
            limit.as_secs(),
            counts.invoke,
            counts.ok,
            counts.fail,
            counts.info,
            counts.nemesis
        );
        if self.interactive {
            self.bar.set_message(line);
            return;
        }
        let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= PLAIN_LINE_EVERY) {
            *last = Some(Instant::now());
            eprintln!("splitbrain: workload {line}");
        }
    }

    /// Prints a line above the bar (or plainly).
    pub fn println(&self, line: impl AsRef<str>) {
        if self.interactive {
            self.bar.println(line.as_ref());
        } else {
            eprintln!("{}", line.as_ref());
        }
    }

    /// Clears the bar at the end of the run and closes the last phase.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        self.phase("done");
    }

    /// How long each finished phase took, in order.
    pub fn timings(&self) -> Vec<(String, Duration)> {
        let phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        phases
            .windows(2)
            .map(|w| (w[0].0.clone(), w[1].1 - w[0].1))
            .collect()
    }
}
