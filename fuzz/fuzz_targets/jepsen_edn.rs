//! Fuzzes the jepsen_edn parser: any bytes give ops or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use splitbrain_history::import::{Format, parse};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = parse(Path::new("fuzz"), data, Format::JepsenEdn);
});
