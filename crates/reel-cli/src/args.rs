//! The command line: subcommands, their arguments and the values they accept.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Render, check and inspect video compositions (composition JSON in, H.264 MP4 out).
#[derive(Debug, Parser)]
#[command(name = "reel", version, about, long_about = None, propagate_version = true)]
#[command(after_help = "Exit codes: 0 success, 2 bad input, 1 any other failure, 130 cancelled.\n\
The composition format: docs/composition.md; its JSON Schema: `reel schema`.")]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether messages (warnings, errors) are written as JSON lines.
    pub fn json_messages(&self) -> bool {
        match &self.command {
            Command::Render(r) => r.out.progress == Some(ProgressMode::Json),
            Command::Stitch(r) => r.out.progress == Some(ProgressMode::Json),
            Command::Check(c) => c.format == Format::Json,
            _ => false,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a composition to NAME.mp4 and its variants (web copy, preview, posters).
    Render(RenderArgs),
    /// Render one frame, or a range of frames, to PNG.
    Still(StillArgs),
    /// Join segments rendered with `render --frames` into the outputs of the whole video
    /// (no re-encoding; the soundtrack and posters made once).
    Stitch(StitchArgs),
    /// Validate a composition and its assets without rendering (exit 0 or 2).
    Check(CheckArgs),
    /// Print the composition's JSON Schema (draft 2020-12).
    Schema(SchemaArgs),
    /// Write an asset's variants: posters for an image, web and preview copies for a video.
    Variants(VariantsArgs),
    /// Run the render service: the HTTP API, the queue and renders in child processes,
    /// with its state in DIR (docs/api.md).
    Serve(ServeArgs),
    /// Take renders from the queue of a `reel serve` whose data folder is shared on this
    /// machine (its database, assets and outputs), under leases.
    Worker(WorkerArgs),
    /// Manage the render service's API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// List the fonts compositions can use: the bundled ones and those `--fonts` adds.
    Fonts(FontsArgs),
}

/// Where the composition comes from and what it is planned with.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The composition JSON file, or `-` to read it from standard input.
    pub composition: PathBuf,
    /// Where asset keys are found: a folder, `https://BASE/` or `s3://BUCKET/PREFIX`
    /// [default: the composition's folder, or the current folder for `-`]. S3 credentials,
    /// region and endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
    /// and AWS_ENDPOINT_URL.
    #[arg(long, value_name = "DIR|URL")]
    pub assets: Option<String>,
    /// Asset keys may also be absolute https:// URLs.
    #[arg(long)]
    pub allow_remote: bool,
    /// Fetches may reach loopback and private addresses, over plain http:// too (tests, a
    /// bucket inside a private network). Link-local and metadata addresses stay refused.
    #[arg(long)]
    pub allow_private: bool,
    /// Seconds a remote fetch may wait to connect, or for the next byte, before the try
    /// fails (three retries follow).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub fetch_timeout: u64,
    /// The largest asset a remote fetch accepts, in bytes (checked from the headers, then
    /// while reading).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    pub max_asset_bytes: u64,
    /// Where fetched assets are kept between runs [default: $XDG_CACHE_HOME/reel/assets,
    /// else ~/.cache/reel/assets]; trimmed to 10 GiB, least recently used first.
    #[arg(long, value_name = "DIR")]
    pub asset_cache: Option<PathBuf>,
    /// A folder of extra fonts (TTF, OTF, TTC); may be given more than once.
    #[arg(long, value_name = "DIR")]
    pub fonts: Vec<PathBuf>,
    /// How the scenes' timeline is brought to totalDurationFrames [default: the
    /// composition's `durationPolicy`, else fit].
    #[arg(long, value_enum, value_name = "POLICY")]
    pub duration_policy: Option<Policy>,
    /// Values for the composition's `{{name}}` merge fields: a JSON object.
    #[arg(long, value_name = "FILE.json")]
    pub data: Option<PathBuf>,
    /// One merge field's value (wins over --data); may be given more than once.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_assignment)]
    pub set: Vec<(String, String)>,
}

/// The duration policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Policy {
    /// Scale the scenes so the timeline ends at the target.
    Fit,
    /// Hold the last frame, or cut the end.
    Pad,
    /// Refuse a timeline more than one second off the target.
    Strict,
}

impl From<Policy> for reel::DurationPolicy {
    fn from(p: Policy) -> Self {
        match p {
            Policy::Fit => reel::DurationPolicy::Fit,
            Policy::Pad => reel::DurationPolicy::Pad,
            Policy::Strict => reel::DurationPolicy::Strict,
        }
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// A progress bar on standard error.
    Bar,
    /// A line on standard error at most once a second.
    Plain,
    /// JSON lines on standard output: progress, warnings, the report, errors.
    Json,
    /// Nothing.
    None,
}

/// `reel render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The composition and how it is planned.
    #[command(flatten)]
    pub input: InputArgs,
    /// How it is rendered and shown.
    #[command(flatten)]
    pub out: OutputArgs,
    /// The main output, NAME.mp4 [default: the composition's name .mp4 in the current
    /// folder]; with --batch, the folder the videos go to [default: the current folder].
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Render one video per row of a CSV (with a header) or JSON Lines file, each row's
    /// fields filling the merge fields, in one process.
    #[arg(long, value_name = "ROWS.csv|ROWS.jsonl")]
    pub batch: Option<PathBuf>,
    /// The column that names each row's video (letters, digits, `.`, `_`, `-`).
    #[arg(long, value_name = "COLUMN", default_value = "name", requires = "batch")]
    pub name_column: String,
    /// Render only frames A..B (B excluded), as one segment of a chunked render: the MP4
    /// and its web and preview copies, video only; `reel stitch` joins the segments.
    #[arg(long, value_name = "A..B", value_parser = parse_range, conflicts_with = "batch")]
    pub frames: Option<FrameRange>,
}

/// `reel stitch`.
#[derive(Debug, Args)]
pub struct StitchArgs {
    /// The composition and how it is planned (as the segments were).
    #[command(flatten)]
    pub input: InputArgs,
    /// How it is written and shown.
    #[command(flatten)]
    pub out: OutputArgs,
    /// The main output, NAME.mp4.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    /// The segments' main outputs, in any order: each says which frames it holds.
    #[arg(required = true, value_name = "SEGMENT.mp4")]
    pub segments: Vec<PathBuf>,
}

/// Encoder settings, variants, progress and the report.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Raster threads [default: one per core].
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
    /// libx264 preset.
    #[arg(long, default_value = "veryfast", value_parser = [
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"])]
    pub preset: String,
    /// libx264 constant rate factor (0 is lossless, 51 the worst).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=51))]
    pub crf: u8,
    /// Normalize the mix to this loudness (EBU R128), e.g. -14.
    #[arg(long, value_name = "LUFS", allow_negative_numbers = true, value_parser = parse_loudness)]
    pub loudness: Option<f64>,
    /// The variants to write beside the MP4: a comma-separated list of web, preview, posters.
    #[arg(long, value_name = "LIST", value_parser = parse_variants, conflicts_with = "no_variants")]
    pub variants: Option<reel::Variants>,
    /// Write the MP4 alone.
    #[arg(long)]
    pub no_variants: bool,
    /// Write the render report (outputs, durations, warnings, stage times) as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// How progress is shown [default: auto].
    #[arg(long, value_enum, value_name = "MODE")]
    pub progress: Option<ProgressMode>,
    /// No progress, warnings or summary (errors are still printed).
    #[arg(short, long)]
    pub quiet: bool,
}

impl OutputArgs {
    /// The progress mode after `--quiet` and the terminal are taken into account.
    pub fn progress_mode(&self) -> ProgressMode {
        use std::io::IsTerminal;
        match (self.quiet, self.progress) {
            (true, _) => ProgressMode::None,
            (false, Some(ProgressMode::Auto) | None) => {
                if std::io::stderr().is_terminal() {
                    ProgressMode::Bar
                } else {
                    ProgressMode::Plain
                }
            }
            (false, Some(m)) => m,
        }
    }
}

/// `reel still`.
#[derive(Debug, Args)]
pub struct StillArgs {
    /// The composition and how it is planned.
    #[command(flatten)]
    pub input: InputArgs,
    /// The frame to render [default: the poster frame].
    #[arg(long, value_name = "N", conflicts_with = "frames")]
    pub frame: Option<u64>,
    /// A range of frames: `A..B` (B excluded), `A..=B` or `A..` (to the end).
    #[arg(long, value_name = "A..B", value_parser = parse_range)]
    pub frames: Option<FrameRange>,
    /// The PNG to write; for a range it must hold `{frame}`, replaced by the frame number
    /// [default: NAME.f{frame}.png].
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// No messages but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// A range of frames as written on the command line; the end is checked against the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRange {
    /// The first frame.
    pub start: u64,
    /// The frame after the last, or `None` for the end of the video.
    pub end: Option<u64>,
}

/// Output formats of `check` and `fonts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// JSON for programs.
    Json,
}

/// `reel check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The composition and how it is planned.
    #[command(flatten)]
    pub input: InputArgs,
    /// `text`: a line per problem; `json`: an array of {path, message, severity}.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// `reel schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write it to this file instead of standard output.
    #[arg(short, long, value_name = "FILE.json")]
    pub output: Option<PathBuf>,
}

/// `reel variants`.
#[derive(Debug, Args)]
pub struct VariantsArgs {
    /// Images (PNG, JPEG, WebP) and videos.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write the variants to this folder [default: beside each file].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// libx264 preset for the video copies.
    #[arg(long, default_value = "veryfast", value_parser = [
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"])]
    pub preset: String,
}

/// `reel fonts`.
#[derive(Debug, Args)]
pub struct FontsArgs {
    /// A folder of extra fonts to list with the bundled ones; may be given more than once.
    #[arg(long, value_name = "DIR")]
    pub fonts: Vec<PathBuf>,
    /// `text`: a line per family; `json`: every face.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

fn parse_assignment(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, found {s:?}"))?;
    if !reel::merge::is_field_name(name) {
        return Err(format!("a merge field's name is letters, digits, '_', '-' and '.'; found {name:?}"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

fn parse_loudness(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (-70.0..=0.0).contains(&v) => Ok(v),
        _ => Err(format!("expected LUFS in -70..=0, e.g. -14; found {s:?}")),
    }
}

fn parse_variants(s: &str) -> Result<reel::Variants, String> {
    reel::Variants::parse(s).ok_or_else(|| format!("expected a list of web, preview, posters; found {s:?}"))
}

fn parse_range(s: &str) -> Result<FrameRange, String> {
    let bad = || format!("expected A..B, A..=B or A.. with frame numbers; found {s:?}");
    let (a, rest) = s.split_once("..").ok_or_else(bad)?;
    let start: u64 = a.trim().parse().map_err(|_| bad())?;
    let end = if rest.is_empty() {
        None
    } else if let Some(b) = rest.strip_prefix('=') {
        Some(b.trim().parse::<u64>().map_err(|_| bad())?.checked_add(1).ok_or_else(bad)?)
    } else {
        Some(rest.trim().parse::<u64>().map_err(|_| bad())?)
    };
    if end.is_some_and(|e| e <= start) {
        return Err(format!("the range {s:?} holds no frame (its end must come after its start)"));
    }
    Ok(FrameRange { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("3..7"), Ok(FrameRange { start: 3, end: Some(7) }));
        assert_eq!(parse_range("3..=7"), Ok(FrameRange { start: 3, end: Some(8) }));
        assert_eq!(parse_range("3.."), Ok(FrameRange { start: 3, end: None }));
        for bad in ["7..3", "3..3", "x..4", "3", "..4", "-1..2", "1..=18446744073709551615"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

/// What `reel serve` and `reel worker` share: where the work is, the lease, the limits of
/// each render's child process, the log.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// The data folder: the database (SQLite), assets and outputs; shared by every service
    /// and worker of one deployment (one machine, or a shared mount).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The database: `postgres://USER:PASSWORD@HOST:PORT/DB` [default: SQLite in the data
    /// folder]. Every service and worker of one deployment names the same one.
    #[arg(long, value_name = "URL", env = "REEL_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Where assets, segments and outputs live: `s3://BUCKET/PREFIX` in an S3-compatible
    /// store (endpoint and credentials from `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`) [default: the data folder]. Every service and
    /// worker of one deployment names the same one; the data folder then holds only
    /// this machine's scratch space (and SQLite, without `--database`).
    #[arg(long, value_name = "URL", env = "REEL_STORAGE")]
    pub storage: Option<String>,
    /// Seconds a worker holds a render without renewing its lease (renewed every third of
    /// it while the render runs); a render whose worker fell silent is taken again.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_seconds: u64,
    /// Seconds running renders may go on after SIGTERM before they are requeued.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub grace: u64,
    /// A render's address space limit, bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 30)]
    pub render_memory: u64,
    /// A render's CPU time limit, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
    pub render_cpu: u64,
    /// The largest file a render may write, bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 30)]
    pub render_file_size: u64,
    /// Logs as JSON lines (else text), on standard error.
    #[arg(long)]
    pub log_json: bool,
}

/// `reel serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    /// The address to listen on (port 0: any free port; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The address written into download URLs [default: http://LISTEN].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Renders at once in this process (0: none; `reel worker` processes render).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=64))]
    pub workers: u64,
    /// Renders longer than N frames are split into chunks of about N frames, rendered by
    /// any workers and stitched without re-encoding (0: never split).
    #[arg(long, value_name = "N", default_value_t = 3600)]
    pub chunk_frames: u64,
    /// Requests per API key per rolling minute.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,
    /// The largest JSON request body, bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_body: usize,
    /// The largest asset upload, bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 2 << 30)]
    pub max_upload: u64,
    /// Webhooks may go to http:// and loopback or private addresses (local testing only).
    #[arg(long)]
    pub allow_insecure_webhooks: bool,
    /// Seconds before the first webhook retry (then twice as long).
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub webhook_backoff: u64,
}

/// `reel worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    /// The service's address, written into download URLs in events and webhooks.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// Renders at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
}

/// `reel keys`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make an API key and print it (once: only its hash is kept).
    Create {
        /// The service's data folder.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The service's database, as `serve --database` names it.
        #[arg(long, value_name = "URL", env = "REEL_DATABASE_URL", hide_env_values = true)]
        database: Option<String>,
        /// A name to know the key by.
        #[arg(long, default_value = "default")]
        name: String,
    },
}
