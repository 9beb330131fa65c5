#!/usr/bin/env bash
# Regenerates the built-in demo library in assets/demo/ from ffmpeg's synthetic sources, so the
# committed clips are reproducible and license-clean. Each clip has audio, a burnt-in frame number
# and timecode (so a person can check the player against the picture), and a start timecode in its
# QuickTime tmcd track. Run it only to change the demo; the clips are committed (≈1–2 MB in all).
set -euo pipefail
cd "$(dirname "$0")/.."
out=assets/demo
mkdir -p "$out"
font=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf
[ -f "$font" ] || { echo "make-demo: needs fonts-dejavu-core" >&2; exit 1; }

# $1 name, $2 rate, $3 frames, $4 start timecode, $5 first display frame, $6 video source, $7 tone Hz
clip() {
  local name=$1 rate=$2 frames=$3 tc=$4 first=$5 src=$6 tone=$7
  local esc_tc=${tc//:/\\:}
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "${src}=size=640x360:rate=${rate}" \
    -f lavfi -i "sine=frequency=${tone}:sample_rate=48000:beep_factor=4" \
    -frames:v "$frames" -shortest \
    -vf "drawbox=x=0:y=300:w=640:h=60:color=black@0.6:t=fill,\
drawtext=fontfile=${font}:text='%{eif\:n+${first}\:d}':x=20:y=312:fontsize=32:fontcolor=white,\
drawtext=fontfile=${font}:timecode='${esc_tc}':rate=${rate}:x=380:y=312:fontsize=32:fontcolor=white" \
    -c:v libx264 -preset slow -crf 30 -g 48 -bf 2 -pix_fmt yuv420p -threads 1 \
    -c:a aac -b:a 48k -ac 1 \
    -timecode "$tc" -metadata comment="framenote:first_frame=${first}" \
    -movflags +faststart -map_metadata -1 -fflags +bitexact \
    "$out/$name"
  # The first frame number is a VFX convention no container field carries: a sidecar says it.
  printf '{"first_frame": %s}\n' "$first" > "$out/$name.framenote.json"
  echo "make-demo: $out/$name ($(stat -c %s "$out/$name") bytes)"
}

clip "sh010_comp_v001.mp4" 24000/1001 120 "01:00:00:00" 1001 testsrc2 440
clip "sh020_anim_v003.mp4" 24 144 "01:00:10:00" 1001 "mandelbrot" 330
clip "sh030_grade_v002.mp4" 30000/1001 150 "00:59:58;00" 1 "smptehdbars" 550
