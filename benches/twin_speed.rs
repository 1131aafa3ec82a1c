//! How fast the in-process twin runs a day of bench time through the whole rig stack: the pump
//! link over the duplex pipe, the FlowSensor driver read once a second, STATUS once a minute.
//!
//! `cargo bench --bench twin_speed` prints the median of several runs, as simulated seconds per
//! wall-clock second. Nothing here asserts a time: speed is measured, not tested.

// A benchmark that cannot set up its run has nothing to measure: it stops there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use rig::bench::{Bench, BenchFile, EMBEDDED_TWIN};
use rig::clock::{RigClock, RigTime};

const BENCH_TIME: Duration = Duration::from_secs(24 * 3600);
const SAMPLE: Duration = Duration::from_secs(1);
const STATUS_EVERY: u64 = 60;
const RUNS: usize = 5;

fn one_day() -> (Duration, u64) {
    let runtime = rig::clock::virtual_time_runtime().unwrap();
    runtime.block_on(async {
        let file = BenchFile::parse(std::path::Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
        let clock = RigClock::start();
        let mut bench = Bench::open(&file, &[], clock).await.unwrap();
        bench.link().fill(20_000.0).await.unwrap();
        bench.link().limit(24_000.0).await.unwrap();
        bench.link().program(500.0).await.unwrap();
        bench.link().start().await.unwrap();
        bench.sensor().unwrap().start_continuous().unwrap();
        let wall = Instant::now();
        let mut volume = 0.0;
        let mut k = 0u64;
        while SAMPLE * (k as u32) < BENCH_TIME {
            k += 1;
            clock.sleep_until(RigTime::from_duration(SAMPLE * k as u32)).await;
            volume += bench.sensor().unwrap().read().unwrap().flow_ul_h * SAMPLE.as_secs_f64() / 3600.0;
            if k % STATUS_EVERY == 0 {
                bench.link().status().await.unwrap();
            }
        }
        let elapsed = wall.elapsed();
        assert!(volume > 0.9 * 500.0 * 24.0, "the day delivered {volume:.0} µL");
        bench.make_safe().await;
        (elapsed, k)
    })
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: one quick run proves it works.
    let runs = if std::env::args().any(|a| a == "--bench") { RUNS } else { 1 };
    let mut walls: Vec<Duration> = (0..runs).map(|_| one_day().0).collect();
    walls.sort();
    let median = walls[walls.len() / 2];
    let ratio = BENCH_TIME.as_secs_f64() / median.as_secs_f64();
    println!(
        "twin_speed: 24 h of bench time (1 Hz sensor reads, STATUS each minute), median of {runs}: \
         {:.3} s wall = {ratio:.0} simulated s per wall s",
        median.as_secs_f64()
    );
}
