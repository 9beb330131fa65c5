#!/usr/bin/env bash
# The hard corpus for the player: short clips whose every frame carries its own index in the
# pixels, in the formats that break frame accuracy (long GOP with B-frames, drop-frame timecode
# across the hour, ProRes, HEVC 10-bit, variable frame rate, a 01:00:00:00 / 1001 start), plus
# bad inputs (truncated, not media, unsupported codec, audio only).
#
#   scripts/corpus.sh [OUT_DIR]      default OUT_DIR: tests/media/corpus
#
# Idempotent: a clip that exists is skipped (each is written to a temporary name and renamed when
# complete, so an interrupted run never leaves a half clip behind). Needs ffmpeg (libx264,
# libx265, prores_ks). About a minute on two cores.
#
# The frame code: a strip of 20 cells across the top of the picture, each cell a flat black or
# white block (96×64 px at 1920 wide) so that it survives lossy compression and scaling:
#   cell 0 white, cell 1 black          (guards: tell a code from a random picture)
#   cells 2..17                         frame number, 16 bits, most significant first (white = 1)
#   cell 18 = parity of the 16 bits     (white = odd), cell 19 = its inverse
# The number is the frame's position in the generated sequence (0-based), before any timestamp
# rewriting, so for the VFR clip it is the sample number and not a time.
# The player's tests read it back (tests/corpus/code.rs); keep both sides in step.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-tests/media/corpus}
mkdir -p "$OUT"

FF=(ffmpeg -hide_banner -loglevel error -nostdin -y)
CELLS=20

# geq expression for one row of CELLS pixels, X = cell, N = frame number.
bit() { echo "mod(floor(N/pow(2,$1)),2)"; }
PARITY="0"
for k in $(seq 0 15); do PARITY="$PARITY+$(bit "$k")"; done
PARITY="mod($PARITY,2)"
CODE="if(lt(X,1),255,if(lt(X,2),0,if(lt(X,18),255*mod(floor(N/pow(2,17-X)),2),if(lt(X,19),255*$PARITY,255*(1-$PARITY)))))"

# filter_complex: testsrc2 picture with the code strip over its top, in pixel format $4.
# $1 size WxH, $2 rate, $3 frames, $4 pix_fmt
graph() {
  local w=${1%x*} h=${1#*x}
  local cw=$((w / CELLS)) ch=$((h * 64 / 1080))
  echo "testsrc2=size=$1:rate=$2,trim=end_frame=$3[bg];" \
    "color=c=black:s=${CELLS}x1:r=$2,trim=end_frame=$3,format=gray,geq=lum='$CODE'," \
    "scale=$((cw * CELLS))x$ch:flags=neighbor,format=yuv420p[code];" \
    "[bg][code]overlay=x=0:y=0:shortest=1,format=$4${POST:+,$POST}[v]"
}

# make NAME SIZE RATE FRAMES PIX_FMT [ffmpeg output args...]
make() {
  local name=$1 size=$2 rate=$3 frames=$4 pix=$5
  shift 5
  local dst="$OUT/$name"
  [ -s "$dst" ] && return 0
  local tmp="$OUT/.tmp.$name"
  local t0=$SECONDS
  "${FF[@]}" -filter_complex "$(graph "$size" "$rate" "$frames" "$pix")" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:beep_factor=4" \
    -map "[v]" -map 0:a -frames:v "$frames" -shortest "$@" -f "${name##*.}" "$tmp" 2>&1 |
    grep -v "^$" || true
  [ -s "$tmp" ] || { echo "corpus: failed to make $name" >&2; exit 1; }
  mv "$tmp" "$dst"
  echo "corpus: $name ($((SECONDS - t0)) s)"
}

# The muxer is named by the extension (mp4, mov).
# 1. 1080p 23.976 H.264, GOP 250, 3 B-frames, AAC: the long-GOP clip the benchmark uses (40 s).
make h264_2398_gop250.mp4 1920x1080 24000/1001 960 yuv420p \
  -c:v libx264 -preset superfast -tune fastdecode -g 250 -keyint_min 250 -sc_threshold 0 -bf 3 \
  -b:v 6M -c:a aac -b:a 96k -movflags +faststart

# 2. 29.97 drop-frame, start TC 00:59:58;00 (a QuickTime tmcd track), crossing the hour at frame 60.
make df2997_hour.mov 640x360 30000/1001 180 yuv420p \
  -c:v libx264 -preset superfast -g 30 -bf 2 -c:a pcm_s16le -timecode "00:59:58;00"

# 3. 25 fps ProRes 422 Proxy, PCM audio.
make prores_25.mov 960x540 25 100 yuv422p10le \
  -c:v prores_ks -profile:v 0 -c:a pcm_s16le

# 4. HEVC Main 10, 24 fps.
make hevc10_24.mp4 960x540 24 72 yuv420p10le \
  -c:v libx265 -preset ultrafast -x265-params "log-level=error:keyint=48:bframes=2" \
  -tag:v hvc1 -c:a aac -b:a 96k

# 5. Variable frame rate: samples 0..47 last 1/24 s, later samples 2/24 s (held frames), so a
#    24 fps grid sees sample 48 at index 48 and 49, sample 49 at 50 and 51, and so on.
POST="setpts='if(lt(N,48),N,48+2*(N-48))/(24*TB)'" make vfr_24.mp4 640x360 24 96 yuv420p \
  -fps_mode vfr -video_track_timescale 24000 \
  -c:v libx264 -preset superfast -g 24 -bf 2 -c:a aac -b:a 96k

# 6. Editorial start: 01:00:00:00 at 24 fps, frames numbered from 1001 (sidecar, see below).
make tc1001_24.mov 960x540 24 72 yuv420p \
  -c:v libx264 -preset superfast -g 12 -bf 2 -c:a pcm_s16le -timecode "01:00:00:00"
# The first frame number is not a container property; Framenote reads it from this sidecar
# (<media>.framenote.json, see framenote_player::probe).
[ -s "$OUT/tc1001_24.mov.framenote.json" ] ||
  echo '{"first_frame": 1001}' >"$OUT/tc1001_24.mov.framenote.json"

# Bad inputs.
BAD="$OUT/bad"
mkdir -p "$BAD"
# Truncated: the long-GOP clip cut to 30% (moov is at the front, so it opens, then the data ends).
[ -s "$BAD/truncated.mp4" ] || head -c $(($(stat -c %s "$OUT/h264_2398_gop250.mp4") * 3 / 10)) \
  "$OUT/h264_2398_gop250.mp4" >"$BAD/truncated.mp4"
# Truncated with no index at all (moov at the end of the file and cut off).
if [ ! -s "$BAD/truncated_nomoov.mov" ]; then
  head -c 200000 "$OUT/df2997_hour.mov" >"$BAD/truncated_nomoov.mov"
fi
# Not media at all.
[ -s "$BAD/not_media.mp4" ] || printf 'This is a text file with a video extension.\n%.0s' $(seq 1 200) >"$BAD/not_media.mp4"
# Unsupported codec: the sample entry's fourcc renamed, so no decoder exists for it.
if [ ! -s "$BAD/unsupported_codec.mov" ]; then
  LC_ALL=C perl -0777 -pe 's/avc1/zzzz/g; s/avcC/zzzC/g' "$OUT/tc1001_24.mov" >"$BAD/unsupported_codec.mov"
fi
# Audio only: a valid file with no picture.
if [ ! -s "$BAD/audio_only.m4a" ]; then
  "${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 2 -c:a aac "$BAD/.tmp.m4a"
  mv "$BAD/.tmp.m4a" "$BAD/audio_only.m4a"
fi
echo "corpus: ready in $OUT"
