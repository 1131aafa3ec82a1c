//! The twin's end of the pump's service port as a task: moves bytes between a stream (`rig
//! sim`'s pseudo-terminal, or the duplex pipe of a test's tapped line) and the twin, and wakes
//! exactly when the twin next has something to do. `rig run` on the in-process twin reaches the
//! twin without it ([`super::InProcessPort`]).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::shared::SharedTwin;
use crate::clock::RigTime;

/// How long a write may wait for the host to drain the line before the bytes are dropped, as a
/// UART drops what nobody reads. Keeps the twin running while no host is attached to a pty.
const WRITE_PATIENCE: Duration = Duration::from_millis(200);

/// Serves the service port until the stream ends or fails; returns why it stopped.
pub async fn serve_service_port<S>(twin: SharedTwin, stream: S) -> String
where
    S: AsyncRead + AsyncWrite,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let clock = twin.clock();
    let mut buf = vec![0u8; 512];
    loop {
        let output = twin.with_quietly(|t, _| t.serial_take_output());
        if !output.is_empty() {
            match tokio::time::timeout(WRITE_PATIENCE, async {
                writer.write_all(&output).await?;
                writer.flush().await
            })
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return format!("service port write failed: {e}"),
                Err(_) => {} // nobody is reading: the bytes are lost, as on a real UART
            }
        }
        let deadline = twin.peek(|t| t.next_deadline()).map(|d| clock.instant(RigTime::from_duration(d)));
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) => return "service port closed".to_string(),
                Ok(n) => twin.with_quietly(|t, now| t.serial_receive(now, buf.get(..n).unwrap_or_default())),
                Err(e) => return format!("service port read failed: {e}"),
            },
            _ = sleep_until_opt(deadline) => twin.with_quietly(|_, _| ()),
            _ = twin.changed() => {}
        }
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
