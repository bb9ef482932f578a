//! What /proc says about a program's processes: its process tree, its socket
//! descriptors, its CPU time, and the system call each thread is blocked in. Parsers
//! are pure so they are tested on captured text.

use std::fs;

/// Every process in the tree under `root`, `root` first (children through
/// /proc/PID/task/TID/children, which needs CONFIG_PROC_CHILDREN; without it only
/// `root` is found).
pub fn tree(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() && out.len() < 4096 {
        let pid = out[i];
        for tid in tasks(pid) {
            if let Ok(t) = fs::read_to_string(format!("/proc/{pid}/task/{tid}/children")) {
                out.extend(t.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
            }
        }
        i += 1;
    }
    out
}

/// The children of `pid`'s threads, in the order the kernel lists them.
pub fn children(pid: u32) -> Vec<u32> {
    tasks(pid)
        .into_iter()
        .filter_map(|tid| fs::read_to_string(format!("/proc/{pid}/task/{tid}/children")).ok())
        .flat_map(|t| {
            t.split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// True while `pid` exists and is not a zombie (a zombie has no descriptors left).
pub fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace()
                .next()
                .map(|state| state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// The threads of `pid`.
pub fn tasks(pid: u32) -> Vec<u32> {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `(fd, socket inode)` of every socket descriptor of `pid`.
pub fn sockets(pid: u32) -> Vec<(i32, u64)> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let fd: i32 = e.file_name().to_str()?.parse().ok()?;
        let link = fs::read_link(e.path()).ok()?;
        Some((fd, socket_inode(link.to_str()?)?))
    })
    .collect()
}

/// The inode of a `socket:[12345]` link.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// utime + stime of /proc/PID/stat, in clock ticks (all threads of the process).
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU time of `pid` in ns, if it still exists.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let ticks = cpu_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
        .max(1) as u64;
    Some(ticks * (1_000_000_000 / hz))
}

/// The receive system calls a thread can hang in, by number on this architecture.
#[cfg(target_arch = "x86_64")]
const RECV_CALLS: [(i64, &str); 3] = [(45, "recvfrom"), (47, "recvmsg"), (299, "recvmmsg")];
#[cfg(target_arch = "aarch64")]
const RECV_CALLS: [(i64, &str); 3] = [(207, "recvfrom"), (212, "recvmsg"), (243, "recvmmsg")];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const RECV_CALLS: [(i64, &str); 0] = [];

/// `(system call name, fd)` when /proc/PID/task/TID/syscall says the thread is blocked
/// in a receive call (`47 0x3 0x7ffd...`); None when it runs or waits in anything else.
pub fn blocked_receive(syscall: &str) -> Option<(&'static str, i32)> {
    let mut f = syscall.split_whitespace();
    let nr: i64 = f.next()?.parse().ok()?;
    let (_, name) = RECV_CALLS.iter().find(|(n, _)| *n == nr)?;
    let fd = i64::from_str_radix(f.next()?.trim_start_matches("0x"), 16).ok()?;
    Some((name, i32::try_from(fd).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode("socket:[52011]"), Some(52011));
        assert_eq!(socket_inode("pipe:[52011]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn cpu_from_stat_with_an_awkward_name() {
        // Captured from /proc/PID/stat on 6.18, with the name changed to hold `) (`.
        let stat = "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 120 0 0 0 17 5 0 0 20 0 1 0 123 1000 200 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(22));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn receive_calls_are_recognised() {
        assert_eq!(
            blocked_receive("47 0x3 0x7ffd1 0x0 0x0 0x0 0x0 0x7ffd0 0x7f12"),
            Some(("recvmsg", 3))
        );
        assert_eq!(
            blocked_receive("45 0x1a 0x1 0x2 0 0 0 0x1 0x2").map(|x| x.1),
            Some(26)
        );
        // epoll_wait, running, and a thread that is not in a call at all.
        assert_eq!(blocked_receive("232 0x4 0x1 0x2 0 0 0 0x1 0x2"), None);
        assert_eq!(blocked_receive("running"), None);
        assert_eq!(blocked_receive("-1 0x7ffd 0x7f12"), None);
    }
}
