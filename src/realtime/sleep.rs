//! Sleeping to an absolute deadline on the monotonic clock.
//!
//! `std::thread::sleep` takes a relative duration: the time between reading the clock and
//! entering the kernel is lost, and a thread preempted in between oversleeps by the whole
//! preemption. `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` sleeps until an instant, which
//! is what a sampler on a fixed grid wants. `std::time::Instant` is `CLOCK_MONOTONIC` on Linux.

use std::time::{Duration, Instant};

/// Sleeps until `deadline` (returns at once if it has passed). Interrupted sleeps resume.
pub fn sleep_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        let Some(remaining) = deadline.checked_duration_since(now).filter(|d| !d.is_zero()) else { return };
        match monotonic_now() {
            Some(base) => {
                let target = add(base, remaining);
                // SAFETY: `target` is a valid timespec; a null remainder is allowed with TIMER_ABSTIME.
                let rc = unsafe {
                    libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &target, std::ptr::null_mut())
                };
                match rc {
                    0 => return,
                    libc::EINTR => continue,
                    // Not expected on Linux; a relative sleep is still a sleep.
                    _ => std::thread::sleep(remaining),
                }
            }
            None => std::thread::sleep(remaining),
        }
    }
}

/// Sleeps until `deadline`, waking every `slice` to ask `stop`; true if the deadline was
/// reached, false if `stop` said so first.
pub fn sleep_until_or(deadline: Instant, slice: Duration, stop: impl Fn() -> bool) -> bool {
    loop {
        if stop() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        // The last stretch is one absolute sleep to the deadline itself.
        sleep_until(deadline.min(now + slice));
    }
}

fn monotonic_now() -> Option<libc::timespec> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer.
    (unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } == 0).then_some(ts)
}

// `time_t` and `c_long` are `i64` here but `i32` on some 32-bit targets: the conversions are
// needed there.
#[allow(clippy::useless_conversion)]
fn add(ts: libc::timespec, d: Duration) -> libc::timespec {
    let nanos = i64::from(ts.tv_nsec) + i64::from(d.subsec_nanos());
    let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2);
    let secs = i64::from(ts.tv_sec).saturating_add(whole).saturating_add(nanos / 1_000_000_000);
    libc::timespec { tv_sec: secs as libc::time_t, tv_nsec: (nanos % 1_000_000_000) as libc::c_long }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespec_addition_carries_the_nanoseconds() {
        let t = add(libc::timespec { tv_sec: 5, tv_nsec: 900_000_000 }, Duration::from_millis(250));
        assert_eq!((t.tv_sec, t.tv_nsec), (6, 150_000_000));
        let t = add(libc::timespec { tv_sec: 0, tv_nsec: 0 }, Duration::from_nanos(1_999_999_999));
        assert_eq!((t.tv_sec, t.tv_nsec), (1, 999_999_999));
    }

    #[test]
    fn never_returns_before_the_deadline() {
        // Order, not speed: each return is at or after its deadline.
        for us in [0, 1, 50, 300, 2_000] {
            let deadline = Instant::now() + Duration::from_micros(us);
            sleep_until(deadline);
            assert!(Instant::now() >= deadline, "{us} µs");
        }
    }

    #[test]
    fn a_stop_request_ends_the_sleep_before_the_deadline() {
        let far = Instant::now() + Duration::from_secs(3600);
        assert!(!sleep_until_or(far, Duration::from_millis(1), || true));
        let near = Instant::now() + Duration::from_millis(2);
        assert!(sleep_until_or(near, Duration::from_millis(1), || false));
        assert!(Instant::now() >= near);
    }
}
