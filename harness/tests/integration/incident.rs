//! Incident 1 reproduced through the real kernel uevent path.

use crate::support::*;

#[test]
fn incident_1_reproduces_with_kernel_figures() {
    if !sandbox_or_skip("incident_1_reproduces_with_kernel_figures") {
        return;
    }
    let path = scenarios().join("incident-1-usb-hotplug.toml");
    let (code, v, out) = run_scenario(path.to_str().unwrap());
    assert_eq!(
        code,
        0,
        "want: exit 0 / got: {code}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let facts = &v["scenarios"][0]["facts"];
    let copied = receiver(&v, "copied-1024");
    // man 7 socket: "The kernel doubles this value"; never below SOCK_MIN_RCVBUF, which
    // the run measured on this kernel.
    let want = (2 * 1024).max(u(&facts["sock_min_rcvbuf"]));
    assert_eq!(u(&copied["rcvbuf_effective"]), want);
    assert!(u(&copied["lost"]) > 0 && u(&copied["enobufs"]) > 0);
    assert_eq!(
        copied["kernel_drops"], copied["lost"],
        "every lost uevent is a kernel drop"
    );
    let quiet = receiver(&v, "no-enobufs");
    assert_eq!(u(&quiet["enobufs"]), 0);
    assert!(u(&quiet["kernel_drops"]) > 0);
    let default = receiver(&v, "default");
    assert_eq!(u(&default["rcvbuf_effective"]), u(&facts["rmem_default"]));
    assert_eq!(u(&default["lost"]), 0);
    let fitted = receiver(&v, "fitted");
    assert_eq!(u(&fitted["lost"]), 0);
    assert!(
        u(&fitted["predicted_capacity"]) >= 36,
        "the fitted buffer holds the burst by the model"
    );
    for r in v["scenarios"][0]["receivers"].as_array().unwrap() {
        assert_eq!(u(&r["sent"]), 36, "{r}");
        assert_eq!(u(&r["delivered"]) + u(&r["lost"]), u(&r["sent"]), "{r}");
    }
}
