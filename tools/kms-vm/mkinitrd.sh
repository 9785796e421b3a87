#!/bin/bash
# Builds $WORK/initramfs.cpio: busybox, the virtio-gpu modules, the tessera binary and what it and
# Mesa load (see shared/notes/kms-vm.md). Needs busybox-static; fetches the kernel package once.
# Usage: tools/kms-vm/mkinitrd.sh [TESSERA_BINARY]   (default .build/debug/tessera)
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/kms-vm}
BIN=$(realpath "${1:-.build/debug/tessera}")
mkdir -p "$WORK"; cd "$WORK"
if [ ! -d k ]; then
  KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
  apt-get download "$KPKG" && dpkg -x "$KPKG"_*.deb k
fi
KV=$(ls k/lib/modules | head -1)
[ -f k/lib/modules/$KV/modules.dep ] || busybox depmod -b k "$KV"
ln -sf "k/boot/vmlinuz-$KV" vmlinuz
R=$WORK/root
rm -rf $R; mkdir -p $R/{bin,dev,proc,sys,tmp,etc,usr/lib,usr/lib64,usr/share,mod,run}
ln -s usr/lib $R/lib; ln -s usr/lib64 $R/lib64
cp /bin/busybox $R/bin/busybox
for a in sh mount insmod sleep cat echo poweroff ls mkdir; do ln -sf busybox $R/bin/$a; done
for m in virtio_pci_modern_dev virtio_pci_legacy_dev virtio_ring virtio virtio_pci drm drm_kms_helper drm_shmem_helper virtio_dma_buf virtio-gpu; do
  f=$(find $WORK/k/lib/modules/$KV -name "$m.ko*" | head -1); cp "$f" $R/mod/
done
strip -o $R/bin/tessera "$BIN"
cp "$HERE/two-heads.json" $R/vm-layout.json
D=/usr/lib/x86_64-linux-gnu
extra="$D/dri/kms_swrast_dri.so $D/libEGL_mesa.so.0 $D/libGLESv2.so.2 $D/libgbm.so.1"
copy() { local f="$1"; local dst="$R$(dirname "$f")"; mkdir -p "$dst"; cp -L "$f" "$dst/" 2>/dev/null || true; }
for bin in $R/bin/tessera $extra; do
  for lib in $(ldd "$bin" | grep -oE '/[^ ]+' ); do
    case "$lib" in /lib/*) lib=/usr$lib;; esac
    copy "$lib"
  done
done
for f in $extra /lib64/ld-linux-x86-64.so.2; do copy "$f"; done
mkdir -p $R/usr/lib64; cp -L /lib64/ld-linux-x86-64.so.2 $R/usr/lib64/
ln -sf kms_swrast_dri.so $R$D/dri/swrast_dri.so; ln -sf kms_swrast_dri.so $R$D/dri/virtio_gpu_dri.so
mkdir -p $R/usr/share/glvnd/egl_vendor.d; cp /usr/share/glvnd/egl_vendor.d/50_mesa.json $R/usr/share/glvnd/egl_vendor.d/
mkdir -p $R/usr/share/drirc.d; cp -r /usr/share/drirc.d/* $R/usr/share/drirc.d/ 2>/dev/null || true
mkdir -p $R/usr/share/fonts/truetype; cp -r /usr/share/fonts/truetype/dejavu $R/usr/share/fonts/truetype/
cp "$HERE/init" $R/init; chmod +x $R/init
(cd $R && find . | busybox cpio -o -H newc > "$WORK/initramfs.cpio") 2>/dev/null
du -sh "$WORK/initramfs.cpio"
