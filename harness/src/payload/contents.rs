//! Uevent bodies: the plain one, a content profile's event sequence, and a recorded
//! trace event made into a replay.

use super::*;
use crate::plan::ContentsProfile;

/// The variable part of a uevent: action and extra keys, all alphanumeric (the kernel's
/// synthetic-uevent parser accepts nothing else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UeventBody {
    /// `add`, `change`, `bind`, ...
    pub action: String,
    /// Extra `KEY=VALUE` pairs.
    pub keys: Vec<(String, String)>,
}

/// The trace behind the `usb-hotplug` profile. Its header says what it is: written by
/// hand in the shape of a real plug, because no USB device can be plugged here.
pub const USB_HOTPLUG_TRACE: &str = include_str!("../../../fixtures/traces/usb-hotplug.txt");

/// The event sequence of a content profile.
pub fn profile_events(profile: ContentsProfile) -> Vec<UeventBody> {
    let text = match profile {
        ContentsProfile::UsbHotplug => USB_HOTPLUG_TRACE,
    };
    // A unit test parses the bundled trace, so this cannot fail in a built binary.
    let trace = crate::trace::parse(text, "fixtures/traces/usb-hotplug.txt")
        .expect("the bundled usb-hotplug trace parses");
    trace.replayable(false).map(alphanumeric_body).collect()
}

/// A recorded event as keys the sysfs path accepts: the kernel adds ACTION, DEVPATH and
/// SUBSYSTEM itself; other characters become `x` (`46d/c52b/1211` -> `46dxc52bx1211`),
/// an empty value `none`, so sizes stay close to the recorded ones.
fn alphanumeric_body(e: &crate::trace::TraceEvent) -> UeventBody {
    let clean = |s: &str, sub: Option<char>| -> String {
        s.chars()
            .filter_map(|c| {
                if c.is_ascii_alphanumeric() {
                    Some(c)
                } else {
                    sub
                }
            })
            .collect()
    };
    UeventBody {
        action: e.action.clone(),
        keys: e
            .properties
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "ACTION" | "DEVPATH" | "SUBSYSTEM"))
            .map(|(k, v)| {
                let v = clean(v, Some('x'));
                (clean(k, None), if v.is_empty() { "none".into() } else { v })
            })
            .collect(),
    }
}

/// Bytes a replay adds to each recorded event: the run id, source and sequence keys.
pub const REPLAY_KEYS_LEN: usize = "SYNTH_UUID=".len()
    + 36
    + 1
    + "SYNTH_ARG_NLSTORMSRC=".len()
    + SRC_DIGITS
    + 1
    + "SYNTH_ARG_NLSTORMSEQ=".len()
    + SEQ_DIGITS
    + 1;

/// The plain body used when no content profile is chosen.
pub fn plain_body() -> UeventBody {
    UeventBody {
        action: "change".into(),
        keys: Vec::new(),
    }
}
