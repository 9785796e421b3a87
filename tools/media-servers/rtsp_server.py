#!/usr/bin/python3
"""An RTSP server for tests and for trying a wall by hand: GStreamer's gst-rtsp-server (Debian's
gir1.2-gst-rtsp-server-1.0), serving an H.264 MP4 file as-is (no re-encoding) at rtsp://HOST:PORT/cam.

    rtsp_server.py --port 8554 --clip clip.mp4 [--user U --password-file F] [--address 127.0.0.1]

With --user, the server asks for HTTP digest authentication (RFC 2617, as IP cameras do); the password
is read from a file so that it never shows in `ps`. Prints "ready PORT" on stdout once it listens.
Every client gets its own pipeline from the clip's start (the clip should be longer than a test).
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--clip", required=True, help="an MP4 file with one H.264 video track")
    p.add_argument("--user")
    p.add_argument("--password-file")
    a = p.parse_args()
    Gst.init(None)

    server = GstRtspServer.RTSPServer()
    server.set_address(a.address)
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    clip = a.clip.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(f'( filesrc location="{clip}" ! qtdemux ! h264parse ! '
                       "rtph264pay name=pay0 pt=96 config-interval=-1 )")
    if a.user:
        with open(a.password_file, encoding="utf-8") as f:
            password = f.read().strip()
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", a.user)
        auth.add_digest(a.user, password, token)
        server.set_auth(auth)
        factory.add_role_from_structure(Gst.Structure.new_from_string(
            f"{a.user}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {a.address}:{a.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for s in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, s, loop.quit)
    print(f"ready {a.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
