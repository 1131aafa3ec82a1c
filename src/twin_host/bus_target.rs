//! The twin behind the software bench bus: each bus request advances the twin to now first.
//! `HELLO` lists every injection of the ICD, and `INJECT` goes through the same mapping as the
//! in-process bench's ([`crate::sim::Injection`]'s `From<Inject>`).

use std::collections::BTreeSet;

use crate::bus::codec::{Inject, InjectKind};
use crate::bus::server::{BusTarget, Nack, NoSuchLine, Unsupported};

use super::shared::SharedTwin;

/// Serves the twin's I2C bus, GPIO lines and injections to `rig::bus::serve`.
pub struct TwinBusTarget {
    twin: SharedTwin,
}

impl TwinBusTarget {
    pub fn new(twin: SharedTwin) -> Self {
        Self { twin }
    }
}

impl BusTarget for TwinBusTarget {
    fn bench_name(&self) -> String {
        "rig-digital-twin".to_string()
    }

    fn injections(&self) -> BTreeSet<InjectKind> {
        InjectKind::ALL.into_iter().collect()
    }

    fn i2c_write(&mut self, addr: u8, bytes: &[u8]) -> Result<(), Nack> {
        self.twin.with(|twin, now| twin.i2c_write(now, addr, bytes)).map_err(|_| Nack)
    }

    fn i2c_read(&mut self, addr: u8, len: usize) -> Result<Vec<u8>, Nack> {
        let mut buf = vec![0u8; len];
        self.twin.with(|twin, now| twin.i2c_read(now, addr, &mut buf)).map_err(|_| Nack)?;
        Ok(buf)
    }

    fn gpio_set(&mut self, line: u32, high: bool) -> Result<(), NoSuchLine> {
        self.twin.with(|twin, now| twin.gpio_set(now, line, high)).map_err(|_| NoSuchLine)
    }

    fn gpio_get(&mut self, line: u32) -> Result<bool, NoSuchLine> {
        self.twin.peek(|twin| twin.gpio_get(line)).map_err(|_| NoSuchLine)
    }

    fn inject(&mut self, inject: Inject) -> Result<(), Unsupported> {
        self.twin.inject(inject);
        Ok(())
    }
}
