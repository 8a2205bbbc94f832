//! The report page's interactivity in a real browser: tests/browser/check-report.mjs
//! opens a run's index.html in headless Chromium (Debian's, driven by the npm package
//! playwright-core) and hovers an op's bar, follows a violation's jump link, zooms and
//! filters the timeline, and checks that no script error and no dialog came of it.
//!
//! scripts/install-deps installs what this needs: Debian's chromium, and the checker with
//! playwright-core in `${SPLITBRAIN_CACHE:-$HOME/.cache/splitbrain}/browser-tests` (a copy
//! of tests/browser with `npm ci` done there). When any of it is missing, or the copy is
//! older than tests/browser, the tests fail saying so: they never pass without a browser.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder scripts/install-deps installs the browser checker into.
fn installed_dir() -> PathBuf {
    splitbrain_runner::build_cache::cache_root().join("browser-tests")
}

/// The repository's tests/browser.
fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The installed check-report.mjs, after making sure everything it needs is there: node
/// (20 or newer), playwright-core beside the checker, Chromium, and an installed copy
/// that is the repository's. Fails, naming what to install, otherwise.
fn checker() -> PathBuf {
    const INSTALL: &str = "run scripts/install-deps";
    const NODE: &str = "the report's browser tests need Node.js 20 or newer";
    let version = match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(out) => panic!("node --version failed ({}): {NODE}; {INSTALL}", out.status),
        Err(e) => panic!("node is not installed ({e}): {NODE}; {INSTALL}"),
    };
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "node is {version}: {NODE} (playwright-core 1.65 does)"
    );

    let dir = installed_dir();
    let script = dir.join("check-report.mjs");
    assert!(
        script.is_file(),
        "{} is missing: {INSTALL} (it copies tests/browser there and runs npm ci)",
        script.display()
    );
    let playwright = dir.join("node_modules/playwright-core/package.json");
    assert!(
        playwright.is_file(),
        "the npm package playwright-core is not installed in {}: {INSTALL} (npm ci there)",
        dir.display()
    );
    for file in ["check-report.mjs", "package.json", "package-lock.json"] {
        let ours = std::fs::read(source_dir().join(file))
            .unwrap_or_else(|e| panic!("tests/browser/{file}: {e}"));
        let installed = std::fs::read(dir.join(file)).unwrap_or_default();
        assert!(
            ours == installed,
            "{} is not the same as tests/browser/{file} (the installed browser checker is out of \
             date): {INSTALL}",
            dir.join(file).display()
        );
    }

    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.is_file(),
        "Chromium is not at {}: {INSTALL} (it installs Debian's chromium), or set CHROMIUM",
        chromium.display()
    );
    script
}

/// Runs the browser checker on `page` with `extra` options, failing with everything it
/// printed unless every check passed; returns what it printed on stdout (one line per
/// check).
fn check_page(script: &Path, page: &Path, extra: &[&str]) -> String {
    assert!(page.is_file(), "no report page at {}", page.display());
    let out = Command::new("node")
        .arg(script)
        .arg(page)
        .args(extra)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the browser checks of {} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        page.display(),
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("all checks passed"),
        "the browser checker exited 0 without saying every check passed:\n{stdout}"
    );
    stdout
}

#[test]
fn the_canary_runs_report_answers_hover_jump_zoom_and_filter() {
    require_root();
    // Before the run: a machine without the browser fails in a second, not after it.
    let script = checker();
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&canary_args(out.path().to_str().unwrap(), "off"));
    // The unfenced canary: a lost update, so the run is invalid and its report lists
    // violations with jump links.
    assert_exit(&result, 1);
    let run = latest_run(out.path());
    check_page(&script, &run.join("index.html"), &[]);
}

#[test]
fn hostile_values_in_a_history_show_as_text_and_open_no_dialog() {
    let script = checker();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/tests/fixtures/paused-holder");
    let history = std::fs::read_to_string(fixture.join("history.jsonl")).unwrap();
    assert!(
        history.contains("<script>alert(1)</script>"),
        "the fixture no longer holds the hostile value this test is about"
    );
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let d = dir.path().to_str().unwrap();
    // The fixture's holder is paused past its TTL with fencing off: invalid.
    assert_exit(&splitbrain(&["check", d]), 1);
    assert_exit(&splitbrain(&["report", d]), 0);
    let said = check_page(&script, &dir.path().join("index.html"), &["--xss"]);
    // The hostile value was hovered, not skipped for want of one.
    assert!(
        said.contains("shows its value's <script> as text"),
        "the checker hovered no op whose value holds <script>:\n{said}"
    );
    assert!(said.contains("no dialog opened"), "{said}");
}

/// A linearizability page (`check FILE --html`) of porcupine's first etcd history, which
/// is not linearizable: the same hover, jump, zoom and filter work there, and the step
/// buttons walk the longest linearizable prefix to the op that cannot be linearized.
#[test]
fn a_linearizability_page_answers_hover_jump_zoom_filter_and_steps() {
    let script = checker();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/porcupine/jepsen/etcd_000.log");
    assert!(
        corpus.is_file(),
        "the porcupine corpus is missing: {}",
        corpus.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("etcd_000.html");
    let out = splitbrain(&[
        "check",
        corpus.to_str().unwrap(),
        "--format",
        "porcupine-jepsen",
        "--model",
        "cas-register",
        "--init",
        "nil",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_exit(&out, 1);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("id=\"step-next\"") && html.contains("data-step=\""));
    check_page(&script, &page, &["--steps"]);
}
