//! Reports: the terminal table, the JSON document, JUnit XML.

mod human;
mod junit;
mod model;
mod search;

pub use human::{print_probe, print_scenario};
pub use junit::junit;
pub use model::{Report, ScenarioReport};
pub use search::print_threshold;
