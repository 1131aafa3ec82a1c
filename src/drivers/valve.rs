//! Driver for the occlusion valve: a normally-open pinch valve on one GPIO output line
//! (ICD part 2). Level 1 energises it and blocks the line; level 0, or power lost, leaves the
//! line open — the bench's safe state.
//!
//! The driver leans towards that safe state: [`OcclusionValve::new`] drives the line low before
//! anything else, [`OcclusionValve::release`] opens before handing the pin back, and dropping a
//! valve opens it (best effort: `Drop` cannot report an error, so code that must know calls
//! [`OcclusionValve::make_safe`] first).

use std::fmt;

use embedded_hal::digital::{self, OutputPin};

/// What the driver was doing when the pin failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValveAction {
    /// Driving the line low (de-energise: open).
    Open,
    /// Driving the line high (energise: close).
    Close,
}

/// A pin error, naming the valve's line and what was being done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValveError<E> {
    pub line: u32,
    pub action: ValveAction,
    pub source: E,
}

impl<E: fmt::Display> fmt::Display for ValveError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.action {
            ValveAction::Open => "could not open (drive low, de-energise)",
            ValveAction::Close => "could not close (drive high, energise)",
        };
        write!(
            f,
            "occlusion valve on GPIO line {}: {what} — check the GPIO chip or bench bus: {}",
            self.line, self.source
        )
    }
}

impl<E: fmt::Debug + fmt::Display + std::error::Error + 'static> std::error::Error for ValveError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A normally-open pinch valve on an output pin.
#[derive(Debug)]
pub struct OcclusionValve<P: OutputPin> {
    /// `Some` for the whole life of the valve; taken only by [`OcclusionValve::release`].
    pin: Option<P>,
    line: u32,
    closed: bool,
}

impl<P: OutputPin> OcclusionValve<P> {
    /// Takes the pin for GPIO `line` (used in error messages) and drives it low (open) at once,
    /// whatever state it was left in.
    pub fn new(pin: P, line: u32) -> Result<Self, ValveError<P::Error>> {
        let mut valve = Self { pin: Some(pin), line, closed: true };
        valve.open()?;
        Ok(valve)
    }

    /// The GPIO line number given at construction.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The pin, for a second handle on the same line (the emergency stop's); `None` only once
    /// released.
    pub fn pin(&self) -> Option<&P> {
        self.pin.as_ref()
    }

    /// Energises the valve (line high): the line is blocked.
    pub fn close(&mut self) -> Result<(), ValveError<P::Error>> {
        self.drive(ValveAction::Close)
    }

    /// De-energises the valve (line low): the line is open.
    pub fn open(&mut self) -> Result<(), ValveError<P::Error>> {
        self.drive(ValveAction::Open)
    }

    /// Whether the last successful command closed the valve. After a failed command the
    /// previous state is kept: the line's real level is then unknown, and the caller has the
    /// error.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Puts the valve in the bench's safe state (open), reporting a failure.
    pub fn make_safe(&mut self) -> Result<(), ValveError<P::Error>> {
        self.open()
    }

    /// Opens the valve and gives the pin back. If opening fails, the error is returned and the
    /// valve is dropped, which tries once more to open it.
    pub fn release(mut self) -> Result<P, ValveError<P::Error>> {
        self.open()?;
        // With the pin taken, `Drop` has nothing left to do.
        match self.pin.take() {
            Some(pin) => Ok(pin),
            None => unreachable!("the pin is taken only here, and this consumes the valve"),
        }
    }

    fn drive(&mut self, action: ValveAction) -> Result<(), ValveError<P::Error>> {
        let Some(pin) = self.pin.as_mut() else {
            return Ok(());
        };
        let result = match action {
            ValveAction::Open => pin.set_low(),
            ValveAction::Close => pin.set_high(),
        };
        result.map_err(|source| ValveError { line: self.line, action, source })?;
        self.closed = action == ValveAction::Close;
        Ok(())
    }
}

impl<P: OutputPin> Drop for OcclusionValve<P> {
    fn drop(&mut self) {
        if let Some(pin) = self.pin.as_mut() {
            // Best effort: nothing can be reported from here.
            let _ = pin.set_low();
        }
    }
}

impl<E: digital::Error> ValveError<E> {
    /// The embedded-hal error kind of the pin failure.
    pub fn kind(&self) -> digital::ErrorKind {
        self.source.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::MockError;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};
    use std::io::ErrorKind;

    #[test]
    fn new_drives_low_first() {
        let mut pin = Mock::new(&[Transaction::set(State::Low)]);
        let valve = OcclusionValve::new(pin.clone(), 17).unwrap();
        assert!(!valve.is_closed());
        assert_eq!(valve.line(), 17);
        pin.done();
        // Dropping opens once more.
        pin.update_expectations(&[Transaction::set(State::Low)]);
        drop(valve);
        pin.done();
    }

    #[test]
    fn close_drives_high_and_drop_after_close_drives_low() {
        let mut pin =
            Mock::new(&[Transaction::set(State::Low), Transaction::set(State::High), Transaction::set(State::Low)]);
        let mut valve = OcclusionValve::new(pin.clone(), 17).unwrap();
        valve.close().unwrap();
        assert!(valve.is_closed());
        drop(valve);
        pin.done();
    }

    #[test]
    fn make_safe_opens() {
        let mut pin = Mock::new(&[
            Transaction::set(State::Low),
            Transaction::set(State::High),
            Transaction::set(State::Low),
            // Dropped afterwards: opened once more, harmlessly.
            Transaction::set(State::Low),
        ]);
        let mut valve = OcclusionValve::new(pin.clone(), 17).unwrap();
        valve.close().unwrap();
        valve.make_safe().unwrap();
        assert!(!valve.is_closed());
        drop(valve);
        pin.done();
    }

    #[test]
    fn release_opens_and_returns_the_pin() {
        let pin =
            Mock::new(&[Transaction::set(State::Low), Transaction::set(State::High), Transaction::set(State::Low)]);
        let mut valve = OcclusionValve::new(pin, 4).unwrap();
        valve.close().unwrap();
        let mut pin = valve.release().unwrap();
        // Nothing more is driven once the pin is back: the mock would fail on an extra call.
        pin.done();
    }

    #[test]
    fn pin_error_surfaces_naming_the_line() {
        let err = MockError::Io(ErrorKind::NotConnected);
        let mut pin = Mock::new(&[
            Transaction::set(State::Low),
            Transaction::set(State::High).with_error(err.clone()),
            Transaction::set(State::Low).with_error(err.clone()),
            // Drop's best-effort open; its error is ignored.
            Transaction::set(State::Low).with_error(err.clone()),
        ]);
        let mut valve = OcclusionValve::new(pin.clone(), 17).unwrap();
        let close = valve.close().unwrap_err();
        assert_eq!(close, ValveError { line: 17, action: ValveAction::Close, source: err.clone() });
        assert!(!valve.is_closed());
        assert_eq!(close.kind(), digital::ErrorKind::Other);
        let safe = valve.make_safe().unwrap_err();
        assert_eq!(safe.action, ValveAction::Open);
        assert_eq!(
            safe.to_string(),
            "occlusion valve on GPIO line 17: could not open (drive low, de-energise) — \
             check the GPIO chip or bench bus: I/O error: NotConnected"
        );
        drop(valve);
        pin.done();
    }

    #[test]
    fn new_reports_a_pin_that_cannot_be_driven() {
        let err = MockError::Io(ErrorKind::PermissionDenied);
        let mut pin = Mock::new(&[
            Transaction::set(State::Low).with_error(err.clone()),
            // The half-built valve is dropped, which tries once more to open.
            Transaction::set(State::Low).with_error(err.clone()),
        ]);
        let e = OcclusionValve::new(pin.clone(), 5).unwrap_err();
        assert_eq!(e, ValveError { line: 5, action: ValveAction::Open, source: err });
        pin.done();
    }
}
