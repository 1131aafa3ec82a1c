//! Civil time for the evidence: when a record was written, and the date calibration due dates
//! are judged against. Read from the system's wall clock, in UTC; never the rig's
//! [`RigClock`](crate::clock::RigClock), which measures the case, not the calendar.

/// Now, UTC, RFC 3339 to the second.
pub fn utc_now() -> String {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| now.to_string())
}

/// Today's date, UTC.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
