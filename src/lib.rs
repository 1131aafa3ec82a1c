//! `rig`: a hardware-in-the-loop test rig controller for implantable intrathecal drug pumps.
//!
//! The rig drives the pump under test over its serial service port ([`link`], ICD part 1),
//! measures real delivery with a liquid flow sensor and blocks the line with a pinch valve
//! ([`drivers`]), on a Raspberry Pi or on its digital twin ([`sim`]), reached in-process or
//! through the software bench bus ([`bus`], ICD part 2). [`bench`] opens whichever bench a
//! bench file describes.

pub mod bench;
pub mod bus;
pub mod clock;
pub mod drivers;
pub mod link;
pub mod plan;
pub mod protocol;
pub mod run;
pub mod sim;
pub mod twin_host;
