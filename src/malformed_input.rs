//! Property tests: no command line and no input file a user can give makes splitbrain
//! panic or exit 255. Arguments are drawn from every flag of `run`, `check` and `report`
//! with values both sensible and malformed; files from valid histories of each format
//! with bytes flipped, cut off or replaced. `run` is taken as far as it goes before it
//! would create anything (parsing, the configuration, the runner's own checks); `check`
//! and `report` run for real, on scratch files.

use crate::cli::{Cli, dispatch, run_config_for_test};
use crate::exit::{EXIT_INTERNAL, exit_code_for};
use clap::Parser;
use proptest::prelude::*;

/// Values a user might type, well or badly.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e309".to_string()),
        Just("NaN".to_string()),
        Just("18446744073709551616".to_string()),
        Just("nil".to_string()),
        Just("nill".to_string()),
        Just("".to_string()),
        Just("pause:0".to_string()),
        Just("pause:-1,kill".to_string()),
        Just("partition-halves:9999999999".to_string()),
        Just(",,".to_string()),
        Just("none".to_string()),
        Just("/proc/nope".to_string()),
        Just("10.77.0.0/33".to_string()),
        Just("300.1.1.1/24".to_string()),
        (0u64..100).prop_map(|n| n.to_string()),
        "[a-z:,\\-]{0,12}",
        "\\PC{0,8}",
    ]
}

const RUN_FLAGS: &[&str] = &[
    "--lock",
    "--workload",
    "--nemesis",
    "--clients",
    "--nodes",
    "--time-limit",
    "--ttl-ms",
    "--fencing",
    "--seed",
    "--subnet",
    "--cs-wait-ms",
    "--rate",
    "--op-timeout-ms",
    "--nemesis-interval",
    "--plugin-command",
    "--plugin-servers",
    "--clock-bump-max-ms",
    "--clock-drift-max",
    "--loss-percent",
    "--latency-ms",
    "--lease-check",
];

const CHECK_FLAGS: &[&str] = &["--format", "--model", "--init", "--time-limit", "--html"];

fn flags(names: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec((prop::sample::select(names), value()), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .flat_map(|(flag, v)| [flag.to_string(), v])
            .collect()
    })
}

/// A history in one of the formats, possibly damaged.
fn history_file() -> impl Strategy<Value = (String, Vec<u8>)> {
    let samples: Vec<(&str, &[u8])> = vec![
        (
            "h.jsonl",
            br#"{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time_ns":5,"process":0,"type":"ok","f":"write","value":1}
{"index":2,"time_ns":6,"process":1,"type":"invoke","f":"read","value":null}
{"index":3,"time_ns":9,"process":1,"type":"ok","f":"read","value":1}
"#,
        ),
        (
            "h.edn",
            b"[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :ok, :f :write, :value 1}\n {:process 1, :type :invoke, :f :cas, :value [1 2]}]",
        ),
        (
            "h.log",
            b"INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\tnil\n",
        ),
    ];
    (prop::sample::select(samples), any::<u64>(), 0u8..4).prop_map(|((name, bytes), r, how)| {
        let mut bytes = bytes.to_vec();
        let at = (r as usize) % bytes.len().max(1);
        match how {
            0 => {}
            1 => bytes.truncate(at),
            2 => bytes[at] ^= (r >> 8) as u8 | 1,
            _ => bytes.splice(at..at, (r >> 16).to_le_bytes()).for_each(drop),
        }
        (name.to_string(), bytes)
    })
}

/// What a command ended with: a verdict, or an error that is not splitbrain's own bug.
fn assert_not_internal(argv: &[String], result: anyhow::Result<u8>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert_ne!(exit_code_for(&e), EXIT_INTERNAL, "{:?}: {:#}", argv, e);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_run_command_line_panics_or_is_an_internal_error(args in flags(RUN_FLAGS)) {
        let mut argv = vec!["splitbrain".to_string(), "run".to_string()];
        argv.extend(args);
        let Ok(cli) = Cli::try_parse_from(&argv) else {
            return Ok(()); // clap's own errors exit 254
        };
        let checked = run_config_for_test(cli).map(|cfg| {
            splitbrain_runner::check_config(&cfg).map(|_| 0u8).map_err(anyhow::Error::from)
        });
        assert_not_internal(&argv, checked.and_then(|r| r))?;
    }

    #[test]
    fn no_check_of_a_damaged_file_panics_or_is_an_internal_error(
        (name, bytes) in history_file(),
        model in prop::sample::select(vec!["register", "cas-register", "kv", "mutex", "fenced-mutex"]),
        args in flags(CHECK_FLAGS),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&name);
        std::fs::write(&path, &bytes).unwrap();
        let mut argv = vec!["splitbrain".into(), "check".into(), path.display().to_string()];
        argv.extend(["--model".to_string(), model.to_string()]);
        // Each search gets little time: the property is about input, not search speed.
        // A page goes into the test's own directory, whatever name was drawn.
        let page = dir.path().join("page").display().to_string();
        let mut args = args.into_iter().filter(|a| a != "--time-limit").peekable();
        while let Some(arg) = args.next() {
            let is_html = arg == "--html";
            argv.push(arg);
            if is_html && args.next().is_some() {
                argv.push(page.clone());
            }
        }
        argv.extend(["--time-limit".to_string(), "0.05".to_string()]);
        let Ok(cli) = Cli::try_parse_from(&argv) else {
            return Ok(());
        };
        let result = dispatch(cli);
        if let Ok(code) = &result {
            prop_assert!(*code <= 2, "{:?} exited {}", argv, code);
        }
        assert_not_internal(&argv, result)?;
    }

    #[test]
    fn no_report_or_check_of_a_damaged_run_directory_is_an_internal_error(
        run_json in prop::sample::select(vec!["{}", "{\"seed\": 1}", "not json", ""]),
        (_, history) in history_file(),
        command in prop::sample::select(vec!["check", "report"]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("run.json"), run_json).unwrap();
        std::fs::write(dir.path().join("history.jsonl"), &history).unwrap();
        let argv = vec!["splitbrain".to_string(), command.to_string(), dir.path().display().to_string()];
        let cli = Cli::try_parse_from(&argv).unwrap();
        assert_not_internal(&argv, dispatch(cli))?;
    }
}
