//! Any line on the bench bus: parsing a request or a response never panics, and what parses
//! prints back to a line that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rig::bus::{BusRequest, BusResponse, Inject, LineReader};

fuzz_target!(|data: &[u8]| {
    let mut reader = LineReader::new();
    let mut rest = data;
    let mut lines = Vec::new();
    loop {
        let taken = reader.feed(rest);
        rest = rest.get(taken..).unwrap_or_default();
        while let Some(line) = reader.next_line() {
            lines.push(line);
        }
        if rest.is_empty() {
            break;
        }
    }
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Ok(request) = BusRequest::parse(line) {
            assert_eq!(BusRequest::parse(&request.to_line()), Ok(request));
        }
        for request in [
            BusRequest::Hello,
            BusRequest::I2cRead { addr: 8, len: 3 },
            BusRequest::GpioGet { line: 17 },
            BusRequest::Inject(Inject::Watchdog),
        ] {
            if let Ok(response) = BusResponse::parse_for(&request, line) {
                assert_eq!(BusResponse::parse_for(&request, &response.to_line()), Ok(response));
            }
        }
    }
});
