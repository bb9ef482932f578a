//! The search drivers against the model-backed executor: bisection, sweeps and
//! shrinking are checked against answers known in advance from the fake's own rule
//! and truesizes, without privilege. Whether the kernel agrees is the integration
//! tests' business; these check that the drivers find what is there.

use std::time::Duration;

use crate::execute::model_backed::ModelBacked;
use crate::execute::Execute;
use crate::plan::{EmitterKind, RcvbufPlan};
use crate::search::case::{Fixed, GROUP};
use crate::search::threshold::{threshold, Find, ThresholdJob};

fn fixed(payload: u32, rcvbuf: RcvbufPlan) -> Fixed {
    Fixed {
        payload,
        rcvbuf,
        ..Fixed::unread(EmitterKind::Usersock { group: GROUP })
    }
}

#[test]
fn threshold_finds_the_largest_burst_the_fake_queue_holds() {
    let fake = ModelBacked::default();
    for (payload, request) in [(300u32, 1024u64), (100, 8192), (2000, 65536), (32, 0)] {
        let job = ThresholdJob {
            find: Find::Burst,
            fixed: fixed(
                payload,
                RcvbufPlan::Request {
                    bytes: request as i64,
                },
            ),
            trials: 1,
        };
        let r = threshold(&fake, &job).unwrap();
        let eff = fake
            .facts()
            .effective(crate::model::Request::Plain(request as i64));
        let want = fake
            .rule()
            .capacity(eff, ModelBacked::truesize(payload.into()));
        assert_eq!(
            r.measured,
            Some(want),
            "payload {payload} rcvbuf {request}: {r:?}"
        );
        assert_eq!(r.agrees, Some(true), "{r:?}");
        assert_eq!(
            r.kernel_release, "model-backed",
            "the facts come from the executor"
        );
    }
}

#[test]
fn threshold_finds_the_smallest_request_that_holds_a_burst() {
    let fake = ModelBacked::default();
    let (payload, burst) = (300u32, 36u64);
    let job = ThresholdJob {
        find: Find::Rcvbuf,
        fixed: Fixed {
            burst,
            ..fixed(payload, RcvbufPlan::Default)
        },
        trials: 1,
    };
    let r = threshold(&fake, &job).unwrap();
    let req = r.measured.expect("an answer");
    let holds = |req: u64| {
        let eff = fake
            .facts()
            .effective(crate::model::Request::Plain(req as i64));
        fake.rule()
            .capacity(eff, ModelBacked::truesize(payload.into()))
            >= burst
    };
    assert!(holds(req), "want: {req} holds {burst} / got: {r:?}");
    assert!(
        !holds(req - 1),
        "want: {} does not hold {burst} / got: {r:?}",
        req - 1
    );
}

#[test]
fn sweep_cells_agree_with_the_fake_model_everywhere() {
    use crate::search::axis::{parse_axis, Param};
    use crate::search::sweep::{run_cells, SweepSpec};
    let fake = ModelBacked::default();
    let spec = SweepSpec {
        axes: vec![
            parse_axis(Param::Rcvbuf, "0..64KiB:log:6").unwrap(),
            parse_axis(Param::Payload, "32..4KiB:log:4").unwrap(),
        ],
        fixed: Fixed::unread(EmitterKind::Usersock { group: GROUP }),
    };
    let mut cells = Vec::new();
    run_cells(&fake, &spec, &spec.cells(), |c| cells.push(c)).unwrap();
    assert_eq!(cells.len(), 24);
    for c in &cells {
        assert_eq!(c.model, crate::check::ModelVerdict::Agrees, "{c:?}");
        let ts = ModelBacked::truesize(c.values[1]);
        let eff = c.rcvbuf_effective;
        assert_eq!(c.capacity, Some(fake.rule().capacity(eff, ts)), "{c:?}");
        assert!(c.lost > 0, "an unread cell overflows: {c:?}");
    }
}

#[test]
fn explore_finds_a_loss_and_shrinks_it_to_one_receiver_losing_one_message() {
    use crate::search::explore::{explore, ExploreJob, Property, Space};
    let fake = ModelBacked::default();
    let job = ExploreJob {
        property: Property::NoLoss,
        space: Space {
            emitter: Some(EmitterKind::Usersock { group: GROUP }),
            reader: Some(false),
            schedule: Some("burst".into()),
            ..Space::default()
        },
        cases: 64,
        seed: 7,
        time: Duration::from_secs(60),
        replay: Vec::new(),
    };
    let r = explore(&fake, &job, &|_| {}).unwrap();
    let f = r
        .failure
        .expect("an unread burst loses somewhere in the space");
    assert_eq!(f.plan.receivers.len(), 1, "{:?}", f.plan);
    let [rec] = f.receivers.as_slice() else {
        panic!("one receiver: {:?}", f.receivers)
    };
    // Minimal: one message more than the queue holds is sent, so exactly one is lost.
    assert_eq!(rec.lost, 1, "{rec:?}");
    assert_eq!(rec.sent, rec.delivered + 1, "{rec:?}");
    assert_eq!(rec.predicted_capacity, Some(rec.delivered), "{rec:?}");
    assert!(
        matches!(
            f.plan.emitters[0].schedule,
            crate::plan::Schedule::Burst { .. }
        ),
        "{:?}",
        f.plan.emitters[0].schedule
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

    /// A merged sweep JSON is untrusted: whatever its kernel release and axis text say,
    /// the SVG holds it only as escaped text (no markup, no character XML forbids).
    #[test]
    fn svg_carries_untrusted_text_only_as_text(release in proptest::prelude::any::<String>(), spec in proptest::prelude::any::<String>()) {
        use crate::search::axis::{parse_axis, Param};
        use crate::search::axis::Shard;
        use crate::search::sweep::{run_cells, SweepReport, SweepSpec};
        let fake = ModelBacked::default();
        let mut axis = parse_axis(Param::Rcvbuf, "0..8KiB:log:3").unwrap();
        let s = SweepSpec { axes: vec![axis.clone()], fixed: Fixed::unread(EmitterKind::Usersock { group: GROUP }) };
        let mut cells = Vec::new();
        let mut env = run_cells(&fake, &s, &s.cells(), |c| cells.push(c)).unwrap();
        env.kernel_release = release.clone();
        axis.spec = spec.clone();
        let s = SweepSpec { axes: vec![axis], ..s };
        let svg = crate::search::svg::sweep_svg(&SweepReport::new(s, Shard::ALL, vec![env], cells));
        let clean = svg.replace(&crate::untrusted::xml(&release), "").replace(&crate::untrusted::xml(&spec), "");
        let tags = |t: &str| t.matches('<').count();
        // Removing the escaped texts leaves the same markup as with harmless texts.
        let harmless = {
            let mut axis = parse_axis(Param::Rcvbuf, "0..8KiB:log:3").unwrap();
            let s = SweepSpec { axes: vec![axis.clone()], fixed: Fixed::unread(EmitterKind::Usersock { group: GROUP }) };
            let mut cells = Vec::new();
            let mut env = run_cells(&fake, &s, &s.cells(), |c| cells.push(c)).unwrap();
            env.kernel_release = String::new();
            axis.spec = String::new();
            let s = SweepSpec { axes: vec![axis], ..s };
            crate::search::svg::sweep_svg(&SweepReport::new(s, Shard::ALL, vec![env], cells))
        };
        proptest::prop_assert_eq!(tags(&clean), tags(&harmless));
        proptest::prop_assert!(!svg.chars().any(|c| c.is_control() && c != '\n'));
    }
}
