//! Round trips of every template through decode, and the content profiles.

use super::contents::*;
use super::decode::*;
use super::template::*;
use super::*;
use crate::plan::{ContentsProfile, Protocol};

fn run() -> RunId {
    RunId([0x11; 16])
}

#[test]
fn uuid_is_kernel_shaped() {
    let u = RunId::random().uuid();
    assert_eq!(u.len(), 36);
    for (i, c) in u.chars().enumerate() {
        if [8, 13, 18, 23].contains(&i) {
            assert_eq!(c, '-');
        } else {
            assert!(c.is_ascii_hexdigit());
        }
    }
}

#[test]
fn usersock_round_trip_every_length() {
    let r = run();
    let mut t = usersock_template(&r, 3, 4096);
    for len in [USERSOCK_HEADER, 17, 100, 4096] {
        let m = t.render(123_456_789, len);
        assert_eq!(m.bytes().len(), len);
        assert_eq!(
            decode(Protocol::Usersock, m.bytes(), &r, &r.uuid()),
            Tag::Ours {
                source: 3,
                seq: 123_456_789
            }
        );
    }
    let other = RunId([0x22; 16]);
    let m = t.render(1, 64);
    assert_eq!(
        decode(Protocol::Usersock, m.bytes(), &other, &other.uuid()),
        Tag::Foreign
    );
}

#[test]
fn link_alias_round_trip_inside_a_newlink() {
    let r = run();
    let mut t = link_alias_template(&r, 2, 255);
    assert_eq!(t.min_len(), LINK_ALIAS_MIN);
    assert_eq!(LINK_ALIAS_MIN, 81);
    for len in [LINK_ALIAS_MIN, LINK_ALIAS_MIN + 1, 200, 255] {
        let m = t.render(987_654, len);
        assert_eq!(m.bytes().len(), len);
        // As the kernel lays it out: other attributes, then IFLA_IFALIAS, NUL-padded.
        let mut newlink = vec![0x10u8; 300];
        newlink.extend_from_slice(&[0, 0, 20, 0]);
        newlink.extend_from_slice(m.bytes());
        newlink.extend_from_slice(&[0; 3]);
        assert_eq!(
            decode(Protocol::Route, &newlink, &r, &r.uuid()),
            Tag::Ours {
                source: 2,
                seq: 987_654
            }
        );
        let other = RunId([0x22; 16]);
        assert_eq!(
            decode(Protocol::Route, &newlink, &other, &other.uuid()),
            Tag::Foreign
        );
    }
    assert_eq!(
        decode(Protocol::Route, b"alias nlstorm run=", &r, &r.uuid()),
        Tag::Foreign
    );
}

#[test]
fn synthetic_uevent_round_trip_and_exact_size() {
    let r = run();
    let body = profile_events(ContentsProfile::UsbHotplug).remove(0);
    let mut t = synthetic_uevent_template(&r, 1, &body, 2000);
    for len in [t.min_len(), 700, 2000] {
        let m = t.render(42, len);
        assert_eq!(m.bytes().len(), len);
        assert_eq!(*m.bytes().last().unwrap(), 0, "uevent must end in NUL");
        assert_eq!(
            decode(Protocol::KobjectUevent, m.bytes(), &r, &r.uuid()),
            Tag::Ours { source: 1, seq: 42 }
        );
    }
    // The padding byte is restored: a longer render after a shorter one is intact.
    let long = t.render(7, 2000).bytes().to_vec();
    assert_eq!(
        long.iter().filter(|&&b| b == 0).count(),
        long.split(|&b| b == 0).count() - 1
    );
}

#[test]
fn kernel_format_as_the_kernel_rewrites_it() {
    // What kobject_synth_uevent() makes of our write, as seen on the wire.
    let r = run();
    let wire = format!(
        "change@/devices/virtual/net/nls0\0ACTION=change\0DEVPATH=/devices/virtual/net/nls0\0SUBSYSTEM=net\0SYNTH_UUID={}\0SYNTH_ARG_NLSTORMSRC=002\0SYNTH_ARG_NLSTORMSEQ=00000000000000000009\0SYNTH_ARG_NLSTORMPAD=ppp\0INTERFACE=nls0\0IFINDEX=3\0SEQNUM=1234\0",
        r.uuid()
    );
    assert_eq!(
        decode(Protocol::KobjectUevent, wire.as_bytes(), &r, &r.uuid()),
        Tag::Ours { source: 2, seq: 9 }
    );
    let host = "add@/devices/pci0000:00/usb1\0ACTION=add\0SEQNUM=5\0";
    assert_eq!(
        decode(Protocol::KobjectUevent, host.as_bytes(), &r, &r.uuid()),
        Tag::Foreign
    );
}

#[test]
fn sysfs_write_is_alphanumeric_args() {
    let r = run();
    let body = profile_events(ContentsProfile::UsbHotplug).remove(5);
    let mut t = sysfs_write_template(&r, 0, &body, 100);
    let m = t.render(5, t.min_len() + 10);
    let text = std::str::from_utf8(m.bytes()).unwrap();
    let mut words = text.split(' ');
    assert_eq!(words.next(), Some("add"));
    assert_eq!(words.next(), Some(r.uuid().as_str()));
    for kv in words {
        let (k, v) = kv.split_once('=').expect(kv);
        assert!(k.chars().all(|c| c.is_ascii_alphanumeric()), "{k}");
        assert!(
            !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric()),
            "{v}"
        );
    }
}

#[test]
fn retagged_templates_name_another_source() {
    let r = run();
    let mut t = synthetic_uevent_template(&r, 1, &plain_body(), 300);
    t.set_source(999);
    assert_eq!(
        decode(
            Protocol::KobjectUevent,
            t.render(3, 300).bytes(),
            &r,
            &r.uuid()
        ),
        Tag::Ours {
            source: 999,
            seq: 3
        }
    );
    let mut u = usersock_template(&r, 1, 64);
    u.set_source(7);
    assert_eq!(
        decode(Protocol::Usersock, u.render(3, 64).bytes(), &r, &r.uuid()),
        Tag::Ours { source: 7, seq: 3 }
    );
}

#[test]
fn the_usb_profile_is_the_bundled_trace_made_alphanumeric() {
    let events = profile_events(ContentsProfile::UsbHotplug);
    assert_eq!(events.len(), 12);
    assert_eq!(events[0].action, "add");
    assert!(events[0]
        .keys
        .contains(&("PRODUCT".to_string(), "46dxc52bx1211".to_string())));
    assert!(events[0]
        .keys
        .contains(&("DEVNAME".to_string(), "busxusbx001x005".to_string())));
    assert!(events
        .iter()
        .all(|e| e.keys.iter().all(|(k, v)| !k.is_empty()
            && !v.is_empty()
            && (k.to_owned() + v)
                .chars()
                .all(|c| c.is_ascii_alphanumeric()))));
}

#[test]
fn a_replayed_event_is_the_recording_then_the_run_keys() {
    let r = run();
    let trace = crate::trace::parse(
        "KERNEL[1.000000] add /devices/virtual/net/v0 (net)\nACTION=add\nDEVPATH=/devices/virtual/net/v0\nSUBSYSTEM=net\nNAME=a b=c\nSEQNUM=77\n",
        "t",
    )
    .unwrap();
    let e = &trace.events[0];
    let mut t = replay_template(&r, 4, e);
    assert_eq!(t.min_len(), e.wire().len() + REPLAY_KEYS_LEN);
    let m = t.render(12, 0);
    let bytes = m.bytes();
    assert!(bytes.starts_with(&e.wire()));
    assert_eq!(*bytes.last().unwrap(), 0);
    assert_eq!(
        decode(Protocol::KobjectUevent, bytes, &r, &r.uuid()),
        Tag::Ours { source: 4, seq: 12 }
    );
}

#[test]
fn decimal_helpers() {
    let mut b = [0u8; 5];
    put_decimal(&mut b, 42);
    assert_eq!(&b, b"00042");
    assert_eq!(parse_decimal(b"00042"), Some(42));
    assert_eq!(parse_decimal(b"4x"), None);
    assert_eq!(parse_decimal(b""), None);
}

#[test]
fn the_smallest_synthetic_uevent_is_the_plans_minimum() {
    let r = RunId([7; 16]);
    let t = synthetic_uevent_template(&r, 0, &plain_body(), 0);
    assert_eq!(t.min_len(), crate::plan::SYNTHETIC_UEVENT_MIN);
}

/// The plan derives the kernel-uevent limits from this write's shape.
#[test]
fn plain_sysfs_write_is_the_plans_smallest() {
    use crate::plan::limits::{
        KERNEL_UEVENT_ACTION, KERNEL_UEVENT_WRITE_ARGS, KERNEL_UEVENT_WRITE_MIN,
    };
    let r = run();
    let mut t = sysfs_write_template(&r, 0, &plain_body(), 0);
    assert_eq!(t.min_len() as u64, KERNEL_UEVENT_WRITE_MIN);
    let m = t.render(5, t.min_len());
    let text = std::str::from_utf8(m.bytes()).unwrap();
    let words: Vec<&str> = text.split(' ').collect();
    assert_eq!(words[0], KERNEL_UEVENT_ACTION);
    assert_eq!(words[1], r.uuid());
    assert_eq!(words.len() as u64 - 2, KERNEL_UEVENT_WRITE_ARGS, "{text}");
}

/// A read buffer shorter than a uevent cuts it: a cut field is never believed (the
/// digits read of `NLSTORMSEQ` are not the sequence), and what is left still tells a
/// message of this run from anyone's.
#[test]
fn a_cut_uevent_is_this_runs_without_a_number() {
    let r = run();
    let wire = format!(
        "change@/devices/virtual/net/nls2\0ACTION=change\0DEVPATH=/devices/virtual/net/nls2\0SUBSYSTEM=net\0SYNTH_UUID={}\0SYNTH_ARG_NLSTORMSRC=002\0SYNTH_ARG_NLSTORMSEQ=00000000000000000012\0SYNTH_ARG_NLSTORMPAD=ppp\0INTERFACE=nls2\0IFINDEX=3\0SEQNUM=1234\0",
        r.uuid()
    );
    let at = |key: &str| wire.find(key).unwrap();
    let cut = |n: usize, truncated: bool| {
        decode_read(
            Protocol::KobjectUevent,
            &wire.as_bytes()[..n],
            truncated,
            &r,
            &r.uuid(),
            &Claims::default(),
        )
    };
    // Mid-sequence: `...NLSTORMSEQ=0000000000000000001` is not sequence 1.
    let mid_seq = at("SYNTH_ARG_NLSTORMSEQ=") + 40;
    assert_eq!(cut(mid_seq, true), Tag::Unnumbered { source: Some(2) });
    assert_eq!(
        cut(mid_seq, false),
        Tag::Foreign,
        "only a cut read is excused"
    );
    // Mid-uuid: the header names the veth of emitter 2.
    assert_eq!(
        cut(at("SYNTH_UUID=") + 20, true),
        Tag::Unnumbered { source: Some(2) }
    );
    // Inside the header itself: nothing whole to go by.
    assert_eq!(cut(20, true), Tag::Foreign);
    // Whole, it is numbered.
    assert_eq!(cut(wire.len(), false), Tag::Ours { source: 2, seq: 12 });
    // Another run's uevent through the same device, cut after its uuid: not ours.
    let other = RunId::random();
    assert_eq!(
        decode_read(
            Protocol::KobjectUevent,
            &wire.as_bytes()[..mid_seq],
            true,
            &other,
            &other.uuid(),
            &Claims::default()
        ),
        Tag::Foreign
    );
    // A host device's uevent, cut: not ours.
    let host = b"add@/devices/pci0000:00/usb1\0ACTION=add\0SUBSYS";
    assert_eq!(
        decode_read(
            Protocol::KobjectUevent,
            host,
            true,
            &r,
            &r.uuid(),
            &Claims::default()
        ),
        Tag::Foreign
    );
    // A synthetic uevent cut in its uuid: ours, from an emitter the cut hid.
    let mut t = synthetic_uevent_template(&r, 1, &plain_body(), 600);
    let m = t.render(5, 600);
    assert_eq!(
        decode_read(
            Protocol::KobjectUevent,
            &m.bytes()[..90],
            true,
            &r,
            &r.uuid(),
            &Claims::default()
        ),
        Tag::Unnumbered { source: None }
    );
}

/// A bare emitter's messages are claimed by origin, and only for a receiver that a bare
/// emitter feeds.
#[test]
fn bare_messages_are_claimed_by_origin() {
    let r = run();
    let uevent = b"change@/devices/virtual/net/nls1\0ACTION=change\0DEVPATH=/devices/virtual/net/nls1\0SUBSYSTEM=net\0SYNTH_UUID=0\0INTERFACE=nls1\0IFINDEX=4\0SEQNUM=77\0";
    let claims = Claims {
        bare_uevents: vec![1],
        bare_usersock: vec![],
    };
    let read = |buf: &[u8], c: &Claims, p| decode_read(p, buf, false, &r, &r.uuid(), c);
    assert_eq!(
        read(uevent, &claims, Protocol::KobjectUevent),
        Tag::Unnumbered { source: Some(1) }
    );
    assert_eq!(
        read(uevent, &Claims::default(), Protocol::KobjectUevent),
        Tag::Foreign,
        "no bare emitter: the kernel's own uevent of that veth is not the run's"
    );
    let other = Claims {
        bare_uevents: vec![0],
        bare_usersock: vec![],
    };
    assert_eq!(read(uevent, &other, Protocol::KobjectUevent), Tag::Foreign);
    let one = Claims {
        bare_uevents: vec![],
        bare_usersock: vec![3],
    };
    assert_eq!(
        read(&[0], &one, Protocol::Usersock),
        Tag::Unnumbered { source: Some(3) }
    );
    let two = Claims {
        bare_uevents: vec![],
        bare_usersock: vec![3, 4],
    };
    assert_eq!(
        read(&[0; 40], &two, Protocol::Usersock),
        Tag::Unnumbered { source: None }
    );
    // A tagged message still decodes as itself beside bare ones.
    let mut t = usersock_template(&r, 2, 64);
    let m = t.render(9, 64);
    assert_eq!(
        read(m.bytes(), &two, Protocol::Usersock),
        Tag::Ours { source: 2, seq: 9 }
    );
}
