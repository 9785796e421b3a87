#!/bin/bash
# boot.sh [KEY=VALUE…]: boots $WORK/initramfs.cpio with two virtio heads (Virtual-2 forced to
# 1024x768), serial console on stdout, QMP on $WORK/qmp.sock. TCG: the host's /dev/kvm is not usable.
cd "${WORK:-/tmp/kms-vm}"
timeout ${TIMEOUT:-240} qemu-system-x86_64 -machine pc -accel tcg -smp 2 -m 2048M -nodefaults -no-user-config -nic none \
  -display none -serial stdio -qmp unix:qmp.sock,server=on,wait=off \
  -device virtio-vga,id=video0,xres=1280,yres=800,max_outputs=2 \
  -kernel vmlinuz -initrd initramfs.cpio -no-reboot \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 video=Virtual-2:1024x768e $*"
