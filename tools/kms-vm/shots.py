# Boots the VM (boot.sh) and, while each renderer's run has the heads lit, screendumps both heads
# through QMP to $WORK/{cpu,gles}-head{0,1}.png. The serial log goes to $WORK/serial.log.
import json, os, socket, subprocess, sys, time
here = os.path.dirname(os.path.abspath(__file__))
work = os.environ.get("WORK", "/tmp/kms-vm")
os.chdir(work)
p = subprocess.Popen([os.path.join(here, "boot.sh"), "FRAMES=150"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
def qmp(cmds):
    s = socket.socket(socket.AF_UNIX); s.connect(os.path.join(work, "qmp.sock")); f = s.makefile("rw")
    f.readline(); f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n"); f.flush(); f.readline()
    for c in cmds:
        f.write(json.dumps(c) + "\n"); f.flush(); print("qmp:", f.readline().strip()[:200], flush=True)
    s.close()
phase = None
log = open("serial.log", "w")
for line in p.stdout:
    log.write(line); log.flush()
    if "=== MARK" in line: phase = line.split()[-1]
    if "outputs lit" in line and phase in ("cpu", "gles"):
        time.sleep(3 if phase == "cpu" else 20)
        qmp([{"execute": "screendump", "arguments": {"filename": os.path.join(work, f"{phase}-head{h}.png"), "format": "png", "device": "video0", "head": h}} for h in (0, 1)])
p.wait()
print("exit", p.returncode)
