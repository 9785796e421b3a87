// libdrm + GBM + libudev (hot-plug) + the VT ioctls for Swift: the macros and variadic calls Swift
// cannot import, as prefixed static inline functions.
#ifndef TESSERA_CDRM_SHIM_H
#define TESSERA_CDRM_SHIM_H
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/vt.h>
#include <linux/kd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>
#include <gbm.h>
#include <libudev.h>

static inline uint32_t tessera_drm_format_xrgb8888(void) { return DRM_FORMAT_XRGB8888; }
static inline uint32_t tessera_drm_format_argb8888(void) { return DRM_FORMAT_ARGB8888; }
static inline uint32_t tessera_drm_format_nv12(void) { return DRM_FORMAT_NV12; }
static inline uint64_t tessera_drm_format_mod_invalid(void) { return DRM_FORMAT_MOD_INVALID; }
static inline uint32_t tessera_gbm_format_xrgb8888(void) { return GBM_FORMAT_XRGB8888; }

/// drmEventContext with only the page-flip handler set (DRM_EVENT_CONTEXT_VERSION 2), so Swift
/// passes one C function and gets the user data back per flip.
typedef void (*tessera_page_flip_fn)(int fd, unsigned int sequence, unsigned int sec, unsigned int usec, void *user_data);
static inline int tessera_drm_handle_page_flips(int fd, tessera_page_flip_fn handler) {
    drmEventContext ctx = {0};
    ctx.version = 2;
    ctx.page_flip_handler = handler;
    return drmHandleEvent(fd, &ctx);
}

/// The VT a kiosk runs on (`fd` is the controlling tty): VT_GETMODE succeeds only on a VT.
static inline int tessera_vt_is_vt(int fd) { struct vt_mode m; return ioctl(fd, VT_GETMODE, &m) == 0; }
/// VT_SETMODE VT_PROCESS: the kernel asks (signal `relsig`) before switching away and tells
/// (signal `acqsig`) when the VT is ours again.
static inline int tessera_vt_set_process(int fd, int relsig, int acqsig) {
    struct vt_mode m = {0};
    m.mode = VT_PROCESS; m.relsig = (short)relsig; m.acqsig = (short)acqsig; m.frsig = 0;
    return ioctl(fd, VT_SETMODE, &m);
}
/// VT_SETMODE VT_AUTO: back to the kernel's own switching (on exit).
static inline int tessera_vt_set_auto(int fd) { struct vt_mode m = {0}; m.mode = VT_AUTO; return ioctl(fd, VT_SETMODE, &m); }
/// VT_RELDISP 1 (allow the switch away) or VT_ACKACQ (the VT is back).
static inline int tessera_vt_release(int fd) { return ioctl(fd, VT_RELDISP, 1); }
static inline int tessera_vt_ack_acquire(int fd) { return ioctl(fd, VT_RELDISP, VT_ACKACQ); }
/// KDSETMODE KD_GRAPHICS / KD_TEXT: no text console drawing over the wall, restored on exit.
static inline int tessera_kd_set_graphics(int fd, int graphics) { return ioctl(fd, KDSETMODE, graphics ? KD_GRAPHICS : KD_TEXT); }
#endif
