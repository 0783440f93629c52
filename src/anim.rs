//! Easing curves, keyframe tracks and enter/exit presets: pure functions of a frame index.

/// An easing curve, mapping linear progress 0..=1 to eased progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Easing {
    /// No easing.
    Linear,
    /// Cubic ease-in.
    EaseIn,
    /// Cubic ease-out.
    EaseOut,
    /// Cubic ease-in-out.
    EaseInOut,
    /// A critically-damped-ish spring that overshoots slightly, settling at 1.
    Spring,
    /// CSS `cubic-bezier(x1, y1, x2, y2)`.
    CubicBezier(f32, f32, f32, f32),
}

impl Easing {
    /// Parses a contract easing name; `None` when it is not one.
    pub fn parse(s: &str) -> Option<Easing> {
        Some(match s {
            "linear" => Easing::Linear,
            "easeIn" => Easing::EaseIn,
            "easeOut" => Easing::EaseOut,
            "easeInOut" => Easing::EaseInOut,
            "spring" => Easing::Spring,
            _ => {
                let inner = s.strip_prefix("cubicBezier(")?.strip_suffix(')')?;
                let v: Vec<f32> = inner.split(',').map(|p| p.trim().parse::<f32>()).collect::<Result<_, _>>().ok()?;
                if v.len() != 4
                    || v.iter().any(|x| !x.is_finite())
                    || !(0.0..=1.0).contains(&v[0])
                    || !(0.0..=1.0).contains(&v[2])
                {
                    return None;
                }
                Easing::CubicBezier(v[0], v[1], v[2], v[3])
            }
        })
    }

    /// Eased progress for linear progress `t` (clamped to 0..=1).
    pub fn apply(self, t: f32) -> f32 {
        let t = t.clamp(0.0, 1.0);
        match self {
            Easing::Linear => t,
            Easing::EaseIn => t * t * t,
            Easing::EaseOut => 1.0 - (1.0 - t).powi(3),
            Easing::EaseInOut => {
                if t < 0.5 {
                    4.0 * t * t * t
                } else {
                    1.0 - (-2.0 * t + 2.0).powi(3) / 2.0
                }
            }
            Easing::Spring => {
                if t >= 1.0 {
                    1.0
                } else {
                    // Damped oscillation: settles within the duration, ~6% overshoot.
                    1.0 - (-6.0 * t).exp() * (t * 9.0).cos() * (1.0 - t)
                }
            }
            Easing::CubicBezier(x1, y1, x2, y2) => bezier(x1, y1, x2, y2, t),
        }
    }
}

fn bezier(x1: f32, y1: f32, x2: f32, y2: f32, x: f32) -> f32 {
    let curve = |a: f32, b: f32, s: f32| {
        let u = 1.0 - s;
        3.0 * u * u * s * a + 3.0 * u * s * s * b + s * s * s
    };
    // x(s) is monotonic for x1, x2 in 0..=1: bisection is exact enough in 24 steps.
    let (mut lo, mut hi) = (0.0f32, 1.0f32);
    for _ in 0..24 {
        let mid = (lo + hi) / 2.0;
        if curve(x1, x2, mid) < x {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    curve(y1, y2, (lo + hi) / 2.0)
}

/// One keyframe of a resolved track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    /// Frame relative to the layer's start.
    pub frame: u64,
    /// Value (pixels for positions).
    pub value: f32,
    /// Easing towards the next key.
    pub easing: Easing,
}

/// A keyframed property; frames strictly increasing (the plan checks it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Track(pub Vec<Key>);

impl Track {
    /// The value at local frame `t`, or `None` for an empty track. Before the first key the
    /// first value holds, after the last the last.
    pub fn value(&self, t: u64) -> Option<f32> {
        let keys = &self.0;
        let first = keys.first()?;
        if t <= first.frame {
            return Some(first.value);
        }
        for w in keys.windows(2) {
            let (a, b) = (w[0], w[1]);
            if t < b.frame {
                let p = (t - a.frame) as f32 / (b.frame - a.frame) as f32;
                return Some(a.value + (b.value - a.value) * a.easing.apply(p));
            }
        }
        keys.last().map(|k| k.value)
    }
}

/// An enter or exit preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Nothing.
    None,
    /// Opacity.
    Fade,
    /// Rise from below while fading.
    SlideUp,
    /// Come down from above while fading.
    SlideDown,
    /// Move in leftwards (from the right) while fading.
    SlideLeft,
    /// Move in rightwards (from the left) while fading.
    SlideRight,
    /// Grow from 60 % while fading.
    ScaleIn,
    /// Grow from 50 % with an overshoot.
    Pop,
    /// Reveal characters one by one (text).
    Typewriter,
    /// Reveal words one by one (text).
    WordByWord,
}

impl Preset {
    /// Every preset name, in contract order.
    pub const NAMES: &'static [(&'static str, Preset)] = &[
        ("none", Preset::None),
        ("fade", Preset::Fade),
        ("slideUp", Preset::SlideUp),
        ("slideDown", Preset::SlideDown),
        ("slideLeft", Preset::SlideLeft),
        ("slideRight", Preset::SlideRight),
        ("scaleIn", Preset::ScaleIn),
        ("pop", Preset::Pop),
        ("typewriter", Preset::Typewriter),
        ("wordByWord", Preset::WordByWord),
    ];
}

/// A resolved enter or exit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    /// What moves.
    pub preset: Preset,
    /// Frames it takes (at least 1).
    pub frames: u64,
    /// Curve.
    pub easing: Easing,
}

/// What a preset does to a layer at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    /// Multiplies opacity.
    pub opacity: f32,
    /// Adds to position, in canvas pixels.
    pub dx: f32,
    /// Adds to position, in canvas pixels.
    pub dy: f32,
    /// Multiplies scale.
    pub scale: f32,
    /// Fraction of the text revealed (typewriter, wordByWord), 1 otherwise.
    pub reveal: f32,
}

impl Effect {
    /// No effect.
    pub const IDENTITY: Effect = Effect { opacity: 1.0, dx: 0.0, dy: 0.0, scale: 1.0, reveal: 1.0 };

    /// Combines two effects (enter and exit).
    pub fn then(self, o: Effect) -> Effect {
        Effect {
            opacity: self.opacity * o.opacity,
            dx: self.dx + o.dx,
            dy: self.dy + o.dy,
            scale: self.scale * o.scale,
            reveal: self.reveal.min(o.reveal),
        }
    }
}

impl Motion {
    /// The effect at linear progress `p` (0 = hidden end, 1 = at rest); `dist` is the slide
    /// distance in canvas pixels.
    pub fn effect(&self, p: f32, dist: f32) -> Effect {
        let e = self.easing.apply(p);
        let mut fx = Effect::IDENTITY;
        match self.preset {
            Preset::None => {}
            Preset::Fade => fx.opacity = e,
            Preset::SlideUp => (fx.opacity, fx.dy) = (e, (1.0 - e) * dist),
            Preset::SlideDown => (fx.opacity, fx.dy) = (e, -(1.0 - e) * dist),
            Preset::SlideLeft => (fx.opacity, fx.dx) = (e, (1.0 - e) * dist),
            Preset::SlideRight => (fx.opacity, fx.dx) = (e, -(1.0 - e) * dist),
            Preset::ScaleIn => (fx.opacity, fx.scale) = (e, 0.6 + 0.4 * e),
            Preset::Pop => {
                // easeOutBack on top of the chosen easing: overshoots to ~110 % then settles.
                let c = 1.70158f32;
                let back = 1.0 + (c + 1.0) * (e - 1.0).powi(3) + c * (e - 1.0).powi(2);
                fx.scale = 0.5 + 0.5 * back;
                fx.opacity = (p * 3.0).min(1.0);
            }
            Preset::Typewriter | Preset::WordByWord => fx.reveal = e,
        }
        fx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easings_hit_their_ends() {
        for e in ["linear", "easeIn", "easeOut", "easeInOut", "spring", "cubicBezier(0.4,0,0.2,1)"] {
            let e = Easing::parse(e).unwrap();
            assert!(e.apply(0.0).abs() < 1e-3, "{e:?}");
            assert!((e.apply(1.0) - 1.0).abs() < 1e-3, "{e:?}");
        }
        assert!((Easing::EaseInOut.apply(0.5) - 0.5).abs() < 1e-6);
        assert!(Easing::parse("cubicBezier(2,0,0,1)").is_none());
        assert!(Easing::parse("bouncy").is_none());
    }

    #[test]
    fn tracks_interpolate_and_hold() {
        let k = |frame, value| Key { frame, value, easing: Easing::Linear };
        let t = Track(vec![k(10, 0.0), k(20, 100.0)]);
        assert_eq!(t.value(0), Some(0.0));
        assert_eq!(t.value(15), Some(50.0));
        assert_eq!(t.value(99), Some(100.0));
    }
}
