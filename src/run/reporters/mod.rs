//! Consumers of the run event stream.

pub mod events_jsonl;
pub mod heartbeat;
pub mod progress;
pub mod record;
pub mod reporter_thread;
pub mod samples_csv;
pub mod stream_file;

pub use events_jsonl::EventsJsonl;
pub use heartbeat::Heartbeat;
pub use progress::Progress;
pub use record::{RecordReporter, SharedRecord};
pub use reporter_thread::ReporterThread;
pub use samples_csv::SamplesCsv;
pub use stream_file::flush_open_files;
