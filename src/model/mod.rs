//! serde types for the composition JSON (`shared/COMPOSITION.md`), and nothing else.
//!
//! The model is deliberately permissive: enumerations, colors and lengths are kept as the
//! strings or numbers the JSON held, so that [`crate::plan`] can check them all and report
//! every problem at once with its path. Only the JSON *type* of a field (a string where an
//! object is expected, say) is checked while parsing.

mod parse;

pub use parse::{
    from_path, from_path_merged, from_str, from_str_merged, read_text, text_from_bytes, Parsed, MAX_JSON_BYTES,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A length: pixels in the canvas (a number) or `"NN%"` of the canvas width or height.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Length {
    /// Pixels in the canvas.
    Px(f64),
    /// The raw string, validated by the plan (`"12.5%"`).
    Str(String),
}

/// A value that may be written as a string (a color) or as an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StrOr<T> {
    /// The short form: a color string.
    Str(String),
    /// The object form.
    Obj(T),
}

/// The composition: the object under `composition` in the service's envelope.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Composition {
    /// The JSON Schema this composition follows (for editors; not used by the renderer).
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Composition id (`comp_...` or a UUID).
    pub id: String,
    /// Free-form title.
    #[serde(default)]
    pub title: String,
    /// `"16:9"`, `"9:16"`, `"1:1"`, `"4:5"` or `"2:3"`.
    pub aspect_ratio: Option<String>,
    /// Canvas width in pixels.
    pub width: Option<i64>,
    /// Canvas height in pixels.
    pub height: Option<i64>,
    /// Frames per second (NTSC decimals map to exact rationals).
    pub fps: Option<f64>,
    /// The target length in frames.
    pub total_duration_frames: Option<i64>,
    /// The scenes, at least one.
    pub scenes: Vec<Scene>,
    /// Layers drawn over every scene and transition, under the captions (a logo, a
    /// watermark): timed on the whole video, `fromFrame` counting from its first frame.
    /// Text, images and shapes; not video.
    #[serde(default)]
    pub overlays: Vec<Layer>,
    /// Palette, typography and motion defaults.
    #[serde(default)]
    pub style: Style,
    /// Voiceover, music and extra tracks.
    pub audio: Option<Audio>,
    /// Burned-in captions.
    pub captions: Option<Captions>,
    /// Frame used for the posters.
    pub poster_frame: Option<i64>,
    /// `fit`, `pad` or `strict` (an extension; the API option wins when given).
    pub duration_policy: Option<String>,
}

/// One scene.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scene {
    /// Unique id.
    pub id: String,
    /// Length in frames.
    pub duration_frames: i64,
    /// Absolute start frame; default right after the previous scene minus the overlap.
    pub start_frame: Option<i64>,
    /// Color, gradient, image or video drawn full-frame under the layers.
    pub background: Option<StrOr<Background>>,
    /// Layers, later on top.
    #[serde(default)]
    pub layers: Vec<Layer>,
    /// How this scene enters from the previous one.
    pub transition: Option<Transition>,
}

/// The object form of a scene background.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Background {
    /// `color`, `gradient`, `image` or `video`.
    #[serde(rename = "type")]
    pub type_: String,
    /// For `color`: the color. For `image` and `video`: what shows where the picture does
    /// not cover the canvas (`contain`), by default the palette's `background`.
    pub color: Option<String>,
    /// `linear` or `radial`.
    pub kind: Option<String>,
    /// Two or more colors, evenly spaced.
    pub colors: Option<Vec<String>>,
    /// Direction of a linear gradient in degrees (0 = left to right, 90 = top to bottom).
    pub angle: Option<f64>,
    /// Storage key of the asset.
    #[serde(alias = "assetKey", alias = "src")]
    pub asset: Option<String>,
    /// `cover`, `contain`, `fill` or `none`.
    pub fit: Option<String>,
    /// Animated scale and focus point.
    pub ken_burns: Option<KenBurns>,
    /// Rounded corners in pixels.
    pub corner_radius: Option<Length>,
    /// Seconds skipped at the clip's start.
    pub trim_start: Option<f64>,
    /// Seconds in the clip where playback ends.
    pub trim_end: Option<f64>,
    /// Playback speed (1 = normal).
    pub playback_rate: Option<f64>,
    /// Loop a clip shorter than its layer (default true).
    #[serde(rename = "loop")]
    pub looped: Option<bool>,
    /// Clip audio volume 0..=1.
    pub volume: Option<f64>,
}

/// A gradient paint: `{"type": "gradient", "kind", "colors", "angle"}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Gradient {
    /// `gradient`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// `linear` or `radial`.
    pub kind: Option<String>,
    /// Two or more colors, evenly spaced.
    pub colors: Option<Vec<String>>,
    /// Direction of a linear gradient in degrees (0 = left to right, 90 = top to bottom).
    pub angle: Option<f64>,
}

/// `kenBurns`: scale and focus point animated over the layer's life.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KenBurns {
    /// Start.
    pub from: Option<KenBurnsPoint>,
    /// End.
    pub to: Option<KenBurnsPoint>,
    /// Easing name.
    pub easing: Option<String>,
}

/// One end of a Ken Burns move.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct KenBurnsPoint {
    /// Zoom (1 = the fitted size).
    pub scale: Option<f64>,
    /// Focus x, 0..=1 in the image.
    pub x: Option<f64>,
    /// Focus y, 0..=1 in the image.
    pub y: Option<f64>,
}

/// A scene transition.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// `cut`, `fade`, `dipToBlack`, `dipToWhite`, `slide`, `push`, `wipe`, `zoom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Overlap in frames.
    pub duration_frames: Option<i64>,
    /// `left`, `right`, `up`, `down`.
    pub direction: Option<String>,
    /// Easing of the transition's progress (default from the motion language, else
    /// `easeInOut`).
    pub easing: Option<String>,
}

/// A layer. One flat struct for every type, so that a type error names the field's full path.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    /// `text`, `image`, `video` or `shape`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Optional id.
    pub id: Option<String>,
    /// Start relative to the scene's start.
    pub from_frame: Option<i64>,
    /// Length; default the rest of the scene.
    pub duration_frames: Option<i64>,
    /// Anchor x.
    pub x: Option<Length>,
    /// Anchor y.
    pub y: Option<Length>,
    /// Box width.
    pub width: Option<Length>,
    /// Box height.
    pub height: Option<Length>,
    /// Anchor point name.
    pub anchor: Option<String>,
    /// 0..=1.
    pub opacity: Option<f64>,
    /// Degrees clockwise.
    pub rotation: Option<f64>,
    /// Uniform scale.
    pub scale: Option<f64>,
    /// Enter animation.
    pub enter: Option<Motion>,
    /// Exit animation.
    pub exit: Option<Motion>,
    /// Animated properties.
    pub keyframes: Option<Keyframes>,

    // text
    /// The text (`\n` breaks lines).
    pub text: Option<String>,
    /// `headline`, `subheadline`, `body`, `caption`, `cta`.
    pub role: Option<String>,
    /// Family name.
    pub font: Option<String>,
    /// 100..=900.
    pub font_weight: Option<f64>,
    /// Size (Length; % of the canvas height).
    pub font_size: Option<Length>,
    /// Text color.
    pub color: Option<String>,
    /// `left`, `center`, `right`.
    pub align: Option<String>,
    /// Multiple of the size.
    pub line_height: Option<f64>,
    /// Pixels between letters.
    pub letter_spacing: Option<f64>,
    /// Wrap width.
    pub max_width: Option<Length>,
    /// Line limit.
    pub max_lines: Option<i64>,
    /// Shrink to fit.
    pub auto_fit: Option<bool>,
    /// Upper-case the text.
    pub uppercase: Option<bool>,
    /// Outline (text) or border (shape).
    pub stroke: Option<Stroke>,
    /// Drop shadow.
    pub shadow: Option<Shadow>,
    /// Plate behind the text.
    #[serde(rename = "box")]
    pub plate: Option<Plate>,

    // image and video
    /// Storage key of the asset.
    #[serde(alias = "assetKey", alias = "src")]
    pub asset: Option<String>,
    /// `cover`, `contain`, `fill` or `none`.
    pub fit: Option<String>,
    /// Animated scale and focus point.
    pub ken_burns: Option<KenBurns>,
    /// Rounded corners in pixels.
    pub corner_radius: Option<Length>,
    /// Seconds skipped at the clip's start.
    pub trim_start: Option<f64>,
    /// Seconds in the clip where playback ends.
    pub trim_end: Option<f64>,
    /// Playback speed (1 = normal).
    pub playback_rate: Option<f64>,
    /// Loop a clip shorter than its layer (default true).
    #[serde(rename = "loop")]
    pub looped: Option<bool>,
    /// Clip audio volume 0..=1.
    pub volume: Option<f64>,

    // shape
    /// `rect`, `ellipse`, `line`.
    pub shape: Option<String>,
    /// Color or gradient.
    pub fill: Option<StrOr<Gradient>>,
    /// A line's first end, x (a Length on the width), with `y1`, `x2`, `y2`.
    pub x1: Option<Length>,
    /// A line's first end, y.
    pub y1: Option<Length>,
    /// A line's second end, x.
    pub x2: Option<Length>,
    /// A line's second end, y.
    pub y2: Option<Length>,
}

/// An enter or exit animation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Motion {
    /// Preset name.
    pub preset: String,
    /// Length in frames.
    pub duration_frames: Option<i64>,
    /// Easing name.
    pub easing: Option<String>,
}

/// Keyframed properties.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Keyframes {
    /// 0..=1.
    pub opacity: Option<Vec<Keyframe>>,
    /// Anchor x.
    pub x: Option<Vec<Keyframe>>,
    /// Anchor y.
    pub y: Option<Vec<Keyframe>>,
    /// Scale.
    pub scale: Option<Vec<Keyframe>>,
    /// Degrees.
    pub rotation: Option<Vec<Keyframe>>,
}

/// One keyframe.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Keyframe {
    /// Frame relative to the layer's start.
    pub frame: i64,
    /// Value (a Length for `x` and `y`).
    pub value: Length,
    /// Easing from this keyframe to the next.
    pub easing: Option<String>,
}

/// Text outline or shape border.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Stroke {
    /// Color.
    pub color: Option<String>,
    /// Width in pixels.
    pub width: Option<Length>,
}

/// Drop shadow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Shadow {
    /// Color.
    pub color: Option<String>,
    /// Offset x in pixels.
    pub offset_x: Option<f64>,
    /// Offset y in pixels.
    pub offset_y: Option<f64>,
    /// Blur radius in pixels.
    pub blur: Option<f64>,
}

/// A plate behind text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plate {
    /// Color.
    pub color: Option<String>,
    /// Padding in pixels.
    pub padding: Option<Length>,
    /// Corner radius in pixels.
    pub corner_radius: Option<Length>,
}

/// `style`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Style {
    /// name -> Color.
    #[serde(default)]
    pub color_palette: BTreeMap<String, String>,
    /// Fonts and sizes.
    #[serde(default)]
    pub typography: Typography,
    /// `cinematic`, `energetic`, `minimal`, `playful`.
    pub motion_language: Option<String>,
    /// Descriptive only.
    pub visual_medium: Option<String>,
}

/// `style.typography`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Typography {
    /// Family for headlines.
    pub heading_font: Option<String>,
    /// Family for body text.
    pub body_font: Option<String>,
    /// Weight for headlines.
    pub heading_weight: Option<f64>,
    /// Weight for body text.
    pub body_weight: Option<f64>,
    /// Multiplies role sizes.
    pub scale: Option<f64>,
    /// Font files the composition brings (TTF, OTF, TTC), fetched like its other assets;
    /// text names them by family.
    #[serde(default)]
    pub fonts: Vec<FontFile>,
}

/// One font file of `style.typography.fonts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FontFile {
    /// Storage key of the file.
    #[serde(alias = "assetKey", alias = "src")]
    pub asset: String,
    /// The family text names it by; by default the family the file itself declares.
    pub family: Option<String>,
}

/// `audio`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Audio {
    /// The voice.
    pub voiceover: Option<Voiceover>,
    /// The music bed.
    pub music: Option<Music>,
    /// Extra sounds.
    #[serde(default)]
    pub tracks: Vec<AudioClip>,
}

/// One file placed on the timeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AudioClip {
    /// Storage key.
    #[serde(alias = "assetKey", alias = "src")]
    pub asset: Option<String>,
    /// Start frame.
    pub start_frame: Option<i64>,
    /// 0..=1 (more amplifies).
    pub volume: Option<f64>,
}

/// `audio.voiceover`: one file or segments.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Voiceover {
    /// Storage key (the single file form).
    #[serde(alias = "assetKey", alias = "src")]
    pub asset: Option<String>,
    /// Start frame.
    pub start_frame: Option<i64>,
    /// Volume.
    pub volume: Option<f64>,
    /// One file per scene.
    pub segments: Option<Vec<AudioClip>>,
}

/// `audio.music`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Music {
    /// Storage key.
    #[serde(alias = "assetKey", alias = "src")]
    pub asset: Option<String>,
    /// Start frame.
    pub start_frame: Option<i64>,
    /// Volume (default 1).
    pub volume: Option<f64>,
    /// Loop to the end (default true).
    #[serde(rename = "loop")]
    pub looped: Option<bool>,
    /// Seconds into the file where the music starts (a loop repeats the whole file).
    pub trim_start: Option<f64>,
    /// Fade in length.
    pub fade_in_frames: Option<i64>,
    /// Fade out length.
    pub fade_out_frames: Option<i64>,
    /// Ducking under the voice.
    pub duck: Option<Duck>,
}

/// `audio.music.duck`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Duck {
    /// Duck while the voice speaks.
    pub under_voiceover: Option<bool>,
    /// Gain change in dB (negative).
    pub amount_db: Option<f64>,
}

/// `captions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Captions {
    /// Word timings.
    pub words: Option<Vec<CaptionWord>>,
    /// An SRT or WebVTT file instead.
    #[serde(alias = "assetKey", alias = "src")]
    pub asset: Option<String>,
    /// Look.
    pub style: Option<CaptionStyle>,
}

/// One caption word.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptionWord {
    /// The word.
    pub text: String,
    /// First frame.
    pub start_frame: i64,
    /// Frame after the last.
    pub end_frame: i64,
}

/// `captions.style`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptionStyle {
    /// `bottom`, `top`, `center`.
    pub position: Option<String>,
    /// Words per line.
    pub max_words_per_line: Option<i64>,
    /// Size.
    pub font_size: Option<Length>,
    /// Text color.
    pub color: Option<String>,
    /// Spoken word color.
    pub highlight_color: Option<String>,
    /// Plate.
    #[serde(rename = "box")]
    pub plate: Option<Plate>,
    /// Font family (default: the typography's body font, else Inter).
    pub font: Option<String>,
    /// Font weight, 100..=900 (default 700).
    pub font_weight: Option<i64>,
    /// Show the words in capitals.
    pub uppercase: Option<bool>,
    /// Outline: `color` (default black), `width` (default a twelfth of the size).
    pub stroke: Option<Stroke>,
    /// Drop shadow: `color`, `offsetX`, `offsetY`, `blur`.
    pub shadow: Option<Shadow>,
    /// Where the box goes: `line` (one plate behind the line, the default), `word` (a
    /// plate behind each word) or `none`.
    pub box_mode: Option<String>,
    /// How the spoken word stands out: `color` (drawn in `highlightColor`, the default),
    /// `box` (a plate of `highlightColor` behind it), `pop` (drawn in `highlightColor` and
    /// scaled up by `highlightScale`) or `none`.
    pub highlight: Option<String>,
    /// The spoken word's scale with `highlight: "pop"`, 1..=2 (default 1.2).
    pub highlight_scale: Option<f64>,
    /// How each word comes on screen: `none` (the whole line at once, the default),
    /// `appear` (each word when it is spoken), `fade`, `pop` or `rise` (each word animates
    /// in when it is spoken).
    pub word_entrance: Option<String>,
    /// Length of a word's entrance in frames, 1..=60 (default 5).
    pub word_entrance_frames: Option<i64>,
    /// Where captions may go: a platform's safe area (`tiktok`, `reels`, `shorts`,
    /// `youtube`), `none`, or margins `{"top", "bottom", "left", "right"}`. Default: `tiktok`
    /// on a portrait canvas, `youtube` otherwise.
    pub safe_area: Option<StrOr<SafeArea>>,
}

/// Margins captions keep from the canvas's edges.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct SafeArea {
    /// Length from the top edge.
    pub top: Option<Length>,
    /// Length from the bottom edge.
    pub bottom: Option<Length>,
    /// Length from the left edge.
    pub left: Option<Length>,
    /// Length from the right edge.
    pub right: Option<Length>,
}

// ---- hand-written Deserialize for the two "either" shapes, so errors read well and the
// path reported by serde_path_to_error goes down into the object form.

impl<'de> Deserialize<'de> for Length {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Length;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Length (number or \"NN%\")")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Length, E> {
                Ok(Length::Px(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Length, E> {
                Ok(Length::Px(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Length, E> {
                Ok(Length::Px(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<Length, E> {
                Ok(Length::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for StrOr<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = StrOr<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a color string or an object")
            }
            fn visit_str<E>(self, v: &str) -> Result<StrOr<T>, E> {
                Ok(StrOr::Str(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<StrOr<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(StrOr::Obj)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

// ---- JSON Schema for the two "either" shapes, whose Deserialize is hand-written above.

impl JsonSchema for Length {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Length".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A length: a number is pixels in the canvas; a string \"NN%\" is a percentage of the canvas width (x, width, maxWidth, ...) or height (y, height, fontSize, ...).",
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": "^\\s*[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)\\s*%\\s*$"}
            ]
        })
    }
}

impl<T: JsonSchema> JsonSchema for StrOr<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("ColorOr{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A color string, or the object form.",
            "anyOf": [{"type": "string"}, generator.subschema_for::<T>()]
        })
    }
}

/// The JSON Schema (draft 2020-12) of a composition, generated from these types: doc
/// comments are its descriptions. Unknown fields are allowed (the renderer warns about
/// them), so a newer composition still validates.
///
/// ```
/// let schema = reel::json_schema();
/// assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
/// assert!(schema["properties"]["scenes"].is_object());
/// ```
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Composition).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), "reel composition".into());
    }
    schema
}
