#!/usr/bin/python3
"""test/fixtures/fake-camera.py with a picture that really costs the bitrate asked for.

The fixture's bouncing ball compresses to ~100 kbit/s whatever --bitrate says, which would make
the benchmark's "2 Mb/s camera" a 0.1 Mb/s one. A moving SMPTE pattern (horizontal-speed) fills
x264's rate control: 1280x720 at 25 fps and --bitrate 2000 gives ~2.05 Mb/s, for ~16 % of a core.
The scrolling also trips x264's scene-cut detection (an IDR every ~0.5 s instead of every --gop
seconds), so scene cuts are turned off: keyframes come every --gop seconds, as on a camera.

startFakeCamera() runs `<python> <fake-camera.py> <args…>`; passing this file as `python` makes
it receive the fixture's path first: it loads the fixture, swaps the pattern, runs its main().
"""

import importlib.util
import sys

PATTERN = "pattern=smpte horizontal-speed=8"
ENCODER = "x264enc option-string=scenecut=0 "

script = sys.argv[1]
spec = importlib.util.spec_from_file_location("fake_camera", script)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
original = module.launch_line
module.launch_line = lambda args: original(args).replace("pattern=ball", PATTERN).replace("x264enc ", ENCODER)
sys.argv = [script] + sys.argv[2:]
module.main()
