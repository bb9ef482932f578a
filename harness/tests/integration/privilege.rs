//! Missing privilege: exit 3 and one message that says what is missing.

use std::process::Command;

use crate::support::*;

#[test]
fn no_capabilities_exit_3_and_say_what_is_missing() {
    if let Err(why) = setpriv_works(&NO_CAPABILITIES) {
        skip_line!("skipping no_capabilities_exit_3_and_say_what_is_missing: cannot drop every capability here ({why})");
        return;
    }
    // Root without capabilities (a container without --privileged): unshare(2) is refused.
    let run = Command::new("setpriv")
        .args(NO_CAPABILITIES)
        .arg(bin())
        .args(["run", "--no-record"])
        .arg(scenarios().join("model-grid.toml"))
        .output()
        .expect("setpriv from util-linux");
    assert_eq!(
        run.status.code(),
        Some(3),
        "want: exit 3 / got: {:?}\n{}",
        run.status.code(),
        String::from_utf8_lossy(&run.stdout)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("cannot create network and mount namespaces"),
        "{stdout}"
    );
    assert!(
        stdout.contains("CAP_SYS_ADMIN"),
        "the message must name the missing capability: {stdout}"
    );

    let probe = Command::new("setpriv")
        .args(NO_CAPABILITIES)
        .arg(bin())
        .arg("probe")
        .output()
        .unwrap();
    assert_eq!(probe.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&probe.stderr).contains("CAP_SYS_ADMIN"));
}
