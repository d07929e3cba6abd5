#!/usr/bin/python3
"""Many cameras for almost nothing: one GStreamer RTSP server whose mount points /cam0…/camN-1
each loop a pre-encoded H.264 clip (Annex B with access unit delimiters, e.g. from ffmpeg with
-x264-params aud=1), so the whole-house benchmark measures the bridge, not the cameras' encoders.

The clip is read once and split into access units; one timer paces every client's media at the
clip's frame rate, each starting at the clip's first frame (an IDR). A clip whose length is a
whole number of GOPs loops onto a keyframe. Live (appsrc is-live): clients cannot seek it.

  /usr/bin/python3 fake-camera-clip.py --clip clip.h264 --fps 25 --cameras 32
prints `READY rtsp://127.0.0.1:<port>/cam` (append the index); leaves on SIGTERM or stdin EOF.
"""

import argparse
import os
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

AUD = b"\x00\x00\x00\x01\x09"
CAPS = "video/x-h264,stream-format=(string)byte-stream,alignment=(string)au"
LAUNCH = f'( appsrc name=src is-live=true format=time do-timestamp=true caps="{CAPS}" ! h264parse ! rtph264pay name=pay0 pt=96 )'
#: At most this many frames are pushed at once after a stall (the timer is late, not the clip).
MAX_BURST = 5


def access_units(data):
    starts = []
    at = data.find(AUD)
    while at != -1:
        starts.append(at)
        at = data.find(AUD, at + 1)
    if not starts:
        raise SystemExit("fake-camera-clip: no access unit delimiters in the clip (encode with aud=1)")
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


class Feeder:
    """One client's media: the clip from its first frame, paced by the wall clock."""

    def __init__(self, appsrc):
        self.appsrc = appsrc
        self.started = time.monotonic()
        self.pushed = 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clip", required=True)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--cameras", type=int, default=32)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()

    Gst.init(None)
    with open(a.clip, "rb") as f:
        frames = [GLib.Bytes.new(au) for au in access_units(f.read())]
    feeders = {}

    def tick():
        now = time.monotonic()
        for feeder in list(feeders.values()):
            due = int((now - feeder.started) * a.fps) + 1
            for _ in range(min(MAX_BURST, due - feeder.pushed)):
                feeder.appsrc.emit("push-buffer", Gst.Buffer.new_wrapped_bytes(frames[feeder.pushed % len(frames)]))
                feeder.pushed += 1
            feeder.pushed = max(feeder.pushed, due - MAX_BURST)
        return GLib.SOURCE_CONTINUE

    keys = iter(range(1 << 62))

    def on_configure(_factory, media):
        appsrc = media.get_element().get_by_name("src")
        # Not id(media): the Python wrapper dies with this call and its id is reused.
        key = next(keys)
        feeders[key] = Feeder(appsrc)
        media.connect("unprepared", lambda *_: feeders.pop(key, None))

    server = GstRtspServer.RTSPServer.new()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    mounts = server.get_mount_points()
    for index in range(a.cameras):
        factory = GstRtspServer.RTSPMediaFactory.new()
        factory.set_launch(LAUNCH)
        factory.connect("media-configure", on_configure)
        mounts.add_factory(f"/cam{index}", factory)
    if server.attach(None) == 0:
        print(f"fake-camera-clip: cannot listen on 127.0.0.1:{a.port}", file=sys.stderr)
        sys.exit(1)
    GLib.timeout_add_seconds(2, lambda: (server.get_session_pool().cleanup(), True)[1])
    GLib.timeout_add(max(1, 500 // a.fps), tick)

    loop = GLib.MainLoop()

    def stop(*_):
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, stop)
    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR,
                      lambda fd, cond: GLib.SOURCE_CONTINUE if (cond & GLib.IO_IN and os.read(fd, 4096)) else stop())
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}/cam", flush=True)
    loop.run()
    sys.stdout.flush()
    os._exit(0)  # media threads can hang a normal interpreter shutdown


if __name__ == "__main__":
    main()
