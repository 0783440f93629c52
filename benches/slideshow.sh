#!/usr/bin/env bash
# Memory of a video of many photos: a 60 s 1080p30 slideshow of 60 distinct photos (W1's
# six, copied under 60 names, so each is its own image), one a second with Ken Burns, cut
# from one to the next; and the same slideshow of W1's six photos, ten times each. A render
# holds the photos around the current frame only, so both should peak alike. Prints wall,
# user and system seconds and peak RSS (KB) of each (main output only). Needs W1's media
# (`cargo bench --bench workload -- w1` makes them) and python3.
#
#   cargo build --release -p reel-cli && benches/slideshow.sh [OUT_DIR]
# (REEL=path/to/reel measures another build.)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/slideshow}
mkdir -p "$out/assets"
R=${REEL:-target/release/reel}
A=target/workloads/w1
[ -f "$A/img1.jpg" ] || { echo "no W1 media in $A: run cargo bench --bench workload -- w1 first"; exit 1; }
for i in $(seq 0 59); do cp -f "$A/img$((i % 6 + 1)).jpg" "$out/assets/p$i.jpg"; done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for name, key in [("distinct", lambda i: f"p{i}.jpg"), ("six", lambda i: f"p{i % 6}.jpg")]:
    scenes = [{"id": f"s{i}", "durationFrames": 30, "transition": {"type": "cut"},
               "background": {"type": "image", "asset": key(i), "fit": "cover",
                              "kenBurns": {"from": {"scale": 1.0}, "to": {"scale": 1.15}}}}
              for i in range(60)]
    v = {"id": name, "fps": 30, "aspectRatio": "16:9", "totalDurationFrames": 1800,
         "style": {"colorPalette": {"background": "#000000", "text": "#FFFFFF"}}, "scenes": scenes}
    json.dump(v, open(f"{out}/{name}.json", "w"))
PY
T=(/usr/bin/time -f "%e s wall, %U s user, %S s system, %M KB")
for name in distinct six; do
  echo "$name: $({ "${T[@]}" $R render "$out/$name.json" --assets "$out/assets" -q --no-variants -o "$out/$name.mp4"; } 2>&1 | tail -1)"
done
