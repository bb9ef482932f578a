//! Classic BPF socket filters, as (code, jt, jf, k) tuples for SO_ATTACH_FILTER. The kernel
//! runs a netlink socket's filter before it charges a datagram to the queue (in
//! do_one_broadcast() for broadcasts, in netlink_dump() for dump parts), so what a filter
//! drops is neither queued nor counted in the socket's Drops.

/// One instruction: `struct sock_filter` {code, jt, jf, k}.
pub type Insn = (u16, u8, u8, u32);

const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;

/// Loads with `load`, then drops the datagram when the value equals one of `values`.
fn drop_if_equal(load: Insn, values: &[u32]) -> Vec<Insn> {
    let n = values.len();
    let mut p = vec![load];
    for (i, &v) in values.iter().enumerate() {
        // Match: jump over the remaining compares and the accept, to the drop.
        p.push((JEQ_K, (n - i) as u8, 0, v));
    }
    p.push((RET_K, 0, 0, 0xffff_ffff));
    p.push((RET_K, 0, 0, 0));
    p
}

/// Drops every datagram whose first message has one of `types` (`nlmsg_type` is in host
/// byte order, so the compare value is swapped for `ld h`, which loads big-endian).
pub fn drop_types(types: &[u16]) -> Vec<Insn> {
    let wire: Vec<u32> = types
        .iter()
        .map(|t| u32::from(u16::from_be_bytes(t.to_ne_bytes())))
        .collect();
    drop_if_equal((LD_H_ABS, 0, 0, 4), &wire)
}

/// Drops nlstorm's usersock broadcasts from the emitters with these plan indices: the
/// usersock header carries the emitter index little-endian at offset 2, and a plan has at
/// most 16 emitters, so its low byte is the whole index.
pub fn drop_usersock_sources(sources: &[u16]) -> Vec<Insn> {
    let low: Vec<u32> = sources.iter().map(|&s| u32::from(s & 0xff)).collect();
    drop_if_equal((LD_B_ABS, 0, 0, 2), &low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_program_branches_to_drop_on_a_match() {
        let p = drop_types(&[3, 2]);
        assert_eq!(p.len(), 5);
        // From compare i, jt skips the later compares and the accept.
        assert_eq!(usize::from(p[1].1) + 2, 4);
        assert_eq!(usize::from(p[2].1) + 3, 4);
        assert_eq!(p[3].3, u32::MAX);
        assert_eq!(p[4].3, 0);
    }

    /// Runs the program the way the kernel's classic BPF interpreter does, for the three
    /// instructions these filters use.
    fn accepts(p: &[Insn], packet: &[u8]) -> bool {
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let (code, jt, jf, k) = p[pc];
            match code {
                LD_B_ABS => a = u32::from(packet[k as usize]),
                LD_H_ABS => {
                    a = u32::from(u16::from_be_bytes([
                        packet[k as usize],
                        packet[k as usize + 1],
                    ]))
                }
                JEQ_K => {
                    pc += usize::from(if a == k { jt } else { jf });
                }
                RET_K => return k != 0,
                _ => unreachable!("not used by these filters"),
            }
            pc += 1;
        }
    }

    #[test]
    fn the_source_filter_drops_exactly_the_named_emitters() {
        let p = drop_usersock_sources(&[1, 3]);
        for source in 0u16..16 {
            let mut packet = vec![0u8; 16];
            packet[0..2].copy_from_slice(b"NL");
            packet[2..4].copy_from_slice(&source.to_le_bytes());
            assert_eq!(accepts(&p, &packet), ![1, 3].contains(&source), "{source}");
        }
    }

    #[test]
    fn the_type_filter_reads_nlmsg_type_in_host_order() {
        let p = drop_types(&[16]);
        let mut packet = vec![0u8; 16];
        for t in [15u16, 16, 17] {
            packet[4..6].copy_from_slice(&t.to_ne_bytes());
            assert_eq!(accepts(&p, &packet), t != 16, "{t}");
        }
    }
}
