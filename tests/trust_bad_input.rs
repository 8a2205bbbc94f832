//! Bad input gets a clear error and exit 254: never 255 (splitbrain's own bugs), a
//! panic, or a verdict about something the user did not mean. None of these needs root.

mod common;

use common::{assert_exit, splitbrain};
use std::path::Path;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn corpus(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/porcupine")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// A scratch file with `content`, named `name`.
fn file(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn an_out_directory_that_cannot_be_made_is_bad_input() {
    for out in ["/proc/nope", "/etc/hostname"] {
        let r = splitbrain(&[
            "run",
            "--nemesis",
            "none",
            "--time-limit",
            "1",
            "--out",
            out,
        ]);
        assert_exit(&r, 254);
        assert!(stderr(&r).contains(&format!("out={out}")), "{}", stderr(&r));
    }
}

#[test]
fn checking_a_directory_that_is_not_a_run_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let r = splitbrain(&["check", dir.path().to_str().unwrap()]);
    assert_exit(&r, 254);
    assert!(stderr(&r).contains("run.json"), "{}", stderr(&r));
}

#[test]
fn a_path_that_does_not_exist_is_named_as_missing() {
    let r = splitbrain(&["check", "/no/such/file"]);
    assert_exit(&r, 254);
    assert!(
        stderr(&r).contains("no such file or directory: path=/no/such/file"),
        "{}",
        stderr(&r)
    );
    assert!(!stderr(&r).contains("needs a model"), "{}", stderr(&r));
    let r = splitbrain(&["report", "/no/such/run"]);
    assert_exit(&r, 254);
    assert!(stderr(&r).contains("path=/no/such/run"), "{}", stderr(&r));
}

#[test]
fn a_zero_time_limit_is_bad_input() {
    let log = corpus("jepsen/etcd_002.log");
    let r = splitbrain(&[
        "check",
        &log,
        "--model",
        "cas-register",
        "--init",
        "nil",
        "--time-limit",
        "0",
    ]);
    assert_exit(&r, 254);
    assert!(stderr(&r).contains("bad --time-limit"), "{}", stderr(&r));
}

#[test]
fn binary_and_malformed_history_files_are_bad_input_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let binary = file(&dir, "h.edn", &[0xff, 0xfe, 0x00, 0x80, b'\n', 0x01]);
    let r = splitbrain(&["check", &binary, "--model", "register"]);
    assert_exit(&r, 254);
    assert!(stderr(&r).contains("not UTF-8"), "{}", stderr(&r));
    let broken = file(
        &dir,
        "b.edn",
        b"[{:type :invoke, :f :read, :process 0}\n {:type :ok :f",
    );
    let r = splitbrain(&["check", &broken, "--model", "register"]);
    assert_exit(&r, 254);
    assert!(stderr(&r).contains("b.edn:2"), "{}", stderr(&r));
}

#[test]
fn an_unwritable_html_path_is_bad_input() {
    let log = corpus("jepsen/etcd_002.log");
    let r = splitbrain(&[
        "check",
        &log,
        "--model",
        "cas-register",
        "--init",
        "nil",
        "--html",
        "/proc/nope/page.html",
    ]);
    assert_exit(&r, 254);
    assert!(
        stderr(&r).contains("html=/proc/nope/page.html"),
        "{}",
        stderr(&r)
    );
}

#[test]
fn an_init_value_that_is_not_json_is_refused_not_taken_as_text() {
    let log = corpus("jepsen/etcd_002.log");
    let r = splitbrain(&["check", &log, "--model", "cas-register", "--init", "nill"]);
    assert_exit(&r, 254);
    assert!(
        stderr(&r).contains("bad --init: \"nill\""),
        "{}",
        stderr(&r)
    );
    let r = splitbrain(&["check", &log, "--model", "cas-register", "--init", "nil"]);
    assert_exit(&r, 0);
}

#[test]
fn history_file_options_on_a_run_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = splitbrain(&["check", dir.path().to_str().unwrap(), "--model", "mutex"]);
    assert_exit(&r, 254);
    assert!(
        stderr(&r).contains("--model only apply to a history file"),
        "{}",
        stderr(&r)
    );
}

#[test]
fn an_empty_history_is_unknown_and_an_ill_formed_one_names_its_first_bad_op() {
    let dir = tempfile::tempdir().unwrap();
    let empty = file(&dir, "empty.jsonl", b"");
    let r = splitbrain(&["check", &empty, "--model", "register"]);
    assert_exit(&r, 2);
    assert!(
        String::from_utf8_lossy(&r.stdout).contains("nothing was tested"),
        "{r:?}"
    );
    let orphan = file(
        &dir,
        "orphan.jsonl",
        br#"{"index":0,"time_ns":5,"process":3,"type":"ok","f":"read","value":1}
"#,
    );
    let r = splitbrain(&["check", &orphan, "--model", "register"]);
    assert_exit(&r, 254);
    assert!(stderr(&r).contains("index=0 process=3"), "{}", stderr(&r));
}

#[test]
fn run_help_shows_no_rustdoc_links_and_plugin_servers_exclude_plugins() {
    let help = splitbrain(&["run", "--help"]);
    assert_exit(&help, 0);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        !text.contains("[`"),
        "rustdoc link syntax in --help:\n{text}"
    );
    let values = text
        .split("--plugin-servers <PLUGIN_SERVERS>")
        .nth(1)
        .and_then(|section| section.split("\n\n").nth(1))
        .expect("--plugin-servers lists its possible values");
    assert!(values.contains("Possible values"), "{values}");
    assert!(values.contains("zookeeper"), "{values}");
    assert!(!values.contains("external"), "{values}");
    let r = splitbrain(&[
        "run",
        "--lock",
        "external",
        "--plugin-command",
        "true",
        "--plugin-servers",
        "external",
    ]);
    assert_exit(&r, 254);
}

#[test]
fn an_op_timeout_too_short_for_client_go_to_outwait_a_lease_is_refused_with_the_value_to_give() {
    let r = splitbrain(&[
        "run",
        "--lock",
        "k8s-clientgo",
        "--ttl-ms",
        "2000",
        "--op-timeout-ms",
        "5000",
        "--nemesis",
        "none",
    ]);
    assert_exit(&r, 254);
    assert!(
        stderr(&r).contains("give --op-timeout-ms 12000 or more"),
        "{}",
        stderr(&r)
    );
}

#[test]
fn a_nemesis_interval_too_long_for_a_duration_is_bad_input() {
    let r = splitbrain(&["run", "--nemesis-interval", "1e300", "--nemesis", "none"]);
    assert_exit(&r, 254);
    assert!(
        stderr(&r).contains("nemesis-interval=1e300"),
        "{}",
        stderr(&r)
    );
}

#[test]
fn a_plugin_lock_brings_its_own_client_so_a_plugin_command_is_refused() {
    let r = splitbrain(&[
        "run",
        "--lock",
        "curator",
        "--plugin-command",
        "python3 lock.py",
        "--nemesis",
        "none",
    ]);
    assert_exit(&r, 254);
    assert!(
        stderr(&r).contains("--lock curator brings its own client and servers"),
        "{}",
        stderr(&r)
    );
}

#[test]
fn fencing_with_a_plugin_lock_that_hands_out_no_token_is_refused() {
    for lock in ["redsync", "redislock", "pottery", "node-redlock"] {
        let r = splitbrain(&[
            "run",
            "--lock",
            lock,
            "--fencing",
            "on",
            "--nemesis",
            "none",
        ]);
        assert_exit(&r, 254);
        let err = stderr(&r);
        assert!(err.contains(&format!("lock={lock} fencing=on")), "{err}");
        assert!(err.contains("--fencing off"), "{err}");
    }
}

#[test]
fn a_plugin_lock_whose_program_is_not_built_names_the_script_that_builds_it() {
    let empty_cache = tempfile::tempdir().unwrap();
    let r = std::process::Command::new(common::bin())
        .args(["run", "--lock", "kazoo", "--nemesis", "none"])
        .env("SPLITBRAIN_CACHE", empty_cache.path())
        .output()
        .unwrap();
    assert_exit(&r, 253);
    let err = stderr(&r);
    assert!(err.contains("kazoo"), "{err}");
    assert!(err.contains("scripts/build-plugins"), "{err}");
}
