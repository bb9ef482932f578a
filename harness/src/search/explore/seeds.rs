//! Regression seeds: the ones handed to proptest's runner to replay first, and the one
//! it saves for a failure.

use std::any::Any;
use std::sync::{Arc, Mutex};

use proptest::test_runner::{FailurePersistence, PersistedSeed};

/// Hands persisted seeds to the runner and catches the one it saves.
#[derive(Debug, Clone)]
pub(super) struct Seeds {
    pub(super) replay: Vec<PersistedSeed>,
    pub(super) saved: Arc<Mutex<Option<String>>>,
}

impl FailurePersistence for Seeds {
    fn load_persisted_failures2(&self, _: Option<&'static str>) -> Vec<PersistedSeed> {
        self.replay.clone()
    }

    fn save_persisted_failure2(
        &mut self,
        _: Option<&'static str>,
        seed: PersistedSeed,
        _: &dyn std::fmt::Debug,
    ) {
        *self.saved.lock().expect("not poisoned") = Some(seed.to_string());
    }

    fn box_clone(&self) -> Box<dyn FailurePersistence> {
        Box::new(self.clone())
    }

    fn eq(&self, other: &dyn FailurePersistence) -> bool {
        other
            .as_any()
            .downcast_ref::<Seeds>()
            .is_some_and(|o| o.replay == self.replay)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Parses a persisted seed line's `cc ...` part.
pub fn parse_seed(text: &str) -> Option<PersistedSeed> {
    text.trim().parse().ok()
}
