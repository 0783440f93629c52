//! Integer time: frame indices and a rational frame rate.
//!
//! Every timing in a plan is a whole number of frames; seconds appear only at the edges
//! (audio sample positions, clip timestamps), computed exactly from the rational rate so a
//! long video does not drift.

/// A frame rate as an exact fraction `num / den` frames per second.
///
/// ```
/// let ntsc = reel::Fps::from_f64(29.97).unwrap();
/// assert_eq!((ntsc.num, ntsc.den), (30000, 1001));
/// assert_eq!(ntsc.frames_for_seconds(60.0), 1798);
/// assert_eq!(reel::Fps::new(30, 0), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fps {
    /// Numerator (frames).
    pub num: u32,
    /// Denominator (seconds).
    pub den: u32,
}

impl Fps {
    /// Builds a rate; `None` when either part is zero.
    pub fn new(num: u32, den: u32) -> Option<Fps> {
        if num == 0 || den == 0 {
            return None;
        }
        let g = gcd(num, den);
        Some(Fps { num: num / g, den: den / g })
    }

    /// Maps a JSON number to a rate: the NTSC rates 23.976, 29.97 and 59.94 become
    /// 24000/1001, 30000/1001 and 60000/1001; other values are taken to 1/1000 precision.
    pub fn from_f64(v: f64) -> Option<Fps> {
        if !v.is_finite() || v <= 0.0 {
            return None;
        }
        for (ntsc, num) in [(23.976, 24000), (29.97, 30000), (59.94, 60000), (119.88, 120000)] {
            if (v - ntsc).abs() < 0.0015 {
                return Fps::new(num, 1001);
            }
        }
        let milli = (v * 1000.0).round();
        if milli < 1.0 || milli > u32::MAX as f64 {
            return None;
        }
        Fps::new(milli as u32, 1000)
    }

    /// Frames per second as a float (for display and interpolation only).
    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Seconds at the start of frame `frame`, as a float (display only).
    pub fn seconds(self, frame: u64) -> f64 {
        frame as f64 * self.den as f64 / self.num as f64
    }

    /// The number of whole frames closest to `seconds`.
    pub fn frames_for_seconds(self, seconds: f64) -> u64 {
        (seconds * self.num as f64 / self.den as f64).round().max(0.0) as u64
    }

    /// The sample index at which frame `frame` starts, at `rate` samples per second, exact
    /// (rounded down) in integer arithmetic.
    pub fn sample_at(self, frame: u64, rate: u32) -> u64 {
        ((frame as u128 * rate as u128 * self.den as u128) / self.num as u128) as u64
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntsc_rates_are_exact() {
        assert_eq!(Fps::from_f64(29.97), Fps::new(30000, 1001));
        assert_eq!(Fps::from_f64(23.976), Fps::new(24000, 1001));
        assert_eq!(Fps::from_f64(30.0), Fps::new(30, 1));
        assert_eq!(Fps::from_f64(0.0), None);
        // 10 minutes at 29.97: 17982 frames are exactly 600 s minus nothing drifting.
        let f = Fps::new(30000, 1001).unwrap();
        assert_eq!(f.sample_at(17982, 48000), 28_799_971);
    }
}
