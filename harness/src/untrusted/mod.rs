//! Everything that comes from a scenario file or a run record is untrusted: it may have
//! been attached to a bug report or written by someone else, and nlstorm often runs as
//! root. This module is the one place that turns such text into something safe to use
//! as a file name, a C literal, XML, CSV or terminal output, and that bounds what a
//! scenario may ask of the machine.

mod escape;
mod file;
mod limits;
mod name;
mod outdir;

pub use escape::{c_comment, c_string, csv_field, terminal, terminal_line, xml};
pub use file::{read_bounded, read_untrusted, Bound, FileError};
pub use limits::Limits;
pub use name::{Name, NameError, NAME_MAX};
pub use outdir::{can_create_in, OutDir, OutDirError};
