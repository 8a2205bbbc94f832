//! The report of a small hand-made run (tests/fixtures/paused-holder: an unfenced lock
//! whose holder is paused past its TTL, a lost update, and hostile strings in the history)
//! and of a long generated run.

use splitbrain_checker::check_run_dir;
use splitbrain_reports::{ReportError, write_report};
use std::path::{Path, PathBuf};

/// A scratch copy of a run directory, removed when dropped, even when the test fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("splitbrain-report-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn with_fixture(name: &str) -> Scratch {
        let s = Scratch::new(name);
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/paused-holder");
        for entry in std::fs::read_dir(fixture).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, s.0.join(path.file_name().unwrap())).unwrap();
        }
        s
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn report(dir: &Path) -> String {
    check_run_dir(dir).unwrap();
    let page = write_report(dir).unwrap();
    assert_eq!(page, dir.join("index.html"));
    std::fs::read_to_string(page).unwrap()
}

#[test]
fn the_report_leads_with_the_verdict_and_the_seed_to_rerun() {
    let dir = Scratch::with_fixture("verdict");
    let html = report(&dir.0);
    assert!(
        html.contains("<span class=\"verdict invalid\" id=\"verdict\">INVALID</span>"),
        "verdict missing"
    );
    let verdict_at = html.find("id=\"verdict\"").unwrap();
    assert!(verdict_at < html.find("id=\"config\"").unwrap());
    assert!(html.contains("<tr><th>seed</th><td>4242</td></tr>"));
    assert!(html.contains(
        "splitbrain run --lock redis --workload counter --nemesis pause,partition --clients 2 \
         --seed 4242"
    ));
}

#[test]
fn the_timeline_has_one_row_per_process_and_shades_the_pause() {
    let dir = Scratch::with_fixture("rows");
    let html = report(&dir.0);
    let svg_start = html.find("<svg").expect("inline svg");
    let svg = &html[svg_start..html.find("</svg>").unwrap()];
    for p in ["process 0", "process 1"] {
        assert_eq!(svg.matches(&format!(">\n{p}\n<")).count(), 1, "row {p}");
    }
    assert!(!svg.contains("process 2"));
    assert!(svg.contains("pause agent-0 n1"), "pause shade label");
    // The partition could not be applied: listed as such, not shaded.
    assert!(!svg.contains("partition"));
    assert!(html.contains("no: &lt;b&gt;nft missing&lt;/b&gt;"));
}

#[test]
fn each_violation_is_explained_with_its_ops_and_seqs() {
    let dir = Scratch::with_fixture("violations");
    let html = report(&dir.0);
    assert!(html.contains(
        "lost update: process 0 read the counter at seq 1 and wrote it plus one at seq 6, \
         overwriting the accepted write at seq 4 made in between by another process"
    ));
    // Seqs 1, 4 and 6 are the read of 0 by process 0 (op 2), the write of 1 by process 1
    // (op 11) and the write of 1 by process 0 (op 7).
    assert!(
        html.contains("(resource seqs 1, 4, 6; matching history ops 2, 11, 7)"),
        "resource seqs tied to history ops"
    );
    assert!(html.contains("processes 0 and 1 both believed they held lock"));
    assert!(html.contains("(ops 1, 18, 8, 13)"));
}

#[test]
fn every_hostile_value_from_the_history_is_escaped() {
    let dir = Scratch::with_fixture("hostile");
    let html = report(&dir.0);
    // The page's own three scripts (its data, its geometry, its code) and no other.
    let ours = [
        "<script id=\"ops-data\" type=\"application/json\">",
        "<script id=\"timeline-geometry\" type=\"application/json\">",
        "<script>// The report's interactive layer",
    ];
    let mut rest = html.to_lowercase();
    for tag in ours {
        assert_eq!(html.matches(tag).count(), 1, "{tag}");
        rest = rest.replacen(&tag.to_lowercase(), "", 1);
    }
    assert!(!rest.contains("<script"), "unescaped <script>");
    assert!(
        !html.contains("alert(1)</script>"),
        "a value closed a script element"
    );
    assert!(!html.contains("<img"), "unescaped <img>");
    assert!(!html.contains("<b>"), "unescaped <b>");
    // Escaped in the page text and in the SVG labels drawn by plotters.
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // run.json is escaped too.
    assert!(html.contains("2026-11-21T23:00:00Z &lt;script&gt;alert(5)&lt;/script&gt;"));
    let svg = &html[html.find("<svg").unwrap()..];
    assert!(
        svg.contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
        "svg label"
    );
}

#[test]
fn the_page_is_self_contained() {
    let dir = Scratch::with_fixture("offline");
    let html = report(&dir.0);
    for needle in ["http:", "https:", "src=\"", "<link", "@import", "url("] {
        assert!(!html.contains(needle), "page refers outside: {needle}");
    }
}

#[test]
fn an_unchecked_run_gets_a_hint_to_check_it_first() {
    let dir = Scratch::with_fixture("unchecked");
    let err = write_report(&dir.0).unwrap_err();
    assert!(matches!(err, ReportError::NotChecked { .. }), "{err:?}");
    assert!(err.to_string().contains("splitbrain check"), "{err}");
    assert!(!dir.0.join("index.html").exists());
}

#[test]
fn a_run_that_recorded_nothing_still_gets_an_honest_page() {
    let dir = Scratch::with_fixture("empty");
    std::fs::write(dir.0.join("history.jsonl"), b"").unwrap();
    std::fs::remove_file(dir.0.join("resource.jsonl")).unwrap();
    let html = report(&dir.0);
    // No resource log: the run cannot be vouched for.
    assert!(html.contains("id=\"verdict\">unknown</span>"));
    assert!(html.contains("could not decide: "), "{html}");
    assert!(html.contains("resource-safety"));
    // Nobody acquired anything: nothing was tested, and the page says so.
    assert!(html.contains("no client ever acquired the lock"));
    assert!(html.contains("No faults were injected."));
}

#[test]
fn junit_xml_has_one_case_per_checker_and_fails_the_invalid_ones() {
    let dir = Scratch::with_fixture("junit");
    check_run_dir(&dir.0).unwrap();
    let path = splitbrain_reports::write_junit(&dir.0).unwrap();
    let xml = std::fs::read_to_string(path).unwrap();
    assert!(
        xml.contains("tests=\"8\" failures=\"2\" errors=\"0\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 8);
    assert_eq!(xml.matches("<failure message=").count(), 2);
    assert!(xml.contains("name=\"well-formed\" time=\"0\"></testcase>"));
    assert!(!xml.contains("<script"), "unescaped");
    assert!(xml.contains("--seed 4242"));
    // The fixture's hostile text stays inside the schema CI reporters read.
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/junit.xsd");
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(dir.0.join("junit.xml"))
        .output()
        .expect("xmllint runs (install libxml2-utils: scripts/install-deps does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn overlaps_under_fencing_are_drawn_as_observations_not_violations() {
    let dir = Scratch::with_fixture("fenced");
    let run_json = dir.0.join("run.json");
    let text = std::fs::read_to_string(&run_json).unwrap();
    std::fs::write(
        &run_json,
        text.replace("\"fencing\": false", "\"fencing\": true"),
    )
    .unwrap();
    let html = report(&dir.0);
    assert!(html.contains("exclusive-holding: observations (not violations)"));
    let svg = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()];
    assert!(svg.contains("fill=\"#7D3C98\""), "purple observation band");
    assert!(svg.contains("overlap 1"));
}

#[test]
fn the_page_opens_with_the_damage_told_as_cause_and_effect() {
    let dir = Scratch::with_fixture("causes");
    let html = report(&dir.0);
    let causes = html
        .find("<h2>What happened</h2>")
        .expect("a What happened section");
    let config = html.find("<h2>Configuration").unwrap_or(usize::MAX);
    assert!(causes < config, "the causes come before the configuration");
    let section = &html[causes..html[causes..].find("</ol>").unwrap() + causes];
    let first = section
        .find("class=\"cause damage\"")
        .expect("damage is told");
    let sentence = &section[first..];
    for said in [
        "held the lock from",
        "struck from",
        "ran out at",
        "took the lock at",
        "lost update",
    ] {
        assert!(
            sentence.contains(said),
            "the sentence lacks {said:?}: {sentence}"
        );
    }
}

#[test]
fn the_cause_says_when_the_writers_lock_client_knew_it_had_lost_the_lock() {
    let dir = Scratch::with_fixture("told-lost");
    // Process 0's client says, 870 ms before the record (at 3.08 s), that it lost its
    // grant: after its write was accepted at 3.05 s.
    let notice = r#"{"index": 26, "time_ns": 3950000000, "process": "notice", "type": "info", "f": "lost", "node": "n1", "value": {"process": 0, "holder": "n1-1-1", "detail": "session expired", "age_ms": 870, "agent_slot": 0}}"#;
    let history = dir.0.join("history.jsonl");
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str(notice);
    text.push('\n');
    std::fs::write(&history, text).unwrap();
    let html = report(&dir.0);
    let start = html.find("<h2>What happened</h2>").unwrap();
    let section = &html[start..start + html[start..].find("</ol>").unwrap()];
    assert!(
        section.contains(
            "its lock client said it had lost the lock at 3.08 s, 0.03 s after that write"
        ),
        "{section}"
    );
}

#[test]
fn a_long_list_of_one_kind_is_folded_under_its_count_first_and_last() {
    let dir = Scratch::with_fixture("folded");
    check_run_dir(&dir.0).unwrap();
    // Five pieces of evidence of one kind, told apart by their explanations.
    let path = dir.0.join("results.json");
    let mut results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let evidence = &mut results["checkers"]["exclusive-holding"]["evidence"];
    let one = evidence[0].clone();
    *evidence = (1..=5)
        .map(|i| {
            let mut e = one.clone();
            e["explanation"] = format!("overlap number {i}").into();
            e
        })
        .collect();
    std::fs::write(&path, serde_json::to_string(&results).unwrap()).unwrap();
    let html = std::fs::read_to_string(write_report(&dir.0).unwrap()).unwrap();
    let fold = html
        .find("<details><summary>5 violations")
        .expect("the list is folded under its count");
    let summary = &html[fold..fold + html[fold..].find("</summary>").unwrap()];
    assert!(
        summary.contains("the first: overlap number 1")
            && summary.contains("the last: overlap number 5"),
        "the fold names its first and last item: {summary}"
    );
    assert_eq!(summary.matches("class=\"jump\"").count(), 2, "{summary}");
}

/// The completed client operations of a run directory's history.
fn completed_ops(dir: &Path) -> usize {
    let (run, _) = splitbrain_reports::load_checked(dir).unwrap();
    let h = &run.history;
    h.pairs()
        .iter()
        .filter(|p| p.completion.is_some() && h.ops[p.invoke].is_client())
        .count()
}

#[test]
fn a_chrome_trace_has_a_slice_per_completed_op_faults_and_flagged_violations() {
    let dir = Scratch::with_fixture("chrome-trace");
    check_run_dir(&dir.0).unwrap();
    let (run, results) = splitbrain_reports::load_checked(&dir.0).unwrap();
    let trace = splitbrain_reports::export::chrome_trace(&run, &results);
    // What chrome://tracing and Perfetto read: JSON with a traceEvents array.
    let text = serde_json::to_string(&trace).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let events = parsed["traceEvents"].as_array().unwrap();
    let slices = |cat: &str| {
        events
            .iter()
            .filter(|e| e["ph"] == "X" && e["cat"] == cat)
            .count()
    };
    assert_eq!(slices("op"), completed_ops(&dir.0));
    assert!(slices("fault") >= 1, "the fixture's pauses are a track");
    let flagged = events.iter().filter(|e| e["cat"] == "violation").count();
    assert!(flagged >= 1, "violations are flagged events");
    for e in events.iter().filter(|e| e["ph"] == "X") {
        assert!(e["ts"].as_f64().unwrap() >= 0.0 && e["dur"].as_f64().unwrap() >= 0.0);
    }
}

#[test]
fn an_otlp_export_has_a_span_per_completed_op_with_valid_ids() {
    let dir = Scratch::with_fixture("otlp");
    // The fixture's start time carries a script; a real one is a time.
    let run_json = dir.0.join("run.json");
    let text = std::fs::read_to_string(&run_json).unwrap();
    let start = text.find("\"started_at\"").unwrap();
    let end = start + text[start..].find(",\n").unwrap();
    let text = format!(
        "{}\"started_at\": \"2026-11-21T23:00:00Z\"{}",
        &text[..start],
        &text[end..]
    );
    std::fs::write(&run_json, text).unwrap();
    check_run_dir(&dir.0).unwrap();
    let (run, results) = splitbrain_reports::load_checked(&dir.0).unwrap();
    let otlp = splitbrain_reports::export::otlp(&run, &results);
    let text = serde_json::to_string(&otlp).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut ops = 0;
    let mut ids = std::collections::HashSet::new();
    for rs in parsed["resourceSpans"].as_array().unwrap() {
        for ss in rs["scopeSpans"].as_array().unwrap() {
            for span in ss["spans"].as_array().unwrap() {
                let (trace, id) = (
                    span["traceId"].as_str().unwrap(),
                    span["spanId"].as_str().unwrap(),
                );
                assert_eq!(trace.len(), 32);
                assert_eq!(id.len(), 16);
                assert!(
                    trace
                        .chars()
                        .chain(id.chars())
                        .all(|c| c.is_ascii_hexdigit())
                );
                assert!(ids.insert(id.to_owned()), "span id {id} twice");
                let start: u128 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
                let end: u128 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
                assert!(start > 1_600_000_000_000_000_000 && end >= start);
                if rs["resource"]["attributes"][1]["value"]["stringValue"] != "nemesis" {
                    ops += 1;
                }
            }
        }
    }
    assert_eq!(ops, completed_ops(&dir.0));
}

#[test]
fn the_page_plots_latency_and_throughput_with_the_faults_shaded() {
    let dir = Scratch::with_fixture("perf");
    let html = report(&dir.0);
    let at = html
        .find("<h2 id=\"performance\">")
        .expect("a performance section");
    let section = &html[at..];
    assert!(section.contains("id=\"latency\"><svg") && section.contains("latency (ms)"));
    assert!(
        section.contains("id=\"throughput\"><svg") && section.contains("operations per second")
    );
    assert!(section.contains("fault in effect"));
}

#[test]
fn a_run_whose_clocks_were_skewed_plots_each_reached_process_offset() {
    let dir = Scratch::with_fixture("clocks");
    let without = report(&dir.0);
    assert!(
        !without.contains("id=\"clocks\""),
        "no clock plot without clock faults"
    );
    let clock_ops = [
        r#"{"index": 26, "time_ns": 4000000000, "process": "nemesis", "type": "invoke", "f": "bump-clock", "value": {"offset_ms": 750, "rate": 1.0, "processes": ["agent-1", "<b>zk</b>"]}}"#,
        r#"{"index": 27, "time_ns": 4010000000, "process": "nemesis", "type": "info", "f": "bump-clock", "value": {"offset_ms": 750, "rate": 1.0, "processes": ["agent-1", "<b>zk</b>"], "reached": {"agent-1": "clock-file", "<b>zk</b>": "faketime", "redis@n2": "unreached: not under libfaketime"}}}"#,
        r#"{"index": 28, "time_ns": 4500000000, "process": "nemesis", "type": "invoke", "f": "reset-clock", "value": {"offset_ms": 0, "rate": 1.0}}"#,
        r#"{"index": 29, "time_ns": 4510000000, "process": "nemesis", "type": "info", "f": "reset-clock", "value": {"offset_ms": 0, "rate": 1.0, "reached": {"agent-1": "clock-file", "<b>zk</b>": "faketime"}}}"#,
    ];
    let history = dir.0.join("history.jsonl");
    let mut text = std::fs::read_to_string(&history).unwrap();
    for line in clock_ops {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&history, text).unwrap();
    let html = report(&dir.0);
    let at = html
        .find("<h2 id=\"clocks\">")
        .expect("a clock offsets section");
    let section = &html[at..];
    let section = &section[..section.find("</div>").unwrap()];
    assert!(section.contains("clock offset (ms)"));
    let legend_at = html[at..].find("<p class=\"legend\">").unwrap() + at;
    let legend = &html[legend_at..legend_at + html[legend_at..].find("</p>").unwrap()];
    assert!(legend.contains("agent-1") && legend.contains("&lt;b&gt;zk&lt;/b&gt;"));
    assert!(
        !legend.contains("redis@n2"),
        "an unreached process is not drawn"
    );
}

#[test]
fn each_timeline_row_names_its_process_agent_and_node() {
    let dir = Scratch::with_fixture("rows-named");
    // Process 0 ran through agent-0 on n1, as run.json's cluster says.
    let history = dir.0.join("history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    let text = text.replace("\"process\": 0,", "\"process\": 0, \"node\": \"n1\",");
    std::fs::write(&history, text).unwrap();
    let html = report(&dir.0);
    let timeline = &html[html.find("id=\"timeline\"").unwrap()..];
    assert!(
        timeline.contains("process 0: agent-0 on n1"),
        "the row of process 0 is not named by its agent and node"
    );
}
