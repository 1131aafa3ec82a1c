//! `rig`: a hardware-in-the-loop test rig controller for implantable intrathecal drug pumps.
//!
//! The rig drives the pump under test over its serial service port ([`link`], ICD part 1),
//! measures real delivery with a liquid flow sensor and blocks the line with a pinch valve
//! ([`drivers`]), on a Raspberry Pi or on its digital twin ([`sim`]), reached in-process or
//! through the software bench bus ([`bus`], ICD part 2). [`bench`](mod@bench) opens whichever bench a
//! bench file describes.

pub mod analysis;
pub mod bench;
pub mod bus;
pub mod civil_time;
pub mod clock;
pub mod digest;
pub mod drivers;
pub mod evidence;
pub mod excerpt;
pub mod input_file;
pub mod judgement;
pub mod link;
pub mod plan;
pub mod protocol;
pub mod realtime;
pub mod run;
pub mod sim;
pub mod twin_host;

/// `println!` that never panics: a closed stdout (`rig run | head`) loses the text, not the run.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprint!` that never panics.
#[macro_export]
macro_rules! say_err_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}
