// EGL + GLES 3 for Swift: EGL_NO_* and other pointer-cast macros as prefixed static inline values.
#ifndef TESSERA_CEGL_SHIM_H
#define TESSERA_CEGL_SHIM_H
#define EGL_EGLEXT_PROTOTYPES 1
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES3/gl32.h>
#include <GLES2/gl2ext.h>

static inline EGLDisplay tessera_egl_no_display(void) { return EGL_NO_DISPLAY; }
static inline EGLContext tessera_egl_no_context(void) { return EGL_NO_CONTEXT; }
static inline EGLSurface tessera_egl_no_surface(void) { return EGL_NO_SURFACE; }
static inline EGLNativeDisplayType tessera_egl_default_display(void) { return EGL_DEFAULT_DISPLAY; }
#endif
