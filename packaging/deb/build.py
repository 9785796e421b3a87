#!/usr/bin/env python3
"""Builds tessera_<version>_amd64.deb and tessera-signal_<version>_amd64.deb with dpkg-deb.

Run by `make deb` after `swift build -c release --static-swift-stdlib --scratch-path .build-deb`:
the binaries carry their Swift runtime, so the packages depend only on Debian's libraries, which
dpkg-shlibdeps reads off the binaries. Configuration under /etc/tessera is a set of conffiles (kept
on upgrade, kept on remove, gone on purge). The maintainer scripts create the system user, install
and enable the unit, restart the wall on upgrade, and print the one step left to the installer.
Then lintian checks each package; an error fails the build.
"""
import argparse, gzip, os, shutil, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--version", required=True)
ap.add_argument("--bin", default=".build-deb/release")
ap.add_argument("--out", default="out/deb")
a = ap.parse_args()
root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
os.chdir(root)
MAINTAINER = "Tessera maintainers <tessera@example.org>"
HOMEPAGE = "https://example.org/tessera"
here = os.path.dirname(os.path.abspath(__file__))


def install(src, dst, mode=0o644):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)


def write(dst, text, mode=0o644):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "w") as f:
        f.write(text)
    os.chmod(dst, mode)


def depends(binary, stage):
    """Debian packages the binary's libraries come from, with versions (dpkg-shlibdeps)."""
    work = os.path.join(stage, "..", "shlibdeps-" + os.path.basename(binary))
    os.makedirs(os.path.join(work, "debian"), exist_ok=True)
    write(os.path.join(work, "debian", "control"), "Source: tessera\n\nPackage: tessera\nArchitecture: any\n")
    out = subprocess.run(["dpkg-shlibdeps", "-O", os.path.abspath(binary)], cwd=work, check=True,
                         capture_output=True, text=True).stdout
    shutil.rmtree(work)
    return out.split("=", 1)[1].strip()


def doc(stage, name, extra=()):
    d = os.path.join(stage, "usr/share/doc", name)
    write(os.path.join(d, "copyright"),
          "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
          f"Upstream-Name: tessera\nSource: {HOMEPAGE}\n\nFiles: *\nCopyright: 2026 Tessera maintainers\nLicense: MIT\n"
          " Permission is hereby granted, free of charge, to any person obtaining a copy of this software and\n"
          " associated documentation files, to deal in the software without restriction.\n"
          " .\n The software is provided \"as is\", without warranty of any kind.\n")
    changelog = (f"{name} ({a.version}) bookworm; urgency=medium\n\n  * Release {a.version}.\n\n"
                 f" -- {MAINTAINER}  {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\n")
    os.makedirs(d, exist_ok=True)
    with gzip.GzipFile(os.path.join(d, "changelog.gz"), "wb", mtime=0) as f:
        f.write(changelog.encode())
    os.chmod(os.path.join(d, "changelog.gz"), 0o644)
    for src in extra:
        install(src, os.path.join(d, os.path.basename(src)))


def package(name, stage, control_extra, description):
    size = sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(stage) for f in fs) // 1024
    control = (f"Package: {name}\nVersion: {a.version}\nArchitecture: amd64\nMaintainer: {MAINTAINER}\n"
               f"Installed-Size: {size}\nSection: video\nPriority: optional\nHomepage: {HOMEPAGE}\n"
               + control_extra + f"Description: {description}\n")
    write(os.path.join(stage, "DEBIAN", "control"), control)
    for p, dirs, fs in os.walk(stage):
        os.chmod(p, 0o755)
    deb = os.path.join(a.out, f"{name}_{a.version}_amd64.deb")
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", stage, deb], check=True, stdout=subprocess.DEVNULL)
    print(f"make deb: wrote {deb} ({os.path.getsize(deb) // 1024} KiB)")
    return deb


shutil.rmtree(a.out, ignore_errors=True)
os.makedirs(a.out)
debs = []

# tessera: the wall.
stage = os.path.join(a.out, "stage-tessera")
binary = os.path.join(stage, "usr/bin/tessera")
install(os.path.join(a.bin, "tessera"), binary, 0o755)
subprocess.run(["strip", "--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", binary], check=True)
install("deploy/tessera.service", os.path.join(stage, "lib/systemd/system/tessera.service"))
install("deploy/tessera-network.sh", os.path.join(stage, "usr/lib/tessera/tessera-network.sh"), 0o755)
install("deploy/tessera.env", os.path.join(stage, "etc/tessera/tessera.env"))
install("Layouts/lecture-theatre.json", os.path.join(stage, "etc/tessera/layout.json"))
for f in sorted(os.listdir("Layouts")):
    install(os.path.join("Layouts", f), os.path.join(stage, "usr/share/tessera/layouts", f))
doc(stage, "tessera", ["docs/kiosk.md", "docs/layouts.md", "docs/install.md"])
for script in ("postinst", "prerm", "postrm"):
    install(os.path.join(here, f"tessera.{script}"), os.path.join(stage, "DEBIAN", script), 0o755)
write(os.path.join(stage, "DEBIAN", "conffiles"), "/etc/tessera/tessera.env\n/etc/tessera/layout.json\n")
deps = depends(binary, stage)
debs.append(package("tessera", stage,
    f"Depends: {deps}, adduser, systemd, fonts-dejavu-core, libgl1-mesa-dri, libegl-mesa0\n"
    "Recommends: fonts-noto-core, fonts-noto-cjk, fonts-symbola\n",
    "video wall compositor for Linux kiosks\n"
    " Tessera decodes up to 250 live participant streams (RTSP, SRT, UDP,\n"
    " RTMP) and tiles them over one or more displays through DRM/KMS,\n"
    " following a layout file, keyboard shortcuts and a signaling backend.\n"
    " This package runs it as the room's kiosk on tty1 (tessera.service)."))

# tessera-signal: the reference backend, for a room server or a lab.
stage = os.path.join(a.out, "stage-tessera-signal")
binary = os.path.join(stage, "usr/bin/tessera-signal")
install(os.path.join(a.bin, "tessera-signal"), binary, 0o755)
subprocess.run(["strip", "--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", binary], check=True)
doc(stage, "tessera-signal", ["docs/signaling.md"])
deps = depends(binary, stage)
debs.append(package("tessera-signal", stage, f"Depends: {deps}\n",
    "reference signaling backend for Tessera video walls\n"
    " A WebSocket server and a small HTTP admin API that tell Tessera walls\n"
    " who is in the room, where their streams are, whose hand is up and\n"
    " which layout to show."))

# lintian: errors fail the build; warnings are printed.
if shutil.which("lintian"):
    failed = False
    for deb in debs:
        r = subprocess.run(["lintian", "--tag-display-limit", "0", deb], capture_output=True, text=True)
        print(r.stdout, end="")
        errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
        print(f"make deb: lintian {os.path.basename(deb)}: {len(errors)} errors, "
              f"{sum(l.startswith('W:') for l in r.stdout.splitlines())} warnings")
        failed |= bool(errors)
    sys.exit(1 if failed else 0)
print("make deb: lintian is not installed; packages not checked")
