//! The rig's end of the in-process twin's service port, with nothing between the link and the
//! twin: a write is the twin receiving those bytes at the clock's now, a read takes what the
//! twin has said. The link ([`crate::link::PumpLink`]) runs over it unchanged, as over a pty or
//! a UART: it is one more `AsyncRead + AsyncWrite`.
//!
//! It replaces a duplex pipe with a task serving the twin's end ([`super::serve_service_port`],
//! which `rig sim` still runs on its pseudo-terminal): under virtual time that task's wake-ups,
//! the pipe's copies and a timer re-armed after every read cost more than the twin's answer.
//! What the link sees is the same: the same bytes at the same instants. A read waits, like the
//! task did, for the first of the twin's next deadline (a stroke, an alarm timer: whatever the
//! firmware then says) and any other access through [`SharedTwin::with`] (the valve, an
//! injection).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::shared::SharedTwin;
use crate::clock::RigTime;

/// The rig's end of the twin's service port, in this process.
pub struct InProcessPort {
    twin: SharedTwin,
    /// What the twin said and the link has not read yet, from `taken` on.
    said: Vec<u8>,
    taken: usize,
    /// One timer for the twin's next deadline, moved only when that deadline moves.
    timer: Option<Pin<Box<Sleep>>>,
    armed: Option<Duration>,
    /// Set when the [`SerialCable`] is pulled: the line ends.
    unplugged: Arc<AtomicBool>,
}

/// The port's cable: dropping it pulls it (reads then see the end of the line, writes fail),
/// as when the twin's end of a pipe goes away. The bench holds it while it is open.
pub struct SerialCable {
    unplugged: Arc<AtomicBool>,
    twin: SharedTwin,
}

impl Drop for SerialCable {
    fn drop(&mut self) {
        self.unplugged.store(true, Ordering::Release);
        self.twin.wake_port();
    }
}

impl InProcessPort {
    pub fn new(twin: SharedTwin) -> Self {
        Self { twin, said: Vec::new(), taken: 0, timer: None, armed: None, unplugged: Arc::default() }
    }

    /// The cable this port's line ends with when it is dropped.
    pub fn cable(&self) -> SerialCable {
        SerialCable { unplugged: self.unplugged.clone(), twin: self.twin.clone() }
    }

    fn is_unplugged(&self) -> bool {
        self.unplugged.load(Ordering::Acquire)
    }

    /// Whether the twin's next deadline has come (the timer armed for it, and `cx` woken when it
    /// does otherwise).
    fn deadline_passed(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.twin.peek(|t| t.next_deadline());
        let Some(d) = deadline else {
            self.armed = None;
            return false;
        };
        let at = self.twin.clock().instant(RigTime::from_duration(d));
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if self.armed != deadline {
            timer.as_mut().reset(at);
            self.armed = deadline;
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl AsyncRead for InProcessPort {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.is_unplugged() {
                return Poll::Ready(Ok(()));
            }
            if this.taken < this.said.len() {
                let rest = this.said.get(this.taken..).unwrap_or_default();
                let n = rest.len().min(buf.remaining());
                buf.put_slice(rest.get(..n).unwrap_or_default());
                this.taken += n;
                return Poll::Ready(Ok(()));
            }
            // Registered before the twin is looked at: an access after that, from any thread,
            // wakes this read.
            this.twin.wake_port_on_access(cx.waker());
            // Advanced to now first (the sampler's catch-up with it), so what the firmware said
            // up to now is in the output.
            let said = this.twin.with_quietly(|t, _| t.serial_take_output());
            if !said.is_empty() {
                (this.said, this.taken) = (said, 0);
                continue;
            }
            if !this.deadline_passed(cx) {
                return Poll::Pending;
            }
        }
    }
}

impl AsyncWrite for InProcessPort {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        if self.is_unplugged() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "the serial cable was pulled")));
        }
        self.twin.with_quietly(|t, now| t.serial_receive(now, bytes));
        // A reader on another task is woken for the answer; the link reads on the task that
        // wrote, right after the write, and is not woken again for nothing.
        self.twin.wake_port_unless(cx.waker());
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::clock::RigClock;
    use crate::protocol::frame::encode_frame;
    use crate::sim::{Injection, Twin, TwinConfig};
    use crate::twin_host::serve_service_port;

    /// Each line the rig's end received, stamped when its first byte was read.
    type Lines = Arc<Mutex<Vec<(RigTime, String)>>>;

    /// A conversation with the twin over `stream`: reads on one task, writes on another at
    /// scripted instants (setup, a STATUS, a BOLUS), a watchdog reset injected meanwhile, and the
    /// twin left to run out of drug on its own (its alarms are unsolicited events).
    async fn converse<S>(stream: S, twin: SharedTwin) -> Vec<(RigTime, String)>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let clock = twin.clock();
        let (mut reader, mut writer) = tokio::io::split(stream);
        let lines: Lines = Arc::default();
        let received = lines.clone();
        let reading = tokio::spawn(async move {
            let (mut buf, mut line, mut started) = ([0u8; 64], String::new(), None);
            while let Ok(n @ 1..) = reader.read(&mut buf).await {
                let at = clock.now();
                for &b in buf.get(..n).unwrap_or_default() {
                    started.get_or_insert(at);
                    line.push(char::from(b));
                    if b == b'\n' {
                        let first_byte = started.take().unwrap_or(at);
                        received.lock().unwrap().push((first_byte, std::mem::take(&mut line)));
                    }
                }
            }
        });
        let script = [
            (100, "1 FILL volume_ul=300"),
            (200, "2 LIMIT max_24h_ul=24000"),
            (300, "3 BOLUS_CONFIG dose_ul=10 lockout_s=60 max_per_24h=24"),
            (400, "4 PROGRAM basal_ul_h=1000"),
            (500, "5 START"),
            (5_000, "6 STATUS"),
            (7_500, "7 BOLUS"),
        ];
        for (ms, payload) in script {
            clock.sleep_until(RigTime::from_millis(ms)).await;
            writer.write_all(&encode_frame(payload).unwrap()).await.unwrap();
        }
        clock.sleep_until(RigTime::from_millis(1_500_000)).await;
        twin.inject(Injection::WatchdogReset);
        clock.sleep_until(RigTime::from_millis(3_600_000)).await;
        reading.abort();
        lines.lock().unwrap().clone()
    }

    fn twin() -> SharedTwin {
        SharedTwin::new(Twin::new(TwinConfig::default()), RigClock::start())
    }

    #[tokio::test(start_paused = true)]
    async fn the_rig_reads_what_a_pipe_to_the_twins_port_task_delivers_at_the_same_instants() {
        let through_pipe = {
            let twin = twin();
            let (rig_end, pump_end) = tokio::io::duplex(16 * 1024);
            let serving = tokio::spawn(serve_service_port(twin.clone(), pump_end));
            let lines = converse(rig_end, twin).await;
            serving.abort();
            lines
        };
        let direct = {
            let twin = twin();
            converse(InProcessPort::new(twin.clone()), twin).await
        };
        // Not vacuous: answers to every request, the reset's BOOT and the alarms of an emptied
        // reservoir, which the twin raised on its own at its deadlines.
        let has = |needle: &str| direct.iter().any(|(_, l)| l.contains(needle));
        assert!(has("6 OK") && has("7 OK"), "{direct:?}");
        assert!(has(" BOOT "), "{direct:?}");
        assert!(has("RESERVOIR"), "{direct:?}");
        let unsolicited = direct.iter().filter(|(at, l)| l.starts_with('!') && *at > RigTime::from_millis(7_500));
        assert!(unsolicited.count() >= 2, "{direct:?}");
        // Every line is an ICD frame: `\r\n`-terminated, its CRC-16 right.
        for (_, line) in &direct {
            let text = line.strip_suffix("\r\n").unwrap_or_else(|| panic!("not CRLF-terminated: {line:?}"));
            let (payload, crc) = text.rsplit_once('*').unwrap_or_else(|| panic!("no CRC: {line:?}"));
            assert_eq!(crc, format!("{:04X}", crate::protocol::crc16::crc16(payload.as_bytes())), "{line:?}");
        }
        assert_eq!(direct, through_pipe);
    }

    #[tokio::test(start_paused = true)]
    async fn pulling_the_cable_ends_the_line_for_a_waiting_read_and_for_writes() {
        let twin = twin();
        let mut port = InProcessPort::new(twin.clone());
        let cable = port.cable();
        let mut buf = [0u8; 256];
        assert!(port.read(&mut buf).await.unwrap() > 0, "the power-up BOOT");
        let (mut reader, mut writer) = tokio::io::split(port);
        let read = tokio::spawn(async move { reader.read(&mut buf).await.unwrap() });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!read.is_finished());
        drop(cable);
        let n = tokio::time::timeout(Duration::from_millis(1), read).await.expect("woken").unwrap();
        assert_eq!(n, 0, "the end of the line");
        let e = writer.write_all(&encode_frame("1 STATUS").unwrap()).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_read_is_woken_by_an_access_to_the_twin() {
        let twin = twin();
        let mut port = InProcessPort::new(twin.clone());
        let mut buf = [0u8; 256];
        // What the pump says as it powers up, read first.
        let n = port.read(&mut buf).await.unwrap();
        assert!(buf.get(..n).unwrap_or_default().starts_with(b"! 1 "));
        let read =
            tokio::spawn(async move { port.read(&mut buf).await.map(|n| buf.get(..n).unwrap_or_default().to_vec()) });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!read.is_finished(), "nothing was said yet");
        twin.inject(Injection::WatchdogReset);
        let said = tokio::time::timeout(Duration::from_millis(1), read).await.expect("woken").unwrap().unwrap();
        let said = String::from_utf8(said).unwrap();
        assert!(said.starts_with("! ") && said.contains(" BOOT "), "{said:?}");
    }
}
