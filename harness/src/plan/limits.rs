//! The largest and smallest messages each path carries, derived from what the kernel
//! does on that path rather than chosen: a limit that is not the kernel's would make a
//! qualification refuse a size the kernel takes, or accept one it refuses.

/// UEVENT_BUFFER_SIZE (include/linux/kobject.h): the buffer kobject_uevent_env() builds
/// a uevent's `KEY=VALUE\0` environment in. The `ACTION@DEVPATH\0` header is not in it.
pub const UEVENT_BUFFER_SIZE: u64 = 2048;

/// What nlstorm writes to a veth's uevent file at the least: `change <uuid>
/// NLSTORMSRC=<3 digits> NLSTORMSEQ=<20 digits> NLSTORMPAD=p` (payload's tests check the
/// template has exactly this length and these three keys).
pub const KERNEL_UEVENT_WRITE_MIN: u64 = 103;
/// `KEY=VALUE` arguments in that write.
pub const KERNEL_UEVENT_WRITE_ARGS: u64 = 3;
/// The action nlstorm writes.
pub const KERNEL_UEVENT_ACTION: &str = "change";

/// The largest broadcast the kernel allocates: netlink_broadcast's skb comes from
/// alloc_skb(), which kmalloc()s the data and its skb_shared_info together, and kmalloc
/// gives at most KMALLOC_MAX_SIZE (4 MiB with x86-64's 4 KiB pages and MAX_PAGE_ORDER
/// 10); skb_shared_info takes 320 B of it there. Measured on 6.18: 4193984 B is sent,
/// one byte more fails with ENOBUFS. A sender also needs SO_SNDBUF past the message
/// (netlink_sendmsg refuses `len > sk_sndbuf - 32`), which nlstorm's emitters raise.
pub const BROADCAST_MAX: u64 = (4 << 20) - 320;

/// How the veths of emitters are named: `nls<emitter index>`.
pub const DEVICE_PREFIX: &str = "nls";

/// Device name of the veth made for the kernel-uevent or link-alias emitter at index `i`.
pub fn device_name(i: usize) -> String {
    format!("{DEVICE_PREFIX}{i}")
}

/// The sysfs path the kernel puts in a sandbox veth's uevents.
fn devpath_len(dev: &str) -> u64 {
    ("/devices/virtual/net/".len() + dev.len()) as u64
}

/// Decimal digits of `n`.
fn digits(n: u64) -> u64 {
    u64::from(n.checked_ilog10().unwrap_or(0) + 1)
}

/// The uevent the kernel broadcasts for a write of `write_len` bytes, `action <uuid>`
/// and `args` `KEY=VALUE` arguments separated by single spaces, to the uevent file of
/// net device `dev`, as kobject_synth_uevent() and kobject_uevent_env() build it:
///
/// - the header `action@devpath\0`;
/// - `ACTION=action\0`, `DEVPATH=devpath\0`, `SUBSYSTEM=net\0`;
/// - `SYNTH_UUID=<uuid>\0` and `SYNTH_ARG_KEY=VALUE\0` per argument (11 and 10 bytes
///   more than the write spends on them);
/// - netdev_uevent()'s `INTERFACE=dev\0` and `IFINDEX=n\0`;
/// - `SEQNUM=n\0`, the kernel's global counter.
///
/// Everything after the header must fit UEVENT_BUFFER_SIZE.
pub fn sysfs_uevent_len(
    write_len: u64,
    args: u64,
    dev: &str,
    ifindex: u64,
    seqnum: u64,
) -> (u64, u64) {
    let action = KERNEL_UEVENT_ACTION.len() as u64;
    let devpath = devpath_len(dev);
    let header = action + 1 + devpath + 1;
    let env = ("ACTION=".len() as u64 + action + 1)
        + ("DEVPATH=".len() as u64 + devpath + 1)
        + "SUBSYSTEM=net\0".len() as u64
        + (write_len - action + 11 + 10 * args)
        + ("INTERFACE=".len() + dev.len() + 1) as u64
        + ("IFINDEX=".len() as u64 + digits(ifindex) + 1)
        + ("SEQNUM=".len() as u64 + digits(seqnum) + 1);
    (header, env)
}

/// The ifindex the sandbox gives the veth of emitter `i` when every earlier emitter has a
/// veth too: lo is 1, then each pair takes two. Pairs never straddle a power of ten
/// ((8, 9), (10, 11), (98, 99), ...), so the digits are exact in that case.
fn sandbox_ifindex(i: usize) -> u64 {
    3 + 2 * i as u64
}

/// The smallest uevent nlstorm can send through the veth of emitter `i` while the
/// kernel's SEQNUM is about `seqnum`.
pub fn kernel_uevent_smallest(i: usize, seqnum: u64) -> u64 {
    let (h, env) = sysfs_uevent_len(
        KERNEL_UEVENT_WRITE_MIN,
        KERNEL_UEVENT_WRITE_ARGS,
        &device_name(i),
        sandbox_ifindex(i),
        seqnum,
    );
    h + env
}

/// The largest uevent the kernel broadcasts for emitter `i`'s veth: its header plus a
/// full UEVENT_BUFFER_SIZE (a longer environment makes add_uevent_var() fail with
/// ENOMEM, and the write with it).
pub fn kernel_uevent_largest(i: usize) -> u64 {
    let (h, _) = sysfs_uevent_len(0, 0, &device_name(i), 1, 1);
    h + UEVENT_BUFFER_SIZE
}

/// The kernel's uevent counter as `/sys/kernel/uevent_seqnum` shows it (it is global,
/// so a sandbox sees the same one), with a margin for the uevents a run's calibration
/// sends first; 0 when unreadable (the run then measures and says).
pub fn seqnum_soon() -> u64 {
    std::fs::read_to_string("/sys/kernel/uevent_seqnum")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(0, |n| n.saturating_add(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_uevent_is_the_one_measured_on_6_18() {
        // nlstorm probe on 6.18 with SEQNUM 3420: "smallest message 270 B now".
        assert_eq!(kernel_uevent_smallest(0, 3420), 270);
        assert_eq!(kernel_uevent_smallest(0, 10_000), 271);
        assert_eq!(kernel_uevent_smallest(4, 3420), 271, "IFINDEX=11");
    }

    #[test]
    fn largest_uevent_is_header_and_a_full_buffer() {
        // Measured: a veth named nlsk0 took a 1912 B write as a 2082 B uevent, and
        // refused 1913 B with ENOMEM; its header `change@/devices/virtual/net/nlsk0\0`
        // is 34 B.
        assert_eq!(kernel_uevent_largest(0), 33 + 2048);
        assert_eq!(sysfs_uevent_len(1912, 3, "nlsk0", 3, 3420), (34, 2048));
    }

    #[test]
    fn digits_count() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(u64::MAX), 20);
    }
}
