// FFmpeg for Swift: the headers TesseraMedia uses, and the macros Swift cannot import,
// wrapped as prefixed static inline functions (see docs/ARCHITECTURE.md, "C shims").
#ifndef TESSERA_CFFMPEG_SHIM_H
#define TESSERA_CFFMPEG_SHIM_H
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

/// AVERROR(e) for a positive errno value.
static inline int tessera_averror(int errnum) { return AVERROR(errnum); }
/// AVERROR_EOF.
static inline int tessera_averror_eof(void) { return AVERROR_EOF; }
/// AVERROR(EAGAIN): "send more input / read output first".
static inline int tessera_averror_eagain(void) { return AVERROR(EAGAIN); }
/// AV_NOPTS_VALUE.
static inline int64_t tessera_av_nopts_value(void) { return AV_NOPTS_VALUE; }
/// AV_ERROR_MAX_STRING_SIZE, for buffers passed to av_make_error_string.
static inline int tessera_av_error_max_string_size(void) { return AV_ERROR_MAX_STRING_SIZE; }
#endif
