//! Timing: scene placement, transition overlaps, gaps, and the duration policies.

use crate::common::*;
use reel::{DurationPolicy, Plan, PlanOptions};

fn timings(json: &str, policy: Option<DurationPolicy>) -> reel::Result<Plan> {
    let dir = media_dir();
    let mut opts = PlanOptions::new(dir.path());
    opts.duration_policy = policy;
    Plan::build(&reel::parse(json)?, &opts)
}

fn starts(p: &Plan) -> Vec<(u64, u64)> {
    p.scene_timings().into_iter().map(|(_, s, l)| (s, l)).collect()
}

const THREE: &str = r#"{"id": "c", "width": 160, "height": 90, TOTAL "scenes": [
    {"id": "a", "durationFrames": 30},
    {"id": "b", "durationFrames": 30, "transition": {"type": "fade", "durationFrames": 10}},
    {"id": "c", "durationFrames": 30, "transition": {"type": "cut"}}]}"#;

#[test]
fn transitions_overlap_scenes() {
    let p = timings(&THREE.replace("TOTAL", ""), None).expect("plan");
    assert_eq!(starts(&p), [(0, 30), (20, 30), (50, 30)]);
    assert_eq!(p.frame_count(), 80);
    assert_eq!(p.poster_frame(), 15);
}

#[test]
fn fit_scales_to_the_target_keeping_transitions() {
    let p = timings(&THREE.replace("TOTAL", r#""totalDurationFrames": 160,"#), None).expect("plan");
    let s = starts(&p);
    let end = s.iter().map(|(a, b)| a + b).max().unwrap();
    assert_eq!(end, 160, "{s:?}");
    assert_eq!(s[1].0 + 10, s[0].1, "the fade keeps its 10 frames: {s:?}");
    assert_eq!(p.frame_count(), 160);
    assert!(p.duration().action.contains("scaled"), "{:?}", p.duration());
    // Shorter than written, too.
    let p = timings(&THREE.replace("TOTAL", r#""totalDurationFrames": 41,"#), None).expect("plan");
    let end = starts(&p).iter().map(|(a, b)| a + b).max().unwrap();
    assert_eq!(end, 41);
}

#[test]
fn pad_holds_or_cuts_and_strict_refuses() {
    let p =
        timings(&THREE.replace("TOTAL", r#""totalDurationFrames": 100,"#), Some(DurationPolicy::Pad)).expect("plan");
    assert_eq!(starts(&p), [(0, 30), (20, 30), (50, 30)]);
    assert_eq!(p.frame_count(), 100);
    assert!(p.duration().action.contains("held the last frame for 20 frames"), "{:?}", p.duration());
    let p = timings(&THREE.replace("TOTAL", r#""totalDurationFrames": 70,"#), Some(DurationPolicy::Pad)).expect("plan");
    assert!(p.duration().action.contains("cut the last 10 frames"), "{:?}", p.duration());
    // Within one second (30 frames at 30 fps): strict pads.
    timings(&THREE.replace("TOTAL", r#""totalDurationFrames": 100,"#), Some(DurationPolicy::Strict))
        .expect("within 1 s");
    match timings(&THREE.replace("TOTAL", r#""totalDurationFrames": 200,"#), Some(DurationPolicy::Strict)) {
        Err(reel::Error::Invalid(p)) => {
            let m = &p.0[0].message;
            assert!(m.contains("frame 80 (2.667 s)") && m.contains("200 frames (6.667 s)"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn start_frames_leave_gaps_that_show_the_background() {
    let dir = media_dir();
    let json = r##"{"id": "c", "width": 160, "height": 90, "style": {"colorPalette": {"background": "#102030"}},
        "scenes": [{"id": "a", "durationFrames": 10, "background": "#ff0000"},
                   {"id": "b", "startFrame": 20, "durationFrames": 10, "background": "#00ff00"}]}"##;
    let p = plan(json, dir.path()).expect("plan");
    assert_eq!(p.frame_count(), 30);
    let px = |f| reel::render_still(&p, f).get_pixel(80, 45).0;
    assert_eq!(px(9), [255, 0, 0, 255]);
    assert_eq!(px(10), [0x10, 0x20, 0x30, 255], "the gap shows @background");
    assert_eq!(px(19), [0x10, 0x20, 0x30, 255]);
    assert_eq!(px(20), [0, 255, 0, 255]);
}

#[test]
fn motion_language_supplies_default_transitions() {
    let p = timings(
        r#"{"id": "c", "style": {"motionLanguage": "minimal"}, "scenes": [{"id": "a", "durationFrames": 30}, {"id": "b", "durationFrames": 30}]}"#,
        None,
    )
    .expect("plan");
    assert_eq!(starts(&p), [(0, 30), (18, 30)], "minimal: 12-frame fades");
}
