//! `splitbrain suite`: the canary suite passes, the same suite with an expectation
//! flipped fails (exit 1, the run named, a JUnit failure), and a bad suite file is
//! refused with exit 254 before anything runs.

mod common;

use common::*;
use std::path::Path;

fn suite(file: &Path, out: &Path) -> std::process::Output {
    splitbrain(&[
        "suite",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn canary() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/canary.toml")
}

#[test]
fn the_canary_suite_passes_and_links_every_run() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = suite(&canary(), out.path());
    assert_exit(&r, 0);
    assert!(
        output_text(&r).contains("2 of 2 runs concluded as expected"),
        "{}",
        output_text(&r)
    );
    let summary = std::fs::read_to_string(out.path().join("summary.html")).unwrap();
    assert_eq!(summary.matches("<a href=").count(), 2, "{summary}");
    for link in summary.split("<a href=\"").skip(1) {
        let target = link.split('"').next().unwrap();
        assert!(
            out.path().join(target).is_file(),
            "the summary links {target}"
        );
    }
    let junit = valid_junit(out.path());
    assert_eq!(junit.matches("<testsuite ").count(), 2);
    assert!(
        junit.contains("tests=\"2\" failures=\"0\" errors=\"0\""),
        "{junit}"
    );
}

#[test]
fn a_canary_expected_valid_fails_the_suite() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let flipped = std::fs::read_to_string(canary()).unwrap().replacen(
        "expect = \"invalid\"",
        "expect = \"valid\"",
        1,
    );
    // Only the unfenced cell: it is the one whose expectation flipped.
    let unfenced = &flipped[..flipped.rfind("[[cell]]").unwrap()];
    let file = dir.path().join("flipped.toml");
    std::fs::write(&file, unfenced).unwrap();
    let out = dir.path().join("out");
    let r = suite(&file, &out);
    assert_exit(&r, 1);
    assert!(
        output_text(&r).contains(
            "UNEXPECTED: redis pause-holder fencing=off seed=4242: expected valid, got invalid"
        ),
        "{}",
        output_text(&r)
    );
    let junit = valid_junit(&out);
    assert!(junit.contains("failures=\"1\""), "{junit}");
    assert!(
        junit.contains("<failure message=\"expected valid, got invalid\""),
        "{junit}"
    );
}

#[test]
fn a_bad_suite_file_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "typo",
            "[[cell]]\nlock = \"redis\"\nnemesis = \"none\"\nfencing = \"off\"\nseeds = 1\nexpcet = \"valid\"\n",
            "expcet",
        ),
        (
            "lock",
            "[[cell]]\nlock = \"redys\"\nnemesis = \"none\"\nfencing = \"off\"\nseeds = 1\n",
            "redys",
        ),
        (
            "expect",
            "[[cell]]\nlock = \"redis\"\nnemesis = \"none\"\nfencing = \"off\"\nseeds = 1\nexpect = \"maybe\"\n",
            "maybe",
        ),
        ("empty", "name = \"nothing\"\n", "no runs"),
        (
            "seeds",
            "[[cell]]\nlock = \"redis\"\nnemesis = \"none\"\nfencing = \"off\"\nseeds = []\n",
            "no seeds",
        ),
    ];
    for (name, body, said) in cases {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, body).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        let r = suite(&file, &out);
        assert_exit(&r, 254);
        assert!(
            output_text(&r).contains(said),
            "{name}: {}",
            output_text(&r)
        );
        assert!(!out.join("runs").exists(), "{name}: a run folder was made");
    }
}

#[test]
fn the_nightly_suite_describes_its_runs() {
    let nightly = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nightly.toml");
    let r = splitbrain(&["suite", nightly.to_str().unwrap(), "--list"]);
    assert_exit(&r, 0);
    let listed = String::from_utf8_lossy(&r.stdout);
    assert_eq!(listed.lines().count(), 2 + 2 * 5 * 3, "{listed}");
    assert_eq!(listed.matches("# expect invalid").count(), 1, "{listed}");
    assert!(listed.contains("--lock zookeeper --nemesis isolate-leader --fencing on --seed 3"));
}
