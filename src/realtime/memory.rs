//! Locking the process's memory in RAM (`mlockall`) for the real-time threads.
//!
//! A real-time thread at `SCHED_FIFO` still waits for a page fault: a page of the rig's code or
//! data that the kernel evicted under memory pressure (a build, a browser, the page cache of a
//! large bundle) is read back from the SD card or disk while a deadline waits, for milliseconds.
//! Locking every page the process has and will have (`MCL_CURRENT | MCL_FUTURE`) makes that
//! impossible. It is done once per process, by the first real-time thread that asks.
//!
//! Only where nothing can then fail: with a finite `RLIMIT_MEMLOCK` and no `CAP_IPC_LOCK`,
//! `MCL_FUTURE` would make every allocation past the limit fail, and an allocation failure is a
//! run without its evidence. There the memory is left unlocked and the answer says why.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Whether the process's memory is locked in RAM, as the OS answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryLock {
    pub locked: bool,
    /// `locked (mlockall MCL_CURRENT|MCL_FUTURE)`, or why not and what to change.
    pub detail: String,
}

/// `CAP_IPC_LOCK`'s bit in the capability sets (linux/capability.h).
const CAP_IPC_LOCK: u32 = 14;

/// Locks the process's memory once (see the module's text) and returns what the OS answered;
/// later calls return the first answer.
pub fn lock_process_memory() -> &'static MemoryLock {
    static ANSWER: OnceLock<MemoryLock> = OnceLock::new();
    ANSWER.get_or_init(|| {
        if let Err(why) = memory_lockable() {
            return MemoryLock { locked: false, detail: format!("not locked: {why}") };
        }
        // SAFETY: mlockall takes flags only and changes no memory the program sees.
        if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == 0 {
            MemoryLock { locked: true, detail: "locked (mlockall MCL_CURRENT|MCL_FUTURE)".to_string() }
        } else {
            let why = std::io::Error::last_os_error();
            MemoryLock { locked: false, detail: format!("not locked: mlockall refused ({why})") }
        }
    })
}

/// Whether [`lock_process_memory`] would lock (without locking): `Err` says why not and what
/// to change. The bench doctor asks it.
pub fn memory_lockable() -> Result<(), String> {
    let limit = memlock_limit();
    if safe_to_lock_all(limit, has_cap_ipc_lock()) {
        return Ok(());
    }
    let limit = limit.map_or_else(|| "unknown".to_string(), |l| format!("{} KiB", l / 1024));
    Err(format!(
        "RLIMIT_MEMLOCK is {limit} and the process lacks CAP_IPC_LOCK (locking future memory under a \
         limit would make allocations fail); run as root, or give the user CAP_IPC_LOCK or an unlimited \
         memlock limit (limits.conf)"
    ))
}

/// Whether locking all present and future memory cannot make a later allocation fail: the
/// limit is infinite (`None` here means unreadable, which is not), or the capability lifts it.
fn safe_to_lock_all(limit: Option<u64>, cap_ipc_lock: bool) -> bool {
    cap_ipc_lock || limit == Some(libc::RLIM_INFINITY)
}

/// The soft `RLIMIT_MEMLOCK`, in bytes (`RLIM_INFINITY` when unlimited); `None` if unreadable.
fn memlock_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit fills the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } == 0).then_some(limit.rlim_cur)
}

/// Whether the process's effective capabilities hold `CAP_IPC_LOCK` (root's do).
fn has_cap_ipc_lock() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| cap_eff(&s))
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// The `CapEff:` mask of a `/proc/<pid>/status` text.
fn cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_memory_is_locked_only_where_no_allocation_can_then_fail() {
        assert!(safe_to_lock_all(Some(libc::RLIM_INFINITY), false));
        assert!(safe_to_lock_all(Some(8 << 20), true));
        assert!(!safe_to_lock_all(Some(8 << 20), false), "a finite limit without the capability");
        assert!(!safe_to_lock_all(None, false), "an unreadable limit is not an infinite one");
    }

    #[test]
    fn the_effective_capabilities_are_read_from_proc_status() {
        let status = "Name:\trig\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t0\n";
        assert_eq!(cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(cap_eff("Name:\trig\n"), None);
        assert_eq!(cap_eff("CapEff:\tzz\n"), None);
    }

    #[test]
    fn the_answer_says_what_the_kernel_holds_locked() {
        let answer = lock_process_memory();
        assert_eq!(lock_process_memory(), answer, "one answer per process");
        // VmLck: the process's locked memory, as the kernel counts it. Nothing else in the rig
        // locks memory, so it is non-zero exactly when the lock was taken.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let locked_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmLck:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        assert_eq!(answer.locked, locked_kib > 0, "{answer:?}, VmLck {locked_kib} kB");
        assert_eq!(answer.detail.starts_with("locked"), answer.locked, "{answer:?}");
    }
}
