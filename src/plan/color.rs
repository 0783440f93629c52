//! Color strings: `#RGB`, `#RRGGBB`, `#RRGGBBAA`, `rgb()`, `rgba()` (reel's own strict
//! parsing: components in range), CSS colour names, `hsl()`, `hsla()` and `hwb()`
//! (csscolorparser: CSS Color Level 4 is not our craft), and `@palette` names.

use std::collections::BTreeMap;
use tiny_skia::Color;

/// What a color string is allowed to be, for error messages.
pub const ALLOWED: &str = "\"#RGB\", \"#RRGGBB\", \"#RRGGBBAA\", \"rgb(r,g,b)\", \"rgba(r,g,b,a)\", \"hsl(h,s%,l%)\", a CSS colour name such as \"white\" or \"rebeccapurple\", \"transparent\" or \"@name\" from style.colorPalette";

/// Parses a color without palette references.
pub fn parse_literal(s: &str) -> Option<Color> {
    let s = s.trim();
    match s.to_ascii_lowercase().as_str() {
        "white" => return Some(Color::WHITE),
        "black" => return Some(Color::BLACK),
        "transparent" => return Some(Color::TRANSPARENT),
        _ => {}
    }
    if let Some(hex) = s.strip_prefix('#') {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let d = |i: usize, n: usize| u8::from_str_radix(&hex[i..i + n], 16).ok();
        return match hex.len() {
            3 => Some(Color::from_rgba8(d(0, 1)? * 17, d(1, 1)? * 17, d(2, 1)? * 17, 255)),
            6 => Some(Color::from_rgba8(d(0, 2)?, d(2, 2)?, d(4, 2)?, 255)),
            8 => Some(Color::from_rgba8(d(0, 2)?, d(2, 2)?, d(4, 2)?, d(6, 2)?)),
            _ => None,
        };
    }
    let lower = s.to_ascii_lowercase();
    let (inner, n) = if let Some(r) = lower.strip_prefix("rgba(") {
        (r.strip_suffix(')')?, 4)
    } else if let Some(r) = lower.strip_prefix("rgb(") {
        (r.strip_suffix(')')?, 3)
    } else {
        return css(&lower);
    };
    let parts: Vec<f32> = inner.split(',').map(|p| p.trim().parse::<f32>()).collect::<Result<_, _>>().ok()?;
    if parts.len() != n || parts.iter().any(|v| !v.is_finite()) {
        return None;
    }
    if parts[..3].iter().any(|v| !(0.0..=255.0).contains(v)) {
        return None;
    }
    let a = if n == 4 { parts[3] } else { 1.0 };
    if !(0.0..=1.0).contains(&a) {
        return None;
    }
    Color::from_rgba(parts[0] / 255.0, parts[1] / 255.0, parts[2] / 255.0, a)
}

/// CSS colour names and the functions other than `rgb()` (`hsl()`, `hsla()`, `hwb()`), as
/// CSS Color Level 4 reads them; `None` for anything else or a component that is not a
/// finite number. Relative colours (`from`) are refused: a colour names no other.
fn css(s: &str) -> Option<Color> {
    if s.contains("from") || s.contains("var(") {
        return None;
    }
    let c = csscolorparser::parse(s).ok()?;
    let [r, g, b, a] = c.to_array();
    if ![r, g, b, a].iter().all(|v| v.is_finite()) {
        return None;
    }
    Color::from_rgba(r.clamp(0.0, 1.0), g.clamp(0.0, 1.0), b.clamp(0.0, 1.0), a.clamp(0.0, 1.0))
}

/// Parses a color, resolving `@name` through the palette (whose values are literals).
pub fn parse(s: &str, palette: &BTreeMap<String, String>) -> Result<Color, String> {
    if let Some(name) = s.trim().strip_prefix('@') {
        return match palette.get(name) {
            Some(v) => parse_literal(v).ok_or_else(|| format!("palette color \"{name}\" is {v:?}, not a color")),
            None => {
                let known: Vec<_> = palette.keys().map(|k| format!("@{k}")).collect();
                Err(format!(
                    "found \"{s}\", but style.colorPalette has no \"{name}\" (it has: {})",
                    if known.is_empty() { "nothing".to_string() } else { known.join(", ") }
                ))
            }
        };
    }
    parse_literal(s).ok_or_else(|| format!("expected a Color ({ALLOWED}), found {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = BTreeMap::from([("primary".to_string(), "#ff0000".to_string())]);
        assert_eq!(parse("#fff", &p).unwrap(), Color::WHITE);
        assert_eq!(parse("@primary", &p).unwrap(), Color::from_rgba8(255, 0, 0, 255));
        assert_eq!(parse("rgba(0, 0, 0, 0.5)", &p).unwrap().alpha(), 0.5);
        assert_eq!(parse("#00000080", &p).unwrap().alpha(), 128.0 / 255.0);
        // CSS names and hsl(), as CSS reads them.
        assert_eq!(parse("rebeccapurple", &p).unwrap(), Color::from_rgba8(102, 51, 153, 255));
        assert_eq!(parse("Navy", &p).unwrap(), Color::from_rgba8(0, 0, 128, 255));
        assert_eq!(parse("hsl(120, 100%, 50%)", &p).unwrap(), Color::from_rgba8(0, 255, 0, 255));
        assert_eq!(parse("hsla(0, 100%, 50%, 0.5)", &p).unwrap().alpha(), 0.5);
        for bad in [
            "#ggg",
            "#12345",
            "rgb(300,0,0)",
            "blue-ish",
            "@nope",
            "rgba(1,2,3)",
            "hsl(nan, 1%, 1%)",
            "hsl(from red h s l)",
        ] {
            assert!(parse(bad, &p).is_err(), "{bad}");
        }
    }
}
