//! Emitters: what floods. Each message carries the run id, the emitter index and a
//! sequence number (see `payload.rs`).

mod emitter;
mod pacing;
mod sink;

pub use emitter::Emitter;
pub use pacing::wait_until;
pub use sink::Sink;
