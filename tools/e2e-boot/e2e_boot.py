#!/usr/bin/python3
"""make e2e-boot: the tessera package on a real Debian 12 system with systemd, booted in QEMU (TCG).

Builds (once, cached under out/e2e-boot/) a minimal bookworm root with mmdebstrap from the Debian
archive: systemd, udev, Debian's kernel with a small initrd, and the package's dependencies. Per
package version it copies that root, installs the package with `apt install ./tessera_….deb`, adds
the test's own files (an agent on a virtio-serial port, a tessera.env giving the wall a local room
of six test-pattern clips, the e2e-kms two-head layout as /etc/tessera/layout.json) and makes an ext4
disk image with `mke2fs -d` (no loop mounts). Then it boots the image's own kernel and initrd
(`root=/dev/vda`, virtio-blk; changes go to a QEMU snapshot, the image stays clean) with a two-head
virtio-vga and a virtio keyboard, and checks from the host:
  1. tessera.service runs the wall on tty1 as the `tessera` user with the unit's hardening;
  2. both heads show each participant where `tessera plan` puts it (QMP screendumps);
  3. key 2 (QMP send-key → libinput) switches to the "focus" preset on screen;
  4. SIGSTOP → the systemd watchdog restarts the wall and the picture comes back (timed);
  5. kill -9 → back within RestartSec (timed);
  6. reboot → back (timed to the first right picture);
  7. `journalctl -u tessera` (last lines printed) and `tessera doctor` as the installer runs it;
  8. the usual room: tessera.env names a backend (the tessera-signal package, run in the guest) that
     lists six participants streaming the same clips over UDP on loopback; the wall, restarted, shows them.
The host runs commands in the guest through the agent; screendumps, keys and the serial console go
through QMP/stdio. Every wait is bounded; the VM is killed at the end. Facts: shared/notes/kms-vm.md.
Usage: e2e_boot.py --deb out/deb/tessera_<version>_amd64.deb [--stage image]; work files in $E2E_BOOT_DIR (out/e2e-boot/).
"""
import argparse, base64, hashlib, json, lzma, os, queue, re, shutil, socket, subprocess, sys, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(REPO, "tools/kms-vm/e2e"))
import e2e_kms  # noqa: E402  (the e2e-kms checks: test-pattern colours, screendumps against `tessera plan`)
from e2e_kms import Fail, run  # noqa: E402

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# The root besides the package's own dependencies (read off the .deb): systemd as init, udev for
# libinput's seat and the device permissions, Debian's kernel with initramfs-tools.
BASE_PACKAGES = ["systemd", "systemd-sysv", "udev", "kmod", "linux-image-amd64", "initramfs-tools", "procps"]
INITRD_MODULES = ["virtio_pci", "virtio_blk", "ext4"]
DISK_SIZE = "3G"
T0 = time.monotonic()


def log(msg):
    print(f"e2e-boot [{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def ensure_packages():
    want = {"qemu-system-x86": "qemu-system-x86_64", "mmdebstrap": "mmdebstrap", "e2fsprogs": "mke2fs"}
    missing = [p for p, b in want.items() if not shutil.which(b)]
    if missing:
        log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], 300, env=env)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing, 900, env=env)


def deb_field(deb, field):
    return run(["dpkg-deb", "-f", deb, field], 60).strip()


def depends_names(deb):
    """The package names in the .deb's Depends (first of each alternative, versions dropped)."""
    return sorted({d.split("|")[0].split("(")[0].strip() for d in deb_field(deb, "Depends").split(",") if d.strip()})


def script_hash(extra):
    h = hashlib.sha256()
    for d in (HERE, os.path.join(REPO, "tools/kms-vm/e2e")):
        for p, _, fs in sorted(os.walk(d)):
            for f in sorted(fs):
                if f.endswith((".py", ".json")) or p.endswith("guest") or f == "init":
                    h.update(f.encode()); h.update(open(os.path.join(p, f), "rb").read())
    h.update(extra.encode())
    return h.hexdigest()[:12]


# ---------------------------------------------------------------- the root, the image, the kernel

def build_base(cache, deps):
    """The Debian root without the package (systemd, kernel, the package's dependencies); cached."""
    initrd_conf = ("printf 'MODULES=list\\nCOMPRESS=gzip\\n' > \"$1/etc/initramfs-tools/conf.d/e2e-boot\"; "
                   f"printf '%s\\n' {' '.join(INITRD_MODULES)} >> \"$1/etc/initramfs-tools/modules\"; "
                   "chroot \"$1\" update-initramfs -u -k all >/dev/null")
    # Keyed by what goes into it (not by this script: editing the checks does not rebuild the root).
    key = hashlib.sha256(" ".join([SUITE, MIRROR, initrd_conf] + BASE_PACKAGES + deps).encode()).hexdigest()[:12]
    base = os.path.join(cache, f"base-{key}")
    if os.path.isdir(base):
        log(f"root: cached {os.path.relpath(base, REPO)}")
        return base
    for old in os.listdir(cache):
        if old.startswith("base-"):
            shutil.rmtree(os.path.join(cache, old), ignore_errors=True)
    tmp = base + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"root: mmdebstrap {SUITE} from {MIRROR} ({len(BASE_PACKAGES) + len(deps)} packages and their dependencies; minutes)")
    t = time.monotonic()
    run(["mmdebstrap", "--variant=apt", "--mode=root", "--format=directory",
         "--include=" + ",".join(BASE_PACKAGES + deps),
         "--customize-hook=" + initrd_conf,
         "--customize-hook=chroot \"$1\" apt-get clean",
         SUITE, tmp, MIRROR], 3600)
    os.rename(tmp, base)
    log(f"root: built in {time.monotonic() - t:.0f} s, {du(base)} MiB")
    return base


def du(path):
    return int(run(["du", "-sm", path], 300).split()[0])


def kernel(base, cache):
    """(vmlinux, initrd) of the root's own kernel; the bzImage's xz payload as an ELF boots ~4 s faster."""
    boot = os.path.join(base, "boot")
    kver = sorted(f[len("vmlinuz-"):] for f in os.listdir(boot) if f.startswith("vmlinuz-"))[-1]
    vmlinux = os.path.join(os.path.dirname(base), f"vmlinux-{kver}")
    if not os.path.exists(vmlinux):
        data = open(os.path.join(boot, f"vmlinuz-{kver}"), "rb").read()
        at = data.find(b"\xfd7zXZ\x00")
        if at < 0:
            raise Fail("no xz payload in the kernel image")
        open(vmlinux + ".tmp", "wb").write(lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[at:]))
        os.rename(vmlinux + ".tmp", vmlinux)
    return vmlinux, os.path.join(boot, f"initrd.img-{kver}"), kver


def chroot_apt_install(root, deb):
    """`apt install ./tessera_….deb` in the root, with /proc, /sys and /dev mounted for the maintainer scripts."""
    mounts = []
    try:
        for fs, d, opts in (("proc", "proc", []), ("sysfs", "sys", []), ("devtmpfs", "dev", [])):
            run(["mount", "-t", fs] + opts + [fs, os.path.join(root, d)], 60)
            mounts.append(os.path.join(root, d))
        shutil.copy(deb, os.path.join(root, "tmp"))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        out = run(["chroot", root, "apt-get", "install", "-y", "--no-install-recommends",
                   "/tmp/" + os.path.basename(deb)], 900, env=env)
        os.unlink(os.path.join(root, "tmp", os.path.basename(deb)))
        return out
    finally:
        for m in reversed(mounts):
            subprocess.run(["umount", "-l", m])


def guest_files(root, tessera):
    """The test's own files in the image (never in the package)."""
    g = os.path.join(HERE, "guest")
    def put(src, dst, mode=0o644):
        d = root + dst
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy(src, d); os.chmod(d, mode)
    put(os.path.join(g, "e2e-agent"), "/usr/local/sbin/e2e-agent", 0o755)
    put(os.path.join(g, "e2e-agent.service"), "/etc/systemd/system/e2e-agent.service")
    os.makedirs(root + "/etc/systemd/system/sysinit.target.wants", exist_ok=True)
    os.symlink("../e2e-agent.service", root + "/etc/systemd/system/sysinit.target.wants/e2e-agent.service")
    # The installer's edit: where the room comes from (a local room of test clips, no backend).
    put(os.path.join(g, "tessera.env"), "/etc/tessera/tessera.env")
    # The installer's edit: the layout (the e2e-kms two-head layout: Virtual-1 1024x768, Virtual-2 800x600).
    put(e2e_kms.LAYOUT, "/etc/tessera/layout.json")
    clips = e2e_kms.clips(tessera, os.path.join(os.path.dirname(root), "work"))
    for f in sorted(os.listdir(clips)):
        put(os.path.join(clips, f), "/usr/share/tessera-e2e/clips/" + f)
    # The installer's step: a token (the file postinst made keeps its owner and mode).
    open(root + "/etc/tessera/wall-token", "w").write("e2e-boot-test-token\n")
    open(root + "/etc/hostname", "w").write("tessera-e2e\n")
    open(root + "/etc/fstab", "w").write("/dev/vda / ext4 rw,noatime 0 1\n")
    # Quiet and quick: no serial getty, no timers that start apt or fstrim while the test measures.
    for unit in ("serial-getty@ttyS0.service", "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
                 "fstrim.timer", "systemd-timesyncd.service", "getty@tty2.service"):
        link = root + "/etc/systemd/system/" + unit
        if not os.path.lexists(link):
            os.symlink("/dev/null", link)


def signal_deb_of(deb):
    """tessera-signal_<version>_amd64.deb beside tessera_<version>_amd64.deb (make deb builds both)."""
    d, name = os.path.split(deb)
    return os.path.join(d, name.replace("tessera_", "tessera-signal_", 1))


def build_image(cache, base, deb, tessera, key):
    image = os.path.join(cache, f"disk-{key}.img")
    if os.path.exists(image):
        log(f"image: cached {os.path.relpath(image, REPO)}")
        return image
    for old in os.listdir(cache):
        if old.startswith("disk-"):
            os.unlink(os.path.join(cache, old))
    stage = os.path.join(cache, "stage")
    shutil.rmtree(stage, ignore_errors=True)
    t = time.monotonic()
    run(["cp", "-a", base, stage], 900)
    log(f"image: root copied ({time.monotonic() - t:.0f} s); apt install ./{os.path.basename(deb)}")
    out = chroot_apt_install(stage, deb)
    # The reference backend for check 8 (a room PC would reach a backend elsewhere; the test keeps it inside).
    log(f"image: apt install ./{os.path.basename(signal_deb_of(deb))}")
    chroot_apt_install(stage, signal_deb_of(deb))
    said = False
    for line in out.splitlines():
        said = said or line.startswith("tessera: installed")
        if said:
            log(f"  postinst: {line.strip()}")
    guest_files(stage, tessera)
    run(["mke2fs", "-q", "-t", "ext4", "-L", "root", "-d", stage, image + ".tmp", DISK_SIZE], 900)
    os.rename(image + ".tmp", image)
    shutil.rmtree(stage)
    log(f"image: {os.path.relpath(image, REPO)} ({time.monotonic() - t:.0f} s)")
    return image


def host_tessera(deb, cache):
    """The package's own binary, unpacked on the host: it makes the clips and computes the plan."""
    d = os.path.join(cache, "host-tessera")
    shutil.rmtree(d, ignore_errors=True)
    run(["dpkg-deb", "-x", deb, d], 300)
    return os.path.join(d, "usr/bin/tessera")


# ---------------------------------------------------------------- the VM and its agent

class BootVM(e2e_kms.VM):
    """QEMU on the disk image (snapshot: the image stays as built); e2e_kms.VM's serial reader, QMP,
    screendumps and kill; commands in the guest through the agent on the virtio-serial port "e2e"."""

    def __init__(self, work, vmlinux, initrd, image, timeout):
        self.work, self.renderer = work, "boot"
        self.sock = os.path.join(work, "qmp.sock")
        self.agent_sock = os.path.join(work, "agent.sock")
        for s in (self.sock, self.agent_sock):
            if os.path.exists(s):
                os.unlink(s)
        self.serial_log = open(os.path.join(work, "serial.log"), "w")
        cmd = ["timeout", "-k", "5", str(timeout), "qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-smp", "2",
               "-m", "2048M", "-nodefaults", "-no-user-config", "-nic", "none", "-display", "none", "-serial", "stdio",
               "-qmp", f"unix:{self.sock},server=on,wait=off",
               "-device", "virtio-vga,id=video0," + ",".join(e2e_kms.QEMU_HEADS), "-device", "virtio-keyboard-pci",
               "-drive", f"file={image},if=virtio,format=raw,snapshot=on",
               "-device", "virtio-serial-pci", "-chardev", f"socket,id=agent,path={self.agent_sock},server=on,wait=off",
               "-device", "virtserialport,chardev=agent,name=e2e",
               "-kernel", vmlinux, "-initrd", initrd,
               "-append", "root=/dev/vda rw console=ttyS0 quiet loglevel=3 systemd.show_status=false "
                          "video=Virtual-2:800x600e"]
        self.started = time.monotonic()
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, bufsize=1, start_new_session=True)
        self.lines = queue.Queue()
        self.keyboard = None
        threading.Thread(target=self._reader, daemon=True).start()
        self.qmp = None
        self.agent = None
        self.answers = queue.Queue()
        self.seq = 0

    def connect_agent(self):
        deadline = time.monotonic() + 30
        while True:
            try:
                s = socket.socket(socket.AF_UNIX); s.connect(self.agent_sock); break
            except OSError:
                if time.monotonic() > deadline:
                    raise Fail("cannot connect to the agent's socket")
                time.sleep(0.2)
        self.agent = s
        f = s.makefile("r", encoding="utf-8", errors="replace")

        def reader():
            for line in f:
                self.answers.put(line.rstrip("\n"))
        threading.Thread(target=reader, daemon=True).start()

    def sh(self, command, timeout=90, check=True):
        """Runs a shell command in the guest as root; returns (rc, output)."""
        if self.agent is None:
            self.connect_agent()
        self.seq += 1
        tag = f"c{self.seq}"
        self.agent.sendall(f"{tag} {base64.b64encode(command.encode()).decode()}\n".encode())
        out, deadline = [], time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f"guest command timed out after {timeout} s: {command}")
            try:
                line = self.answers.get(timeout=min(left, 1))
            except queue.Empty:
                continue
            if line.startswith(tag + "| "):
                out.append(line[len(tag) + 2:])
            elif line.startswith(tag + " rc="):
                rc = int(line.split("=", 1)[1])
                if check and rc != 0:
                    raise Fail(f"guest: `{command}` exited {rc}: " + "\n".join(out)[-800:])
                return rc, "\n".join(out)

    def send_only(self, command):
        """A command whose answer may never come (reboot, poweroff)."""
        self.seq += 1
        self.agent.sendall(f"c{self.seq} {base64.b64encode(command.encode()).decode()}\n".encode())

    def show(self, *props):
        _, out = self.sh("systemctl show tessera " + " ".join(f"-p {p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def uptime(self):
        return float(self.sh("cut -d' ' -f1 /proc/uptime")[1])


# ---------------------------------------------------------------- the checks

def unit_settings(unit_path):
    """Key → value of the package's unit file ([Service] and [Unit])."""
    out, text = {}, open(unit_path).read().replace("\\\n", " ")
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def main_pid_lit(vm, since_pid):
    """The wall's main PID once it is active, is not since_pid and has logged "outputs lit"; else None."""
    props = vm.show("MainPID", "ActiveState")
    pid = int(props.get("MainPID", "0") or 0)
    if pid == 0 or pid == since_pid or props.get("ActiveState") != "active":
        return None
    rc, _ = vm.sh(f"journalctl -q -u tessera _PID={pid} --no-pager | grep -q 'outputs lit'", check=False)
    return pid if rc == 0 else None


def wait_wall(vm, plans, since_pid, timeout, name):
    """Waits for a (new) wall process with lit outputs, then for the gallery on both heads; returns its PID."""
    deadline = time.monotonic() + timeout
    while True:
        pid = main_pid_lit(vm, since_pid)
        if pid:
            break
        if time.monotonic() > deadline:
            _, st = vm.sh("systemctl status tessera --no-pager -n 15", check=False)
            raise Fail(f"{name}: no wall with lit outputs within {timeout} s:\n{st}")
        time.sleep(1)
    e2e_kms.check_screens(vm, plans["gallery"], name, max(30, deadline - time.monotonic()))
    return pid


def journal_mono(vm, pattern, pid=None):
    """Guest-monotonic seconds of the last tessera.service journal line matching pattern (systemd's own lines too)."""
    match = f"_PID={pid}" if pid else ""
    _, out = vm.sh(f"journalctl -u tessera {match} -o short-monotonic --no-pager -q | grep -E '{pattern}' | tail -1",
                   check=False)
    m = re.match(r"\[\s*([\d.]+)\]", out.strip())
    return float(m.group(1)) if m else None


def journal_after(vm, pattern, after):
    """Guest-monotonic seconds of the first tessera.service journal line after `after` matching pattern."""
    _, out = vm.sh(f"journalctl -u tessera -o short-monotonic --no-pager -q | grep -E '{pattern}'", check=False)
    for line in out.splitlines():
        m = re.match(r"\[\s*([\d.]+)\]", line)
        if m and float(m.group(1)) >= after:
            return float(m.group(1))
    return None


def systemd_lines(vm):
    """systemd's own lines about the unit (starts, exits, restarts, watchdog) in this boot."""
    _, out = vm.sh("journalctl -u tessera -b -o short-monotonic --no-pager -q _PID=1 | cut -c1-200", check=False)
    return out.splitlines()


def check_unit(vm, unit):
    """1: the package's unit as systemd runs it, and the process it started."""
    keys = ["User", "Group", "Type", "NotifyAccess", "Restart", "TTYPath", "NoNewPrivileges", "ProtectSystem",
            "ProtectHome", "PrivateTmp", "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
            "RestrictSUIDSGID", "LockPersonality"]
    props = vm.show(*keys, "SupplementaryGroups", "WatchdogUSec", "RestartUSec", "MainPID", "ActiveState", "SubState",
                    "ReadOnlyPaths", "StateDirectory", "FragmentPath", "DropInPaths", "NeedDaemonReload")
    problems = [f"{k}={props.get(k)} (unit: {unit[k]})" for k in keys if k in unit and props.get(k) != unit[k]]
    if props.get("WatchdogUSec") != unit["WatchdogSec"] + "s":
        problems.append(f"WatchdogUSec={props.get('WatchdogUSec')} (unit: WatchdogSec={unit['WatchdogSec']})")
    if props.get("RestartUSec") != unit["RestartSec"] + "s":
        problems.append(f"RestartUSec={props.get('RestartUSec')} (unit: RestartSec={unit['RestartSec']})")
    if set(props.get("SupplementaryGroups", "").split()) != set(unit["SupplementaryGroups"].split()):
        problems.append(f"SupplementaryGroups={props.get('SupplementaryGroups')}")
    if props.get("NeedDaemonReload") != "no":
        # ExecStartPre's `systemctl set-property` (tessera-network.sh) makes `systemctl status` tell the
        # installer the unit "changed on disk, run daemon-reload" on every start (systemd #3217).
        problems.append(f"NeedDaemonReload={props.get('NeedDaemonReload')}: `systemctl status tessera` warns that the unit changed on disk")
    if (props.get("ActiveState"), props.get("SubState")) != ("active", "running"):
        problems.append(f"state {props.get('ActiveState')}/{props.get('SubState')}")
    pid = int(props["MainPID"])
    _, st = vm.sh(f"cat /proc/{pid}/status; echo fd0=$(readlink /proc/{pid}/fd/0); echo comm=$(cat /proc/{pid}/comm); "
                  "echo tessera_uid=$(id -u tessera); echo tessera_gid=$(id -g tessera); "
                  "for g in video render input; do echo group_$g=$(getent group $g | cut -d: -f3); done")
    f = dict(re.split(r":\s*|=", l, maxsplit=1) for l in st.splitlines() if re.match(r"^\w+(:|=)", l))
    if "Uid" not in f:
        raise Fail(f"1 unit: the main PID {pid} went away while it was checked: {vm.show('NRestarts', 'Result')}")
    uid, gid = f["tessera_uid"], f["tessera_gid"]
    if f["Uid"].split() != [uid] * 4 or f["Gid"].split() != [gid] * 4:
        problems.append(f"process uid/gid {f['Uid']} / {f['Gid']}, tessera is {uid}/{gid}")
    groups = set(f.get("Groups", "").split())
    for g in ("video", "render", "input"):
        if f[f"group_{g}"] not in groups:
            problems.append(f"process not in group {g} ({f.get('Groups')})")
    if f.get("NoNewPrivs") != "1":
        problems.append(f"NoNewPrivs {f.get('NoNewPrivs')}")
    if f.get("CapEff") != "0000000000000000":
        problems.append(f"effective capabilities {f.get('CapEff')}")
    if f.get("fd0") != "/dev/tty1":
        problems.append(f"stdin is {f.get('fd0')}, not /dev/tty1")
    # ProtectSystem=strict / ProtectHome= as the kiosk sees the file system (its mount namespace).
    _, ro = vm.sh(f"nsenter -t {pid} -m sh -c 'touch /etc/e2e-probe; touch /usr/e2e-probe' 2>&1 | grep -c 'Read-only file system'",
                  check=False)
    if ro.strip().splitlines()[-1:] != ["2"]:
        problems.append(f"/etc and /usr writable in the kiosk's namespace: {ro}")
    if problems:
        raise Fail("1 unit: " + "; ".join(problems))
    log(f"1 unit: tessera.service active/running, main PID {pid} ({f['comm']}) uid {uid} gid {gid} (tessera), "
        f"groups video/render/input, NoNewPrivs 1, no capabilities, stdin /dev/tty1; "
        f"{', '.join(f'{k}={props[k]}' for k in keys[2:])}, WatchdogUSec={props['WatchdogUSec']}, "
        f"RestartUSec={props['RestartUSec']}, NeedDaemonReload=no; /etc and /usr read-only to it (drop-ins: {props.get('DropInPaths')})")
    return pid


def restart_check(vm, plans, name, signal, unit):
    """Sends signal to the wall; times systemd's restart (its own clock) and the picture's return (host clock)."""
    before = vm.show("MainPID", "NRestarts")
    pid = int(before["MainPID"])
    t0 = time.monotonic()
    sent = float(vm.sh(f"cut -d' ' -f1 /proc/uptime; kill -{signal} {pid}")[1].split()[0])
    new = wait_wall(vm, plans, pid, int(unit["WatchdogSec"]) + 240, name)
    back = time.monotonic() - t0
    after = vm.show("NRestarts", "ExecMainStartTimestampMonotonic")
    started = int(after["ExecMainStartTimestampMonotonic"]) / 1e6
    lit = journal_mono(vm, "outputs lit", new)
    exited = journal_after(vm, "Main process exited", sent)
    starting = journal_after(vm, "Scheduled restart job", exited or sent)
    return pid, new, sent, started, lit, back, int(before["NRestarts"]), int(after["NRestarts"]), (exited, starting)


BACKEND_ENV = """# e2e-boot check 8: the usual room, a backend (tessera-signal in the guest, on loopback).
TESSERA_SIGNAL_URL=ws://127.0.0.1:8700/signal
TESSERA_ROOM=e2e
TESSERA_ALLOW_SCHEME=udp
TESSERA_ALLOW_HOST=127.0.0.1
TESSERA_RENDERER=cpu
TESSERA_PROGRESS=10
# The network limit on, with nothing on the list: only localhost, which is all this room needs.
TESSERA_IP_ALLOW=192.0.2.1
"""


def check_backend(vm, plans):
    """8: the usual room: tessera.env names a backend. The package's tessera-signal and six publishers
    (the same clips, over UDP) run in the guest as transient units; the wall, restarted by systemd with
    the installer's tessera.env, gets the room from the backend and shows it; its metrics say connected."""
    t0 = time.monotonic()
    vm.sh("install -m 0600 /etc/tessera/wall-token /run/e2e-wall-token && "
          "(umask 077; echo e2e-admin-token > /run/e2e-admin-token) && "
          "systemd-run --unit e2e-signal --property Restart=no tessera-signal --listen 127.0.0.1:8700 "
          "--wall-token-file /run/e2e-wall-token --admin-token-file /run/e2e-admin-token --room e2e --participants 6 "
          "--stream-url-template 'udp://127.0.0.1:{n+20000}'")
    deadline = time.monotonic() + 60
    while vm.sh("exec 5<>/dev/tcp/127.0.0.1/8700", check=False)[0] != 0:
        if time.monotonic() > deadline:
            _, st = vm.sh("systemctl status e2e-signal --no-pager -n 10 | cut -c1-200", check=False)
            raise Fail(f"8 backend: tessera-signal is not listening on 127.0.0.1:8700 after 60 s:\n{st}")
        time.sleep(1)
    for n in range(1, 7):
        vm.sh(f"systemd-run --unit e2e-pub{n} --property Restart=no tessera testsrc "
              f"--replay /usr/share/tessera-e2e/clips/p{n}.ts --to udp://127.0.0.1:{20000 + n}")
    old = int(vm.show("MainPID")["MainPID"])
    vm.sh(f"cat > /etc/tessera/tessera.env <<'EOF'\n{BACKEND_ENV}EOF\nsystemctl restart tessera")
    pid = wait_wall(vm, plans, old, 300, "8 backend")
    back = time.monotonic() - t0
    _, env_line = vm.sh(f"journalctl -q -u tessera _PID={pid} --no-pager -o cat | grep 'options from the environment' | tail -1",
                        check=False)
    want = "TESSERA_SIGNAL_URL, TESSERA_ROOM, TESSERA_RENDERER, TESSERA_ALLOW_SCHEME, TESSERA_ALLOW_HOST, TESSERA_PROGRESS"
    if want not in env_line:
        raise Fail(f"8 backend: the wall did not log the variables it used: {env_line or 'no line'}")
    _, metrics = vm.sh("exec 5<>/dev/tcp/127.0.0.1/9110 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&5 && "
                       "timeout 10 cat <&5 | grep -E '^tessera_(signal_connected|participants|streams)'", check=False)
    if "tessera_signal_connected 1" not in metrics or "tessera_participants 6" not in metrics:
        raise Fail(f"8 backend: /metrics does not say connected with 6 participants:\n{metrics}")
    props = vm.show("IPAddressDeny", "IPAddressAllow")
    if "192.0.2.1" not in props.get("IPAddressAllow", ""):
        raise Fail(f"8 backend: TESSERA_IP_ALLOW was not applied to the unit: {props}")
    playing = next((l for l in metrics.splitlines() if 'state="playing"' in l), "")
    log(f"8 backend: tessera.env → backend (tessera-signal in the guest), room e2e, 6 UDP publishers; the wall restarted by "
        f"systemd, connected, {playing.split()[-1] if playing else '?'} streams playing, the gallery right on both heads "
        f"{back:.1f} s after the edit (host clock); network limit on ({props.get('IPAddressAllow')}); {env_line.strip()[:140]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deb", required=True, help="tessera_<version>_amd64.deb (make deb builds it)")
    ap.add_argument("--stage", choices=["image", "all"], default="all", help="image: build the image only")
    args = ap.parse_args()
    cache = os.path.abspath(os.environ.get("E2E_BOOT_DIR", os.path.join(REPO, "out/e2e-boot")))
    os.makedirs(cache, exist_ok=True)
    deb = os.path.abspath(args.deb)
    vm = None
    results = []
    try:
        if os.geteuid() != 0:
            raise Fail("needs root (mmdebstrap --mode=root, chroot, the image's file owners): run it as root or with sudo")
        if not os.path.exists(deb):
            raise Fail(f"no package at {deb}: run `make deb` (make e2e-boot does) or set E2E_BOOT_DEB")
        if not os.path.exists(signal_deb_of(deb)):
            raise Fail(f"no {signal_deb_of(deb)} beside {deb}: `make deb` builds both")
        ensure_packages()
        version = deb_field(deb, "Version")
        log(f"package {os.path.basename(deb)} (version {version})")
        tessera = host_tessera(deb, cache)
        base = build_base(cache, depends_names(deb))
        image = build_image(cache, base, deb, tessera, f"{version}-{script_hash(version)}")
        vmlinux, initrd, kver = kernel(base, cache)
        log(f"kernel {kver}, initrd {os.path.getsize(initrd) // 1024} KiB, image {os.path.basename(image)}")
        if args.stage == "image":
            return
        unit = unit_settings(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(tessera))),
                                          "lib/systemd/system/tessera.service"))
        plans = {p: e2e_kms.plan(tessera, p) for p in ("gallery", "focus")}
        work = os.path.join(cache, "run")
        shutil.rmtree(work, ignore_errors=True); os.makedirs(work)

        vm = BootVM(work, vmlinux, initrd, image, 2400)
        log(f"booting (serial log {os.path.relpath(vm.serial_log.name, REPO)})")
        vm.wait_for(lambda l: "E2E: agent up" in l, 300, "the test agent's start")
        log(f"guest up (agent answering) after {time.monotonic() - vm.started:.1f} s")
        pid = wait_wall(vm, plans, None, 300, "boot")
        first = time.monotonic() - vm.started
        lit = journal_mono(vm, "outputs lit", pid)
        log(f"boot → the wall's first right picture on both heads: {first:.1f} s (QEMU start → screendumps match; "
            f"outputs lit at {lit:.1f} s guest uptime)")
        results.append(f"boot → picture {first:.0f} s")
        for l in systemd_lines(vm):
            log(f"  journal: {l}")

        pid = check_unit(vm, unit)
        results.append("1 unit ok")
        n = sum(len(o["tiles"]) for o in plans["gallery"])
        log(f"2 screens: preset gallery, {n} tiles in the rectangles `tessera plan` gives on 2 heads "
            f"({', '.join(o['mode'] for o in plans['gallery'])}); screendumps in {os.path.relpath(work, REPO)}")
        results.append("2 screens ok")

        deadline = time.monotonic() + 60
        while True:
            _, kb = vm.sh(f"journalctl -q -u tessera _PID={pid} --no-pager | grep -E 'reading keys|keyboard unavailable' | tail -1",
                          check=False)
            if kb or time.monotonic() > deadline:
                break
            time.sleep(1)
        if "reading keys" not in kb:
            raise Fail(f"3 key: the wall is not reading keys through libinput: {kb or 'no line in the journal'}")
        vm.qmp_cmd("send-key", keys=[{"type": "qcode", "data": "2"}], **{"hold-time": 80})
        t = time.monotonic()
        while True:
            rc, _ = vm.sh(f"journalctl -q -u tessera _PID={pid} --no-pager | grep -q 'preset=focus source=keyboard'", check=False)
            if rc == 0:
                break
            if time.monotonic() - t > 60:
                raise Fail("3 key: no preset change to focus in the journal within 60 s of key 2")
            time.sleep(0.5)
        n = e2e_kms.check_screens(vm, plans["focus"], "focus", 120)
        log(f"3 key: QMP send-key 2 → libinput ({kb.split('tessera.kiosk: ', 1)[-1][:60]}) → preset focus on screen ({n} tiles), "
            f"{time.monotonic() - t:.1f} s")
        results.append("3 key ok")

        old, new, sent, started, lit, back, n0, n1, starting = restart_check(vm, plans, "sigstop", "STOP", unit)
        fired = journal_mono(vm, "[Ww]atchdog timeout")
        _, wl = vm.sh(f"journalctl -u tessera --no-pager -q -o cat _PID=1 | grep -iE 'watchdog' | tail -3", check=False)
        if fired is None or fired < sent:
            raise Fail(f"4 watchdog: PID {old} was restarted but the journal has no watchdog timeout: {wl}")
        log(f"4 watchdog: SIGSTOP to PID {old} → watchdog timeout {fired - sent:.1f} s after the stop "
            f"(WatchdogSec={unit['WatchdogSec']}), new PID {new} started {started - sent:.1f} s after the stop, "
            f"outputs lit {lit - sent:.1f} s, right picture on both heads {back:.1f} s (host clock); NRestarts {n0} → {n1}")
        for l in wl.splitlines():
            log(f"  journal: {l}")
        results.append(f"4 watchdog: picture back {back:.0f} s")

        old, new, sent, started, lit, back, n0, n1, starting = restart_check(vm, plans, "kill9", "9", unit)
        restart_sec = float(unit["RestartSec"])
        exited, starting = starting
        if exited is None or starting is None:
            raise Fail("5 kill -9: no 'Main process exited' and 'Scheduled restart job' lines in the journal after the kill")
        delay = starting - exited
        log(f"5 kill -9: PID {old} → exit seen {exited - sent:.1f} s after the kill, restart scheduled {delay:.1f} s after "
            f"the exit (RestartSec={unit['RestartSec']}), new PID {new} running (after ExecStartPre) at {started - sent:.1f} s, "
            f"outputs lit {lit - sent:.1f} s, right picture on both heads {back:.1f} s (host clock); NRestarts {n0} → {n1}")
        if delay > restart_sec + 1:
            raise Fail(f"5 kill -9: restart scheduled {delay:.1f} s after the exit, RestartSec is {unit['RestartSec']}")
        results.append(f"5 kill -9: restart {delay:.1f} s, picture back {back:.0f} s")

        _, journal = vm.sh("journalctl -u tessera -b --no-pager -o short-monotonic -n 30 | cut -c1-220")
        log("7 journal before the reboot (journalctl -u tessera -n 30):")
        for l in journal.splitlines():
            print("    " + l, flush=True)
        _, errs = vm.sh("journalctl -u tessera -b --no-pager -q -p err -o cat | cut -c1-200", check=False)
        log(f"  lines at priority err or worse: {len(errs.splitlines()) if errs else 0}" + (": " + " | ".join(errs.splitlines()[:6]) if errs else ""))

        t0 = time.monotonic()
        before = vm.uptime()
        vm.send_only("systemctl reboot")
        vm.wait_for(lambda l: (m := re.search(r"E2E: agent up uptime=([\d.]+)", l)) and float(m.group(1)) < before,
                    300, "the agent after the reboot")
        pid = wait_wall(vm, plans, None, 300, "reboot")
        back = time.monotonic() - t0
        lit = journal_mono(vm, "outputs lit", pid)
        log(f"6 reboot: systemctl reboot → right picture on both heads after {back:.1f} s (host clock; outputs lit at "
            f"{lit:.1f} s guest uptime)")
        results.append(f"6 reboot: picture back {back:.0f} s")

        rc, doctor = vm.sh("runuser -u tessera -- tessera doctor --layout /etc/tessera/layout.json "
                           "--token-file /etc/tessera/wall-token", check=False)
        log(f"7 doctor (as the tessera user, as postinst says): exit {rc}")
        for l in doctor.splitlines():
            print("    " + l, flush=True)
        if rc != 0:
            raise Fail(f"7 doctor: exit {rc}")
        _, journal = vm.sh("journalctl -u tessera -b --no-pager -o short-monotonic -n 12 | cut -c1-220")
        log("7 journal after the reboot (journalctl -u tessera -n 12):")
        for l in journal.splitlines():
            print("    " + l, flush=True)
        results.append("7 journal, doctor ok")

        check_backend(vm, plans)
        results.append("8 backend ok")

        t0 = time.monotonic()
        vm.send_only("systemctl poweroff")
        try:
            vm.p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            raise Fail("the guest did not power off within 120 s")
        log(f"powered off in {time.monotonic() - t0:.1f} s")
        log("PASS: " + "; ".join(results) + f"; {time.monotonic() - T0:.0f} s in all")
        print(f"e2e-boot: {len(results) - 1} passed, 0 failed", flush=True)
    except (Fail, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
        log(f"FAIL: {type(e).__name__}: {e}")
        if vm and vm.agent and vm.p.poll() is None:
            try:
                _, st = vm.sh("systemctl status tessera --no-pager -n 20 | cut -c1-220", timeout=20, check=False)
                print(st, flush=True)
            except Fail:
                pass
        print(f"e2e-boot: {len(results)} passed, 1 failed", flush=True)
        sys.exit(1)
    finally:
        if vm:
            vm.kill()
            if vm.qmp:
                vm.qmp.close()


if __name__ == "__main__":
    main()
