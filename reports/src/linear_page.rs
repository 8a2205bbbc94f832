//! The page of one linearizability check: a self-contained HTML file with the verdict,
//! a timeline per process (each operation a bar, numbered by its place in the
//! linearization, the operation that cannot be linearized marked in red), and the
//! linearization or the longest linearizable prefix as a table with the model state
//! after each step.

use crate::esc;
use crate::timeline::{Mark, Outcome, Span, Timeline, render_svg};
use splitbrain_checker::Validity;
use splitbrain_checker::linear::{LinearReport, StepView};
use splitbrain_history::{History, OpType, Process};
use std::collections::HashMap;
use std::fmt::Write;

/// Table rows shown before the rest is elided: a page must stay readable (and small)
/// for a 100,000-operation history.
const MAX_TABLE_ROWS: usize = 300;

/// Renders the page for `history` and its `report`; `title` names the history (its
/// file name).
pub fn render(history: &History, report: &LinearReport, title: &str) -> String {
    let (timeline, row_of) = timeline(history, report);
    let svg = render_svg(&timeline).unwrap_or_else(|e| {
        format!(
            "<p class=\"err\">timeline not drawn: {}</p>",
            esc(&e.to_string())
        )
    });
    let (word, color) = match report.valid {
        Validity::Valid => ("linearizable", "#1e7e34"),
        Validity::Invalid => ("NOT linearizable", "#c0392b"),
        Validity::Unknown => ("unknown", "#b7950b"),
    };
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}: {word}</title>\n<style>{STYLE}</style></head><body>\n\
         <h1>{t}</h1>\n<p class=\"verdict\" style=\"color:{color}\">{word} <span>({m} model)</span></p>\n<p>{s}</p>\n",
        t = esc(title),
        m = esc(&report.model),
        s = esc(&report.summary()),
    );
    if let Some(c) = &report.counterexample {
        let _ = writeln!(html, "<p class=\"explain\">{}</p>", esc(&c.explanation));
    }
    let failed: std::collections::HashSet<u64> = report
        .counterexample
        .as_ref()
        .and_then(|c| c.failed.as_ref())
        .map(|f| f.index)
        .into_iter()
        .collect();
    let ops = crate::run_timeline::ops_json_in_rows(history, &failed, &|p| row_of.get(&p).copied());
    let _ = writeln!(
        html,
        "{}<div class=\"chart timeline\" id=\"timeline\">{svg}</div>\n<div id=\"tip\" hidden></div>\n{}\n\
         <script id=\"ops-data\" type=\"application/json\">{}</script>\n\
         <script id=\"timeline-geometry\" type=\"application/json\">{}</script>",
        crate::page::timeline_controls(),
        legend(),
        crate::page::script_json(&ops),
        crate::page::script_json(&crate::timeline::geometry(&timeline)),
    );
    html.push_str(&tables(report));
    let st = &report.stats;
    let _ = write!(
        html,
        "<p class=\"stats\">operations={} partitions={} (decided without search: {}) steps={} cache peak: {} entries, {} KiB, elapsed {:.1} ms</p>\n</body></html>\n",
        st.operations,
        st.partitions,
        st.partitions_by_reads_from,
        st.steps,
        st.cache_entries_peak,
        st.cache_bytes_peak / 1024,
        st.elapsed_ms
    );
    html.replacen(
        "</body></html>\n",
        &format!("<script>{}</script>\n</body></html>\n", crate::page::SCRIPT),
        1,
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222}\
h1{font-size:20px;margin-bottom:4px}.verdict{font-size:22px;font-weight:bold;margin:4px 0}\
.verdict span{font-size:14px;color:#555;font-weight:normal}.explain{background:#fdecea;padding:8px;border-left:4px solid #c0392b}\
table{border-collapse:collapse;font-size:13px;margin:12px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}\
tr.failed td{background:#fdecea;font-weight:bold}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}\
.stats{color:#666;font-size:12px}.chart{overflow:hidden}\
#tip{position:absolute;z-index:10;background:#fffff0;border:1px solid #999;padding:6px 8px;\
font:12px ui-monospace,monospace;white-space:pre;pointer-events:none}#tip[hidden]{display:none}\
tr.current td{background:#fff3b0}a.jump{font-size:11px;margin-left:4px}html{overflow-anchor:none}";

fn legend() -> String {
    format!(
        "<p class=\"legend\"><span style=\"background:{}\"></span>ok<span style=\"background:{}\"></span>info (may or may not have happened)\
         <span style=\"background:{}\"></span>fail<span style=\"background:{}\"></span>cannot be linearized. \
         Numbers on bars: place in the linearization (or in the longest linearizable prefix). \
         A process whose operation ended info is replaced by a new one, so processes whose \
         lifetimes do not overlap share a row, named by the processes it holds.</p>",
        Outcome::Ok.css_color(),
        Outcome::Info.css_color(),
        Outcome::Fail.css_color(),
        crate::timeline::MARK_CSS
    )
}

/// Builds the timeline: one row per client process, bars labelled with their place in
/// the linearization (or the longest linearizable prefix).
fn timeline(history: &History, report: &LinearReport) -> (Timeline, HashMap<Process, usize>) {
    let mut place: HashMap<u64, usize> = HashMap::new();
    for part in &report.partitions {
        for (k, &index) in part.linearization.iter().enumerate() {
            place.insert(index, k + 1);
        }
    }
    let failed = report
        .counterexample
        .as_ref()
        .and_then(|c| c.failed.as_ref())
        .map(|f| f.index);
    let end_ns = history.ops.iter().map(|o| o.time_ns).max().unwrap_or(0) + 1;
    let failed_process = failed
        .and_then(|i| history.ops.iter().find(|o| o.index == i))
        .map(|o| o.process);
    let (rows, row_of) = rows(history, end_ns, failed_process);
    // An importer that found no timestamps numbers the events: time is the index.
    let ordinal = history.ops.iter().all(|o| o.time_ns == o.index);
    let mut t = Timeline {
        rows,
        end_ns,
        ordinal,
        ..Timeline::default()
    };
    for pair in history.pairs() {
        let invoke = &history.ops[pair.invoke];
        let Some(&row) = row_of.get(&invoke.process) else {
            continue;
        };
        let end = pair.completion.map_or(end_ns, |c| history.ops[c].time_ns);
        let outcome = match history.outcome(pair) {
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
        let label = match place.get(&invoke.index) {
            Some(k) => format!("{k}: {}", invoke.f),
            None => invoke.f.clone(),
        };
        let highlighted = failed == Some(invoke.index);
        if highlighted {
            t.marks.push(Mark {
                observation: false,
                row,
                start_ns: invoke.time_ns,
                end_ns: end,
                label: "cannot be linearized".to_owned(),
            });
        }
        t.spans.push(Span {
            row,
            start_ns: invoke.time_ns,
            end_ns: end,
            outcome,
            label,
            highlighted,
        });
    }
    (t, row_of)
}

/// Rows for client processes. A process whose op ended `info` is replaced by a new one,
/// so a long history has many processes with short, disjoint lifetimes: processes whose
/// lifetimes do not overlap share a row (as Jepsen's threads do), which keeps the chart
/// as tall as the concurrency, not as the number of processes.
fn rows(
    history: &History,
    end_ns: u64,
    named_first: Option<Process>,
) -> (Vec<String>, HashMap<Process, usize>) {
    let mut life: HashMap<Process, (u64, u64)> = HashMap::new();
    for pair in history.pairs() {
        let invoke = &history.ops[pair.invoke];
        if invoke.process.client().is_none() {
            continue;
        }
        let end = pair.completion.map_or(end_ns, |c| history.ops[c].time_ns);
        let span = life.entry(invoke.process).or_insert((invoke.time_ns, end));
        span.0 = span.0.min(invoke.time_ns);
        span.1 = span.1.max(end);
    }
    let mut order: Vec<(Process, (u64, u64))> = life.into_iter().collect();
    order.sort_by_key(|&(p, (start, _))| (start, p));
    let mut row_end: Vec<u64> = Vec::new();
    let mut members: Vec<Vec<Process>> = Vec::new();
    let mut row_of = HashMap::new();
    for (p, (start, end)) in order {
        let row = match row_end.iter().position(|&e| e < start) {
            Some(r) => r,
            None => {
                row_end.push(0);
                members.push(Vec::new());
                row_end.len() - 1
            }
        };
        row_end[row] = end;
        members[row].push(p);
        row_of.insert(p, row);
    }
    let names = members
        .iter()
        .map(|m| {
            // The failing operation's process is always among the names shown.
            let mut m = m.clone();
            if let Some(i) = m.iter().position(|p| Some(*p) == named_first) {
                let p = m.remove(i);
                m.insert(0, p);
            }
            let shown: Vec<String> = m.iter().take(3).map(|p| p.to_string()).collect();
            match m.len() {
                1 => format!("process {}", shown[0]),
                2 | 3 => format!("processes {}", shown.join(", ")),
                n => format!("processes {}, +{} more", shown.join(", "), n - 3),
            }
        })
        .collect();
    (names, row_of)
}

/// Rows of steps; with `stepped`, each carries a link the step buttons walk through.
fn step_rows(html: &mut String, steps: &[StepView], first: usize, stepped: bool) {
    let shown = steps.len().min(MAX_TABLE_ROWS);
    for (k, s) in steps[..shown].iter().enumerate() {
        let step = if stepped {
            format!(" data-step=\"{}\"", first + k)
        } else {
            String::new()
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{} <a class=\"jump\" href=\"#timeline\" data-op=\"{}\"{step}>show</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            first + k,
            s.index,
            s.index,
            s.process,
            esc(&s.op),
            esc(&s.state)
        );
    }
    if steps.len() > shown {
        let _ = writeln!(
            html,
            "<tr><td colspan=\"5\">... {} more</td></tr>",
            steps.len() - shown
        );
    }
}

/// The counterexample as a table: the end of the longest linearizable prefix, then the
/// operation that cannot follow it; for a valid history, the start of each partition's
/// linearization.
fn tables(report: &LinearReport) -> String {
    let mut html = String::new();
    let head =
        "<tr><th>#</th><th>index</th><th>process</th><th>operation</th><th>state after</th></tr>";
    if let Some(c) = &report.counterexample {
        let _ = writeln!(
            html,
            "<h2>Longest linearizable prefix in partition {} ({} operations)</h2>\n\
             <p class=\"controls\"><button id=\"step-prev\" type=\"button\">previous step</button> \
             <button id=\"step-next\" type=\"button\">next step</button> <span id=\"step-at\"></span> \
             <span class=\"muted\">steps through the linearization on the timeline, up to the \
             operation that cannot be linearized</span></p><table>{head}",
            esc(&c.partition),
            c.prefix.len()
        );
        let skip = c.prefix.len().saturating_sub(MAX_TABLE_ROWS);
        if skip > 0 {
            let _ = writeln!(
                html,
                "<tr><td colspan=\"5\">... {skip} earlier operations</td></tr>"
            );
        }
        step_rows(&mut html, &c.prefix[skip..], skip + 1, true);
        if let Some(f) = &c.failed {
            let _ = writeln!(
                html,
                "<tr class=\"failed\"><td>-</td><td>{} <a class=\"jump\" href=\"#timeline\" data-op=\"{}\" data-step=\"{}\">show</a></td><td>{}</td><td>{}</td><td>cannot be linearized; state before: {}</td></tr>",
                f.index,
                f.index,
                c.prefix.len() + 1,
                f.process,
                esc(&f.op),
                esc(&f.state)
            );
        }
        html.push_str("</table>\n");
        if !c.candidates.is_empty() {
            let _ = writeln!(
                html,
                "<h2>Operations pending at that point (none can come next)</h2><table>{head}"
            );
            step_rows(&mut html, &c.candidates, 1, false);
            html.push_str("</table>\n");
        }
        return html;
    }
    for part in report
        .partitions
        .iter()
        .filter(|p| p.valid == Validity::Valid)
        .take(20)
    {
        let order: Vec<String> = part
            .linearization
            .iter()
            .take(MAX_TABLE_ROWS)
            .map(u64::to_string)
            .collect();
        let more = if part.linearization.len() > MAX_TABLE_ROWS {
            " ..."
        } else {
            ""
        };
        let _ = writeln!(
            html,
            "<p>partition {}: linearization by op index: {}{more}</p>",
            esc(&part.key),
            order.join(" ")
        );
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use splitbrain_checker::linear::{CheckOptions, check_with_model};
    use splitbrain_checker::models::ModelKind;
    use splitbrain_history::Op;

    fn history(read: i64) -> History {
        let op = |i: u64, p, kind, f: &str, v| Op::new(i, i * 10, Process::Client(p), kind, f, v);
        History::new(vec![
            op(0, 0, OpType::Invoke, "write", json!(1)),
            op(1, 0, OpType::Ok, "write", json!(1)),
            op(2, 1, OpType::Invoke, "read", json!(null)),
            op(3, 1, OpType::Ok, "read", json!(read)),
        ])
    }

    fn page(read: i64) -> String {
        let h = history(read);
        let report =
            check_with_model(ModelKind::Register, &h, None, &CheckOptions::default()).unwrap();
        render(&h, &report, "h<1>.jsonl")
    }

    #[test]
    fn an_invalid_history_page_marks_the_failing_read_and_shows_the_prefix() {
        let html = page(7);
        assert!(html.contains("NOT linearizable"), "{html}");
        assert!(html.contains("cannot be linearized"), "{html}");
        assert!(
            html.contains("read -&gt; 7") || html.contains("read -> 7"),
            "{html}"
        );
        assert!(html.contains("<svg"));
        assert!(html.contains("h&lt;1&gt;.jsonl"), "titles are escaped");
    }

    #[test]
    fn replaced_processes_share_a_row() {
        let op =
            |i: u64, p, kind| Op::new(i, i * 10, Process::Client(p), kind, "read", json!(null));
        let h = History::new(vec![
            op(0, 0, OpType::Invoke),
            op(1, 1, OpType::Invoke),
            op(2, 0, OpType::Info),
            op(3, 1, OpType::Ok),
            op(4, 2, OpType::Invoke),
            op(5, 2, OpType::Ok),
        ]);
        let (names, row_of) = rows(&h, 100, None);
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(row_of[&Process::Client(2)], row_of[&Process::Client(0)]);
        assert_eq!(names[0], "processes 0, 2");
    }

    #[test]
    fn a_log_without_timestamps_counts_events_on_its_axis() {
        let op = |i: u64, p, kind, f: &str, v| Op::new(i, i, Process::Client(p), kind, f, v);
        let h = History::new(vec![
            op(0, 0, OpType::Invoke, "write", json!(1)),
            op(1, 0, OpType::Ok, "write", json!(1)),
            op(2, 1, OpType::Invoke, "read", json!(null)),
            op(3, 1, OpType::Ok, "read", json!(1)),
        ]);
        let report =
            check_with_model(ModelKind::Register, &h, None, &CheckOptions::default()).unwrap();
        let html = render(&h, &report, "imported.log");
        assert!(
            html.contains("event order (the history has no timestamps)"),
            "{html}"
        );
        assert!(
            !html.contains("0.000000s"),
            "ticks in seconds on an event count"
        );
        // A history with real times keeps seconds.
        assert!(page(1).contains("seconds since the history began"));
    }

    #[test]
    fn a_valid_history_page_numbers_the_linearization() {
        let html = page(1);
        assert!(html.contains(">linearizable"), "{html}");
        assert!(html.contains("linearization by op index: 0 2"), "{html}");
    }
}
