#!/usr/bin/env bash
# Media for W3: a 10 s 3840x2160 30 fps clip, a 10 s 1920x1080 60 fps clip (both looped by
# the composition), a logo PNG and a 60 s music bed. Needs Debian's ffmpeg. About a minute.
set -euo pipefail
A=${1:-target/workloads/w3}
mkdir -p "$A"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=s=3840x2160:r=30:d=10" \
  -c:v libx264 -preset ultrafast -crf 23 -pix_fmt yuv420p -g 60 "$A/clip4k.mp4"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "mandelbrot=s=1920x1080:r=60" -t 10 \
  -c:v libx264 -preset ultrafast -crf 23 -pix_fmt yuv420p -g 120 "$A/clip60.mp4"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "color=c=0xffbe0b:s=256x256,format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(hypot(X-128,Y-128),120),255,0)'" \
  -frames:v 1 "$A/logo.png"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=f=220:d=60:sample_rate=48000" -af "volume=0.4" -ac 2 "$A/music.wav"
echo "W3 media in $A"
