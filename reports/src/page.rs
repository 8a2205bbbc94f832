//! The run page: `index.html`, self-contained (inline CSS and SVG, no external URL), with
//! the verdict first, then what happened told as causes (damage first), what was run,
//! what each checker found, the timeline, every violation in a sentence (long lists
//! folded under their count), and the faults. Every value that came from a file goes
//! through [`esc`].

use crate::ReportError;
use crate::plot::inline;
use crate::run_timeline::{self, Fault, violation_ops};
use crate::timeline::{self, BAND_CSS, MARK_CSS, OBSERVATION_CSS, Outcome, PIN_CSS, SHADE_CSS};
use splitbrain_checker::{CheckerResult, Results, RunData, Validity};
use splitbrain_history::{OpType, Process};
use std::fmt::Write;

/// Violations listed per checker at most; results.json has them all.
const MAX_LISTED: usize = 50;
/// Lists longer than this are folded under their count.
const FOLD_AFTER: usize = 3;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

fn verdict_word(v: Validity) -> (&'static str, &'static str) {
    match v {
        Validity::Valid => ("valid", "valid"),
        Validity::Invalid => ("INVALID", "invalid"),
        Validity::Unknown => ("unknown", "unknown"),
    }
}

const CSS: &str = "\
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1440px}\
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}\
.verdict{display:inline-block;padding:6px 16px;border-radius:6px;font-weight:bold;font-size:20px}\
.valid{background:#d8f5dc;color:#145c22}.invalid{background:#c8102e;color:#fff}\
.unknown{background:#ffe9a8;color:#6b4e00}\
table{border-collapse:collapse;font-size:14px}td,th{padding:3px 10px;text-align:left;\
border-bottom:1px solid #eee;vertical-align:top}th{background:#fafafa}\
pre{background:#f4f4f4;padding:8px 12px;border-radius:4px;white-space:pre-wrap}\
.tag{padding:1px 6px;border-radius:3px;font-size:13px;font-weight:bold}\
.legend span{display:inline-block;margin-right:14px;font-size:13px}\
.sw{display:inline-block;width:14px;height:10px;margin-right:4px;border:1px solid #999}\
.timeline{border:1px solid #eee}.timeline svg{width:100%;height:auto}li{margin:4px 0}.muted{color:#777}\
li.damage{font-weight:600}details summary{cursor:pointer}\
#tip{position:absolute;z-index:10;background:#fffff0;border:1px solid #999;padding:6px 8px;\
font:12px ui-monospace,monospace;white-space:pre;pointer-events:none;max-width:60em;overflow:hidden}\
#tip[hidden]{display:none}.timeline{overflow:hidden}.timeline svg{cursor:crosshair}\
a.jump{font-size:12px;margin-left:6px}.controls button{font-size:12px}html{overflow-anchor:none}";

/// Renders the whole page.
pub fn render(run: &RunData, results: &Results) -> Result<String, ReportError> {
    let info = &run.info;
    let (word, class) = verdict_word(results.valid);
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>splitbrain: {} {} seed {}: {}</title><style>{CSS}</style></head><body>\n\
         <h1>splitbrain run: {} lock, {} workload</h1>\n\
         <p><span class=\"verdict {class}\" id=\"verdict\">{word}</span></p>\n",
        esc(&info.lock),
        esc(&info.workload),
        info.seed,
        word,
        esc(&info.lock),
        esc(&info.workload),
    );
    let _ = writeln!(h, "<p id=\"reason\">{}</p>", esc(&reason(results)));
    h.push_str(&causes_section(run, results));
    h.push_str(&configuration(run));
    h.push_str(&checkers(&results.checkers));
    h.push_str(&timeline_section(run, results)?);
    h.push_str(&availability_section(results)?);
    h.push_str(&perf_section(run)?);
    h.push_str(&clock_section(run)?);
    h.push_str(&violations(run, results));
    h.push_str(&faults_section(&run_timeline::faults(&run.history)));
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
    Ok(h)
}

/// One sentence under the verdict: which checkers decided it.
fn reason(results: &Results) -> String {
    let named = |v: Validity| -> Vec<&str> {
        let names = results.checkers.iter().filter(|(_, r)| r.valid == v);
        names.map(|(n, _)| n.as_str()).collect()
    };
    match results.valid {
        Validity::Invalid => format!(
            "Violations found by: {}.",
            named(Validity::Invalid).join(", ")
        ),
        Validity::Unknown => format!(
            "No violation found, but these checkers could not decide: {}.",
            named(Validity::Unknown).join(", ")
        ),
        Validity::Valid => format!(
            "No violation found by any of the {} checkers.",
            results.checkers.len()
        ),
    }
}

/// The command that reruns this run: the recorded command, with the seed added when the
/// command did not pin it.
pub fn rerun_command(command: &str, seed: u64) -> String {
    if command.split_whitespace().any(|w| w.starts_with("--seed")) {
        command.to_string()
    } else {
        format!("{} --seed {seed}", command.trim_end())
    }
}

fn configuration(run: &RunData) -> String {
    let i = &run.info;
    let nemesis = if i.nemesis.is_empty() {
        "none".to_string()
    } else {
        i.nemesis.join(", ")
    };
    let rows: Vec<(&str, String)> = vec![
        ("seed", i.seed.to_string()),
        ("lock", i.lock.clone()),
        ("workload", i.workload.clone()),
        ("nemesis", nemesis),
        ("fencing", if i.fencing { "on" } else { "off" }.to_string()),
        ("clients", i.clients.to_string()),
        ("nodes", i.nodes.to_string()),
        ("time limit", format!("{} s", i.time_limit_s)),
        ("ttl", format!("{} ms", i.ttl_ms)),
        ("started at", i.started_at.clone()),
        ("splitbrain", i.splitbrain_version.clone()),
        ("operations", op_counts(run)),
    ];
    let mut h = String::from("<h2>Configuration</h2>\n<table id=\"config\">\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    h.push_str("</table>\n<p>Rerun exactly this run (same seed, same schedule):</p>\n");
    let _ = writeln!(
        h,
        "<pre id=\"rerun\">{}</pre>",
        esc(&rerun_command(&i.command, i.seed))
    );
    for note in &run.notes {
        let _ = writeln!(h, "<p class=\"muted\">Note: {}</p>", esc(note));
    }
    h
}

fn op_counts(run: &RunData) -> String {
    let ops = &run.history.ops;
    let count = |k: OpType| ops.iter().filter(|o| o.is_client() && o.kind == k).count();
    let procs: std::collections::BTreeSet<_> =
        ops.iter().filter_map(|o| o.process.client()).collect();
    let secs = ops.last().map_or(0.0, |o| o.time_ns as f64 / 1e9);
    format!(
        "{} client ops by {} processes over {secs:.1} s: {} ok, {} fail, {} info; {} nemesis ops",
        count(OpType::Invoke),
        procs.len(),
        count(OpType::Ok),
        count(OpType::Fail),
        count(OpType::Info),
        ops.iter().filter(|o| o.process == Process::Nemesis).count(),
    )
}

fn checkers(checkers: &std::collections::BTreeMap<String, CheckerResult>) -> String {
    let mut h = String::from(
        "<h2>Checkers</h2>\n<table id=\"checkers\"><tr><th>checker</th><th>verdict</th>\
         <th>summary</th></tr>\n",
    );
    for (name, r) in checkers {
        let (word, class) = verdict_word(r.valid);
        let stats = if r.stats.is_null() {
            String::new()
        } else {
            let pretty = serde_json::to_string_pretty(&r.stats).unwrap_or_default();
            format!(
                "<details><summary>figures</summary><pre>{}</pre></details>",
                esc(&pretty)
            )
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><span class=\"tag {class}\">{word}</span></td><td>{}{stats}</td></tr>",
            esc(name),
            esc(&r.summary)
        );
    }
    h.push_str("</table>\n");
    h
}

/// Latency and throughput over time, faults shaded (see [`crate::perf_plot`]).
fn perf_section(run: &RunData) -> Result<String, ReportError> {
    use crate::perf_plot::{MAX_POINTS, Perf, latency_svg, legend_html, throughput_svg};
    let perf = Perf::from_history(&run.history);
    if perf.points.is_empty() {
        return Ok(String::new());
    }
    let sampled = if perf.points.len() > MAX_POINTS {
        format!(
            " The latency plot draws an even sample of the ok and fail operations and every \
             info one ({} of {}); throughput counts them all.",
            perf.drawn().len(),
            perf.points.len()
        )
    } else {
        String::new()
    };
    Ok(format!(
        "<h2 id=\"performance\">Performance</h2>\n<p class=\"muted\">Every completed client \
         operation's latency (log scale) and the operations completed per second, by outcome.\
         {sampled}</p>\n<div class=\"timeline\" id=\"latency\">{}</div>\n\
         <div class=\"timeline\" id=\"throughput\">{}</div>\n{}\n",
        inline(latency_svg(&perf)?),
        inline(throughput_svg(&perf)?),
        legend_html()
    ))
}

/// Each skewed process's clock offset over time, when the nemesis set clocks (see
/// [`crate::clock_plot`]).
fn clock_section(run: &RunData) -> Result<String, ReportError> {
    use crate::clock_plot::{ClockOffsets, legend_html, render_svg};
    let clocks = ClockOffsets::from_history(&run.history);
    if clocks.series.is_empty() {
        return Ok(String::new());
    }
    Ok(format!(
        "<h2 id=\"clocks\">Clock offsets</h2>\n<p class=\"muted\">How far ahead of the true \
         time (below zero: behind) the nemesis set each process's clock, from the history's \
         clock ops; a process it could not reach kept the true time and is not drawn. \
         libfaketime counts a drift from the server's start, so a drifted server's clock \
         may have jumped where its line slopes.</p>\n<div class=\"timeline\" id=\"clock-offsets\">{}</div>\n{}\n",
        inline(render_svg(&clocks)?),
        legend_html(&clocks)
    ))
}

/// The availability checker's plot of acquires tried and granted per second, when the
/// run has one.
fn availability_section(results: &Results) -> Result<String, ReportError> {
    use crate::availability_plot::{Availability, legend_html, render_svg};
    let Some(checker) = results.checkers.get(splitbrain_checker::availability::NAME) else {
        return Ok(String::new());
    };
    let Some(counts) = Availability::from_stats(&checker.stats) else {
        return Ok(String::new());
    };
    let svg = inline(render_svg(&counts)?);
    Ok(format!(
        "<h2 id=\"availability\">Availability</h2>\n<p>{}</p>\n<div class=\"timeline\">{svg}</div>\n{}\n",
        esc(&checker.summary),
        legend_html()
    ))
}

fn timeline_section(run: &RunData, results: &Results) -> Result<String, ReportError> {
    let mut t = run_timeline::run_timeline(&run.history, run.resource.as_deref(), results);
    run_timeline::name_rows(&mut t, run);
    let svg = timeline::render_svg(&t)?;
    let data = format!(
        "<script id=\"ops-data\" type=\"application/json\">{}</script>\n\
         <script id=\"timeline-geometry\" type=\"application/json\">{}</script>\n",
        script_json(&run_timeline::ops_json(
            &run.history,
            &violation_op_set(run, results)
        )),
        script_json(&timeline::geometry(&t)),
    );
    let svg = inline(svg);
    let sw = |css: &str, border: &str, text: &str| {
        format!("<span><i class=\"sw\" style=\"background:{css};{border}\"></i>{text}</span>")
    };
    let legend = [
        sw(Outcome::Ok.css_color(), "", "ok"),
        sw(Outcome::Fail.css_color(), "", "fail"),
        sw(
            Outcome::Info.css_color(),
            "",
            "info (unknown outcome, or never completed)",
        ),
        sw(SHADE_CSS, "", "fault in effect"),
        sw(
            "none",
            &format!("border:2px solid {MARK_CSS}"),
            "op in a violation",
        ),
        sw(BAND_CSS, "height:4px", "lock held (acquire ok to release)"),
        sw(MARK_CSS, "opacity:.4", "overlapping holds (violation)"),
        sw(
            OBSERVATION_CSS,
            "opacity:.4",
            "overlapping holds (observation: fencing on)",
        ),
        sw(
            PIN_CSS,
            "width:3px",
            "lost: the client said on its own that it lost its lock",
        ),
    ]
    .join("");
    Ok(format!(
        "<h2>Timeline</h2>\n<p class=\"legend\">{legend}</p>\n<p class=\"muted\">One row per \
         client process; each bar is one operation from invocation to completion. Ops too \
         short to see are merged into one bar of their outcome.</p>\n\
         {controls}<div class=\"timeline\" id=\"timeline\">{svg}</div>\n<div id=\"tip\" hidden></div>\n{data}",
        controls = timeline_controls()
    ))
}

/// The buttons and the filter above an interactive timeline.
pub(crate) fn timeline_controls() -> &'static str {
    "<p class=\"controls\"><button id=\"zoom-in\" type=\"button\">zoom in</button> \
     <button id=\"zoom-out\" type=\"button\">zoom out</button> \
     <button id=\"zoom-reset\" type=\"button\">whole run</button> \
     <label>filter <input id=\"filter\" placeholder=\"process, node or f\"></label> \
     <span class=\"muted\">hover an op for its record; drag to pan, wheel to zoom</span></p>\n"
}

/// The page's script (hover, zoom, pan, jump, filter), inlined: the page fetches nothing.
pub(crate) const SCRIPT: &str = include_str!("assets/report.js");

/// JSON for a `<script type="application/json">` element: `<` written as `\u003c`, so no
/// value can close the element or open a comment.
pub(crate) fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

/// The history ops of the invalid checkers' evidence.
fn violation_op_set(run: &RunData, results: &Results) -> std::collections::HashSet<u64> {
    results
        .checkers
        .values()
        .filter(|c| c.valid == Validity::Invalid)
        .flat_map(|c| c.evidence.iter())
        .flat_map(|e| violation_ops(&run.history, run.resource.as_deref(), e))
        .collect()
}

/// A link that shows op `index` on the timeline (the page's script handles it).
fn jump_link(index: u64) -> String {
    format!(" <a class=\"jump\" href=\"#timeline\" data-op=\"{index}\">show on the timeline</a>")
}

/// What went wrong, cause and effect, damage first (see [`crate::causes`]).
fn causes_section(run: &RunData, results: &Results) -> String {
    let causes = crate::causes::causes(run, results);
    if causes.is_empty() {
        return String::new();
    }
    let mut h = String::from("<h2>What happened</h2>\n<ol id=\"causes\">\n");
    for c in &causes {
        let class = if c.damage { "cause damage" } else { "cause" };
        let jump = c
            .op_indexes
            .first()
            .map_or(String::new(), |&i| jump_link(i));
        let _ = writeln!(h, "<li class=\"{class}\">{}{jump}</li>", esc(&c.sentence));
    }
    h.push_str("</ol>\n");
    h
}

fn violations(run: &RunData, results: &Results) -> String {
    let mut h = String::from("<h2>Violations and observations</h2>\n");
    let mut any = false;
    for (name, r) in &results.checkers {
        if r.evidence.is_empty() {
            continue;
        }
        any = true;
        let what = match r.valid {
            Validity::Invalid => "violations",
            Validity::Unknown => "problems",
            Validity::Valid => "observations (not violations)",
        };
        let _ = writeln!(h, "<h3>{}: {what}</h3>", esc(name));
        // A long list of one kind is folded: its count, its first and its last item show.
        let folded = r.evidence.len() > FOLD_AFTER;
        if folded {
            let (first, last) = (&r.evidence[0], &r.evidence[r.evidence.len() - 1]);
            let _ = writeln!(
                h,
                "<details><summary>{} {what}; the first: {}{}; the last: {}{}</summary>",
                r.evidence.len(),
                esc(&first.explanation),
                evidence_jump(run, first),
                esc(&last.explanation),
                evidence_jump(run, last)
            );
        }
        h.push_str("<ol>\n");
        for e in r.evidence.iter().take(MAX_LISTED) {
            let _ = writeln!(
                h,
                "<li class=\"violation\">{}{}{}</li>",
                esc(&e.explanation),
                refs(run, e),
                evidence_jump(run, e)
            );
        }
        h.push_str("</ol>\n");
        if folded {
            h.push_str("</details>\n");
        }
        if r.evidence.len() > MAX_LISTED {
            let _ = writeln!(
                h,
                "<p class=\"muted\">... and {} more in results.json</p>",
                r.evidence.len() - MAX_LISTED
            );
        }
    }
    if !any {
        h.push_str("<p>None: no checker found anything to point at.</p>\n");
    }
    h
}

/// A link to where a piece of evidence happened on the timeline (its first op), if any.
fn evidence_jump(run: &RunData, e: &splitbrain_checker::Evidence) -> String {
    violation_ops(&run.history, run.resource.as_deref(), e)
        .first()
        .map_or(String::new(), |&i| jump_link(i))
}

/// The op indexes and resource seqs of one piece of evidence, with the history ops that
/// its resource seqs correspond to.
fn refs(run: &RunData, e: &splitbrain_checker::Evidence) -> String {
    let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    if !e.op_indexes.is_empty() {
        parts.push(format!("ops {}", join(&e.op_indexes)));
    }
    if !e.resource_seqs.is_empty() {
        parts.push(format!("resource seqs {}", join(&e.resource_seqs)));
        let matched: Vec<u64> = violation_ops(&run.history, run.resource.as_deref(), e)
            .into_iter()
            .skip(e.op_indexes.len())
            .collect();
        if !matched.is_empty() {
            parts.push(format!("matching history ops {}", join(&matched)));
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(" <span class=\"muted\">({})</span>", esc(&parts.join("; ")))
}

fn faults_section(faults: &[Fault]) -> String {
    let mut h = String::from("<h2>Faults</h2>\n");
    if faults.is_empty() {
        h.push_str("<p>No faults were injected.</p>\n");
        return h;
    }
    h.push_str(
        "<table id=\"faults\"><tr><th>fault</th><th>target</th><th>from</th><th>until</th>\
         <th>op</th><th>applied</th></tr>\n",
    );
    let secs = |ns: u64| format!("{:.3} s", ns as f64 / 1e9);
    for f in faults {
        let until = match (&f.error, f.end_ns) {
            (Some(_), _) => "-".to_string(),
            (None, Some(end)) => secs(end),
            (None, None) => "end of run".to_string(),
        };
        let applied = f
            .error
            .as_ref()
            .map_or("yes".to_string(), |e| format!("no: {e}"));
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&f.f),
            esc(&f.target),
            secs(f.start_ns),
            esc(&until),
            f.start_index,
            esc(&applied)
        );
    }
    h.push_str("</table>\n");
    h
}
