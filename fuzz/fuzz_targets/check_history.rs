//! Fuzzes parsing and checking together: the first byte picks the format and the model,
//! the rest is the file. Whatever parses must check without panicking, within a small
//! time budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use splitbrain_checker::linear::{CheckOptions, check_with_model};
use splitbrain_checker::models::ModelKind;
use splitbrain_history::History;
use splitbrain_history::import::{Format, parse};
use std::path::Path;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let format = Format::ALL[usize::from(pick & 3)];
    let model = ModelKind::ALL[usize::from(pick >> 2) % ModelKind::ALL.len()];
    let Ok(ops) = parse(Path::new("fuzz"), file, format) else {
        return;
    };
    let options = CheckOptions {
        time_limit: Some(Duration::from_millis(20)),
        max_cache_bytes: 16 << 20,
        ..CheckOptions::default()
    };
    let _ = check_with_model(model, &History::new(ops), None, &options);
});
