// libdrm + GBM for Swift: the macros Swift cannot import, as prefixed static inline values.
#ifndef TESSERA_CDRM_SHIM_H
#define TESSERA_CDRM_SHIM_H
#include <stdint.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>
#include <gbm.h>

static inline uint32_t tessera_drm_format_xrgb8888(void) { return DRM_FORMAT_XRGB8888; }
static inline uint32_t tessera_drm_format_argb8888(void) { return DRM_FORMAT_ARGB8888; }
static inline uint32_t tessera_drm_format_nv12(void) { return DRM_FORMAT_NV12; }
static inline uint64_t tessera_drm_format_mod_invalid(void) { return DRM_FORMAT_MOD_INVALID; }
static inline uint32_t tessera_gbm_format_xrgb8888(void) { return GBM_FORMAT_XRGB8888; }
#endif
