//! Prints the fault schedule a seed gives, as `splitbrain run` plans it, without running
//! anything: for picking the seed of a test whose scenario needs a particular fault.
//!
//! ```text
//! cargo run -p splitbrain-nemesis --example plan -- SEED FAULTS [name=value ...]
//! cargo run -p splitbrain-nemesis --example plan -- 14 partition nodes=3 time-limit=12 ttl-ms=2000 interval=1
//! ```
//!
//! The names are those of `splitbrain run`'s flags, with its defaults: `nodes=5`,
//! `time-limit=30` (s), `ttl-ms=1000`, `interval=3` (s, `--nemesis-interval`),
//! `clock-bump-max-ms=5000`, `clock-drift-max=2`.

use splitbrain_nemesis::faults::{FaultMix, ScheduleConfig, plan};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [seed, faults, options @ ..] = args.as_slice() else {
        return Err("usage: plan SEED FAULTS [name=value ...]".into());
    };
    let mut cfg = ScheduleConfig::new(
        seed.parse()?,
        Vec::new(),
        Duration::from_secs(30),
        Duration::from_millis(1000),
    );
    cfg.faults = faults.parse::<FaultMix>()?;
    cfg.interval = Duration::from_secs(3);
    let mut nodes = 5;
    for option in options {
        let (name, value) = option.split_once('=').ok_or("options are name=value")?;
        match name {
            "nodes" => nodes = value.parse()?,
            "time-limit" => cfg.time_limit = Duration::from_secs(value.parse()?),
            "ttl-ms" => cfg.ttl = Duration::from_millis(value.parse()?),
            "interval" => cfg.interval = Duration::from_secs_f64(value.parse()?),
            "clock-bump-max-ms" => cfg.clock_bump_max = Duration::from_millis(value.parse()?),
            "clock-drift-max" => cfg.clock_drift_max = value.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let names: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
    for fault in plan(&cfg, &names) {
        println!("{}", serde_json::to_string(&fault)?);
    }
    Ok(())
}
