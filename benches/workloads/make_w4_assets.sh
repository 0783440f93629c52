#!/usr/bin/env bash
# Generates the W4 workload media (the typical generated ad, 9:16) into the folder given as
# $1 (default: ./w4-assets), no downloads, derived from W1's media (made first if missing):
#   six 1024x1792 portrait stills (crops of W1's photos), an 8 s 720x1280 24 fps H.264
#   clip (a crop of W1's clip), a 28 s espeak-ng voiceover (WAV, 48 kHz mono) and a 32 s
#   music bed (MP3, W1's bed cut).
# Needs what make_w1_assets.sh needs (Debian 12): imagemagick, ffmpeg, sox, espeak-ng.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
A="$(mkdir -p "${1:-w4-assets}" && cd "${1:-w4-assets}" && pwd)"
W1="${W1_ASSETS:-$(dirname "$A")/w1}"
IM="${IM:-/usr/bin/convert}"
[ -f "$W1/clip.mp4" ] || bash "$HERE/make_w1_assets.sh" "$W1"
T="$(mktemp -d /tmp/w4_assets.XXXXXX)"
trap 'rm -rf "$T"' EXIT

echo "[stills] six 1024x1792 crops of W1's photos"
for i in 1 2 3 4 5 6; do
  "$IM" "$W1/img$i.jpg" -gravity center -crop 914x1600+0+0 +repage -resize 1024x1792! -quality 88 "$A/img$i.jpg"
done

echo "[clip] 8 s 720x1280 24 fps H.264"
ffmpeg -hide_banner -loglevel error -y -i "$W1/clip.mp4" -t 8 \
  -vf "crop=608:1080:656:0,scale=720:1280,fps=24" -an -c:v libx264 -preset medium -crf 23 -pix_fmt yuv420p -g 48 \
  -movflags +faststart "$A/clip.mp4"

echo "[voiceover] espeak-ng en-us -> 28 s, 48 kHz mono WAV"
VO_TEXT="Still chasing the perfect cup? Meet Brewline, the cold brew kit that fits in your fridge door. Twelve hours, zero effort: fill it tonight and wake up to smooth, rich coffee. Less acid, more flavour, and it keeps for two weeks. Pour it over ice, add oat milk, or drink it black. Brewline. Better coffee, made while you sleep. Tap to order today, and your first kit ships free."
printf '%s\n' "$VO_TEXT" > "$A/voiceover.txt"
espeak-ng -v en-us -s 150 -w "$T/vo.wav" "$VO_TEXT"
sox -q "$T/vo.wav" -r 48000 -c 1 -b 16 "$T/vo48.wav" gain -n -1
sox -q "$T/vo48.wav" "$A/voiceover.wav" pad 0 30 trim 0 28

echo "[music] 32 s bed cut from W1's"
ffmpeg -hide_banner -loglevel error -y -i "$W1/music.mp3" -t 32 -c:a libmp3lame -b:a 128k "$A/music.mp3"
ls -la "$A"
