#!/usr/bin/env bash
# The scale-out benchmark: a 10-minute 1080p30 W1-like render (W1's scenes twenty times
# over, a fade between repeats, the voiceover once per repeat, a 600 s music bed; 18,000
# frames, all five outputs) rendered whole by one worker, then as two chunks rendered at
# once (two workers on this machine: `reel render --frames`, what `reel worker` runs for a
# chunk) and stitched (`reel stitch`). Prints wall, user and system seconds and peak RSS
# (KB) of each step, the SSIM of the stitched video against the whole one, and the frame
# counts. Needs W1's media (`cargo bench --bench workload -- w1` makes them) and python3.
#
#   cargo build --release -p reel-cli && benches/chunked_10min.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/chunked_10min}
mkdir -p "$out"
R=target/release/reel
A=target/workloads/w1
J=$out/w1x20.json
[ -f "$A/music.mp3" ] || { echo "no W1 media in $A: run cargo bench --bench workload -- w1 first"; exit 1; }
[ -f "$A/music600.mp3" ] || ffmpeg -v error -y -stream_loop 19 -i "$A/music.mp3" -t 600 -c:a libmp3lame -b:a 128k "$A/music600.mp3"
python3 - "$J" <<'PY'
import json, sys
v = json.load(open("benches/workloads/w1.json"))
n, fade = 20, 20
scenes = []
for k in range(n):
    for i, s in enumerate(v["scenes"]):
        s = json.loads(json.dumps(s)); s["id"] = f"r{k}-{i}"
        if k > 0 and i == 0:
            s["transition"] = {"type": "fade", "durationFrames": fade}
        scenes.append(s)
total = 900 * n - fade * (n - 1)
scenes[-1]["durationFrames"] += 18000 - total
v["scenes"], v["totalDurationFrames"] = scenes, 18000
voice = v["audio"]["voiceover"]["asset"]
v["audio"]["voiceover"] = {"segments": [{"asset": voice, "startFrame": k * (total // n)} for k in range(n)]}
v["audio"]["music"]["asset"] = "music600.mp3"
json.dump(v, open(sys.argv[1], "w"))
PY
T=(/usr/bin/time -f "%e s wall, %U s user, %S s system, %M KB")
echo "whole, one worker: $({ "${T[@]}" $R render "$J" --assets $A -q -o "$out/whole.mp4"; } 2>&1 | tail -1)"
start=$(date +%s.%N)
"${T[@]}" -o "$out/p1.time" $R render "$J" --assets $A -q --frames 0..9000 -o "$out/p1.mp4" &
"${T[@]}" -o "$out/p2.time" $R render "$J" --assets $A -q --frames 9000..18000 -o "$out/p2.mp4" &
wait
echo "chunk 0..9000: $(tail -1 "$out/p1.time")"
echo "chunk 9000..18000: $(tail -1 "$out/p2.time")"
echo "stitch: $({ "${T[@]}" $R stitch "$J" --assets $A -q -o "$out/stitched.mp4" "$out/p1.mp4" "$out/p2.mp4"; } 2>&1 | tail -1)"
echo "two workers, chunks and stitch: $(echo "$(date +%s.%N) - $start" | bc) s wall"
ffmpeg -v info -nostats -i "$out/stitched.mp4" -i "$out/whole.mp4" -lavfi ssim -f null - 2>&1 | grep -o "All:[0-9.]*"
for f in whole stitched; do
  echo "$f: $(ffprobe -v error -count_packets -show_entries stream=codec_type,nb_read_packets,duration -of csv=p=0 "$out/$f.mp4" | tr '\n' ' ')"
done
