#!/bin/sh
# Re-create media/demo.mp4, the embedded demo camera's clip, from ffmpeg's built-in
# lavfi sources only (no third-party content). Run from anywhere:
#   sh media/make-demo.sh            # writes media/demo.mp4
#   FFMPEG=/path/to/ffmpeg sh media/make-demo.sh
#
# Why these settings: the clip is looped by porchlight with `-c:v copy`, so it must already be
# what an Echo Show decodes happily: H.264 constrained baseline, 1280x720, 15 fps, an IDR every
# second (keyint 15, no B-frames, no scene-cut IDRs) with SPS/PPS repeated before each IDR.
# The audio is AAC on purpose: it exercises the AAC -> Opus path a real camera takes.
# One x264 thread and bitexact flags make the output byte-for-byte repeatable (same build).
set -eu

FFMPEG="${FFMPEG:-ffmpeg}"
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-$HERE/demo.mp4}"
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf

# drawtext needs a font file (Debian: fonts-dejavu-core). Without one, skip the text overlay
# rather than add a dependency: the moving testsrc2 pattern is enough to see motion.
if [ -r "$FONT" ]; then
  TEXT=",drawtext=fontfile=$FONT:fontsize=44:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=12:x=40:y=40:text='porchlight demo camera',drawtext=fontfile=$FONT:fontsize=64:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=12:x=40:y=h-th-60:text='%{pts\:hms}  frame %{eif\:n\:d\:3}'"
else
  TEXT=""
fi

"$FFMPEG" -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=15:duration=10$TEXT" \
  -f lavfi -i "sine=frequency=440:beep_factor=2:sample_rate=48000:duration=10" \
  -map 0:v:0 -map 1:a:0 \
  -c:v libx264 -threads:v 1 -preset veryslow -profile:v baseline -level:v 3.1 -pix_fmt yuv420p \
  -g 15 -keyint_min 15 -sc_threshold 0 -bf 0 \
  -crf 30 -maxrate 900k -bufsize 900k \
  -x264-params repeat-headers=1 \
  -c:a aac -b:a 48k -ar 48000 -ac 1 \
  -movflags +faststart -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  -t 10 "$OUT"

echo "wrote $OUT ($(wc -c < "$OUT") bytes)"
