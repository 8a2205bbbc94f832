//! Checks a run directory and writes its report: `cargo run -p splitbrain-reports
//! --example report_dir -- DIR`. A stand-in for `splitbrain check DIR && splitbrain
//! report DIR` while trying the report by hand.

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: report_dir DIR (a run directory with run.json and history.jsonl)");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(&dir);
    match splitbrain_checker::check_run_dir(dir) {
        Ok(results) => println!("valid: {:?}", results.valid),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
    if let Err(e) = splitbrain_reports::write_junit(dir) {
        eprintln!("{e}");
        std::process::exit(2);
    }
    match splitbrain_reports::write_report(dir) {
        Ok(page) => println!("report: {}", page.display()),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
