//! Real-time scheduling for the calling thread, where the OS allows it.

use serde::{Deserialize, Serialize};

use super::memory::{MemoryLock, lock_process_memory};

/// The priority the rig's real-time threads ask for (`SCHED_FIFO`, 1–99). Above every normal
/// task and the kernel's default threaded interrupt handlers (50) would be too much for threads
/// that do I/O; 20 is enough to preempt every `SCHED_OTHER` task the moment a deadline or a byte
/// arrives.
pub const RIG_FIFO_PRIORITY: i32 = 20;

/// How a thread is scheduled, as the OS answered the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduling {
    /// True when the thread runs under `SCHED_FIFO`.
    pub realtime: bool,
    /// `SCHED_FIFO priority 20`, or why not (`SCHED_OTHER: SCHED_FIFO refused: ...`).
    pub policy: String,
    /// Whether the process's memory was locked in RAM when the thread asked (see
    /// [`super::memory`]); `None` for a thread that never asked (virtual time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryLock>,
}

impl Scheduling {
    /// A thread that never asked: the in-process twin's virtual time.
    pub fn virtual_time() -> Self {
        Self { realtime: false, policy: "virtual time (a task under the paused clock)".into(), memory: None }
    }
}

/// Asks for `SCHED_FIFO` at `priority` for the calling thread, and for a timer slack of 1 ns
/// (a normal thread's sleeps may be stretched by 50 µs to batch wake-ups), and has the process's
/// memory locked in RAM where that is safe ([`lock_process_memory`]). Never fails: a refusal (no
/// `CAP_SYS_NICE`, no `RLIMIT_RTPRIO`, a container without real-time budget) leaves the thread as
/// it was and says why in the answer.
pub fn request_fifo(priority: i32) -> Scheduling {
    let memory = Some(lock_process_memory().clone());
    let param = libc::sched_param { sched_priority: priority };
    // SAFETY: pthread_self() is the calling thread, and `param` is a valid, initialised block
    // that outlives the call.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    // SAFETY: PR_SET_TIMERSLACK takes one unsigned long argument; the rest are ignored.
    unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc == 0 {
        Scheduling { realtime: true, policy: format!("SCHED_FIFO priority {priority}"), memory }
    } else {
        let why = std::io::Error::from_raw_os_error(rc);
        Scheduling {
            realtime: false,
            policy: format!(
                "SCHED_OTHER: SCHED_FIFO refused ({why}); run as root, or give the user an rtprio limit (limits.conf) or CAP_SYS_NICE"
            ),
            memory,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_says_what_the_thread_got() {
        // Whether the OS grants it depends on the machine; the answer must match the thread's
        // real policy either way.
        let got = std::thread::spawn(|| {
            let s = request_fifo(RIG_FIFO_PRIORITY);
            let mut policy = 0;
            let mut param = libc::sched_param { sched_priority: 0 };
            // SAFETY: valid out-pointers for the calling thread.
            let rc = unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
            (s, rc, policy, param.sched_priority)
        })
        .join()
        .unwrap();
        let (s, rc, policy, priority) = got;
        assert_eq!(rc, 0);
        assert_eq!(s.realtime, policy == libc::SCHED_FIFO, "{s:?}");
        if s.realtime {
            assert_eq!(priority, RIG_FIFO_PRIORITY);
            assert_eq!(s.policy, "SCHED_FIFO priority 20");
        } else {
            assert!(s.policy.contains("refused"), "{s:?}");
        }
        assert_eq!(s.memory.as_ref(), Some(lock_process_memory()), "the thread says whether memory is locked");
    }
}
