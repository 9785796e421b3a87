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
#include <libavutil/avstring.h>
#include <string.h>
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
#include <libavutil/hwcontext.h>
#include <libavutil/time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdarg.h>

/// AVERROR_INVALIDDATA, AVERROR_EXIT, AVERROR_DECODER_NOT_FOUND.
static inline int tessera_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int tessera_averror_exit(void) { return AVERROR_EXIT; }
static inline int tessera_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
/// AV_TIME_BASE (microseconds).
static inline int tessera_av_time_base(void) { return AV_TIME_BASE; }
/// AV_PKT_FLAG_KEY.
static inline int tessera_av_pkt_flag_key(void) { return AV_PKT_FLAG_KEY; }
/// AV_CODEC_FLAG_LOW_DELAY (the way to get low delay; `flags=low_delay` on open is ignored).
static inline int tessera_av_codec_flag_low_delay(void) { return AV_CODEC_FLAG_LOW_DELAY; }
/// AV_CODEC_FLAG2_FAST.
static inline int tessera_av_codec_flag2_fast(void) { return AV_CODEC_FLAG2_FAST; }
/// AVFMT_FLAG_NOBUFFER and AVFMT_FLAG_DISCARD_CORRUPT.
static inline int tessera_avfmt_flag_nobuffer(void) { return AVFMT_FLAG_NOBUFFER; }
static inline int tessera_avfmt_flag_discard_corrupt(void) { return AVFMT_FLAG_DISCARD_CORRUPT; }
/// AVFMT_NOFILE: the muxer does its own I/O (no avio_open needed).
static inline int tessera_avfmt_nofile(void) { return AVFMT_NOFILE; }
/// FF_THREAD_SLICE (slice threads add no frame of delay, unlike frame threads).
static inline int tessera_ff_thread_slice(void) { return FF_THREAD_SLICE; }
/// FF_THREAD_FRAME (tests: messages logged on a decoder's own threads).
static inline int tessera_ff_thread_frame(void) { return FF_THREAD_FRAME; }
/// AV_CODEC_FLAG_OUTPUT_CORRUPT and AV_EF_EXPLODE are not used: corrupt frames are counted, not fatal.

/// Plane pointers and strides of an AVFrame, which Swift sees as 8-tuples.
static inline const uint8_t *tessera_frame_plane(const AVFrame *f, int i) { return f->data[i]; }
static inline uint8_t *tessera_frame_plane_mut(AVFrame *f, int i) { return f->data[i]; }
static inline int tessera_frame_linesize(const AVFrame *f, int i) { return f->linesize[i]; }

/// The interrupt state behind every blocking libavformat call of one stream: `stop` ends it at
/// once (shutdown, scene change); `deadline_us` (av_gettime_relative) bounds it in time (0: none).
typedef struct tessera_interrupt {
    /// TESSERA_INTERRUPT_MAGIC: tells our state from another opaque (static inline functions have
    /// one copy per Swift file, so the callback's address cannot be compared).
    uint64_t magic;
    _Atomic int stop;
    _Atomic int64_t deadline_us;
    /// The URL the policy checked and its host (see tessera_redirect_guard).
    char url[4104];
    char host[256];
    /// Set when the guard refused a redirect; `refused_host` is where it pointed.
    _Atomic int redirect_refused;
    char refused_host[256];
} tessera_interrupt;

static inline int tessera_interrupt_check(void *opaque) {
    tessera_interrupt *s = (tessera_interrupt *)opaque;
    if (atomic_load_explicit(&s->stop, memory_order_relaxed)) return 1;
    int64_t d = atomic_load_explicit(&s->deadline_us, memory_order_relaxed);
    return d > 0 && av_gettime_relative() > d;
}
#define TESSERA_INTERRUPT_MAGIC 0x7465737365726131ULL
static inline tessera_interrupt *tessera_interrupt_new(void) {
    tessera_interrupt *s = (tessera_interrupt *)av_mallocz(sizeof(tessera_interrupt));
    if (s) s->magic = TESSERA_INTERRUPT_MAGIC;
    return s;
}
static inline void tessera_interrupt_set_stop(tessera_interrupt *s, int stop) { atomic_store(&s->stop, stop); }
/// The URL about to be opened and the host the URL policy allowed (lower case), before each open.
static inline void tessera_interrupt_set_target(tessera_interrupt *s, const char *url, const char *host) {
    av_strlcpy(s->url, url, sizeof s->url);
    av_strlcpy(s->host, host, sizeof s->host);
    s->refused_host[0] = 0;
    atomic_store(&s->redirect_refused, 0);
}
static inline int tessera_interrupt_redirect_refused(tessera_interrupt *s) { return atomic_load(&s->redirect_refused); }
static inline const char *tessera_interrupt_refused_host(tessera_interrupt *s) { return s->refused_host; }
static inline int tessera_interrupt_stopped(tessera_interrupt *s) { return atomic_load(&s->stop); }
/// Arms the deadline `timeout_us` from now; 0 disarms it.
static inline void tessera_interrupt_arm(tessera_interrupt *s, int64_t timeout_us) {
    atomic_store(&s->deadline_us, timeout_us > 0 ? av_gettime_relative() + timeout_us : 0);
}
/// Installs the callback on a format context before avformat_open_input.
static inline void tessera_interrupt_install(AVFormatContext *ctx, tessera_interrupt *s) {
    ctx->interrupt_callback.callback = tessera_interrupt_check;
    ctx->interrupt_callback.opaque = s;
}
/// The same callback for avio_open2 (output side of the test publisher).
static inline AVIOInterruptCB tessera_interrupt_cb(tessera_interrupt *s) {
    AVIOInterruptCB cb = { tessera_interrupt_check, s };
    return cb;
}
/// get_format for VAAPI decoding: the hardware format when the decoder offers it, the decoder's
/// default software format otherwise (so a stream VAAPI cannot do still decodes).
static inline enum AVPixelFormat tessera_get_format_vaapi(AVCodecContext *ctx, const enum AVPixelFormat *fmts) {
    for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++)
        if (*p == AV_PIX_FMT_VAAPI) return *p;
    return avcodec_default_get_format(ctx, fmts);
}
static inline void tessera_codec_use_vaapi(AVCodecContext *ctx, AVBufferRef *device) {
    ctx->hw_device_ctx = av_buffer_ref(device);
    ctx->get_format = tessera_get_format_vaapi;
}
/// VAAPI surfaces exported as dma-bufs (DRM-PRIME): the descriptor's fixed arrays, which Swift
/// sees as 4-tuples, by index, and AV_HWFRAME_MAP_READ.
#include <libavutil/hwcontext_drm.h>
static inline int tessera_av_drm_max_planes(void) { return AV_DRM_MAX_PLANES; }
static inline int tessera_av_hwframe_map_read(void) { return AV_HWFRAME_MAP_READ; }
static inline AVDRMObjectDescriptor *tessera_drm_object(AVDRMFrameDescriptor *d, int i) { return &d->objects[i]; }
static inline AVDRMLayerDescriptor *tessera_drm_layer(AVDRMFrameDescriptor *d, int i) { return &d->layers[i]; }
static inline AVDRMPlaneDescriptor *tessera_drm_plane(AVDRMLayerDescriptor *l, int i) { return &l->planes[i]; }
/// The descriptor a DRM-PRIME frame carries in data[0].
static inline AVDRMFrameDescriptor *tessera_frame_drm_descriptor(const AVFrame *f) { return (AVDRMFrameDescriptor *)f->data[0]; }

/// FFmpeg's own log lines, routed to one Swift sink instead of standard error, each with the
/// stream token of the context that logged it (tessera_log_token). The sink and the forwarder are
/// static, so only one Swift file (FFmpegLog.swift) may call these.
typedef void (*tessera_log_sink_fn)(int level, uintptr_t token, const char *line);
static inline tessera_log_sink_fn *tessera_log_sink_slot(void) {
    static tessera_log_sink_fn slot;
    return &slot;
}
/// RTSP redirects (FFmpeg 5.1, libavformat/rtsp.c, ff_rtsp_connect): on a 3xx reply the demuxer
/// replaces the context's `url` with the Location, logs "Status %d: Redirecting to %s" with the
/// format context, and connects there, with no hook in between but that log call. So every message
/// a format context of ours logs (its interrupt opaque is a tessera_interrupt) is a chance to
/// compare its `url` with the URL we opened. When the host differs from the one the URL policy
/// allowed, the context's protocol whitelist becomes "none": ffurl_connect checks the whitelist
/// before any protocol opens (libavformat/avio.c), so nothing is resolved or connected, and the
/// stream's interrupt records the refusal (with the host) for a clear error. A redirect to another
/// path or port of the allowed host is followed. Called for every message, whatever its level.
static inline void tessera_redirect_guard(void *avcl) {
    if (!avcl || *(const AVClass **)avcl != avformat_get_class()) return;
    AVFormatContext *ctx = (AVFormatContext *)avcl;
    if (!ctx->interrupt_callback.callback || !ctx->interrupt_callback.opaque || !ctx->url) return;
    tessera_interrupt *s = (tessera_interrupt *)ctx->interrupt_callback.opaque;
    if (s->magic != TESSERA_INTERRUPT_MAGIC || !s->url[0] || !strcmp(ctx->url, s->url)) return;
    char host[256];
    av_url_split(NULL, 0, NULL, 0, host, sizeof host, NULL, NULL, 0, ctx->url);
    if (!av_strcasecmp(host, s->host)) {
        av_strlcpy(s->url, ctx->url, sizeof s->url); // followed: compare with the new URL from now on
        return;
    }
    av_strlcpy(s->refused_host, host, sizeof s->refused_host);
    atomic_store(&s->redirect_refused, 1);
    av_freep(&ctx->protocol_whitelist);
    ctx->protocol_whitelist = av_strdup("none");
    if (!ctx->protocol_whitelist) atomic_store(&s->stop, 1); // no memory: stop the open instead
}
/// The stream token (0: none) in the `opaque` of the context that logs a message: `avcl` points
/// to a struct whose first field is its AVClass. A decoder's frame threads log with copies of its
/// AVCodecContext (FFmpeg 5.1 libavcodec/pthread_frame.c, init_thread: av_memdup of the whole
/// context; update_context_from_user copies `opaque` again) and its slice threads with the context
/// itself, so the token reaches the callback from every thread. Swift checks the value against the
/// tokens it handed out, so a foreign `opaque` is never taken for one.
static inline uintptr_t tessera_log_token(void *avcl) {
    if (!avcl) return 0;
    const AVClass *c = *(const AVClass **)avcl;
    if (c == avcodec_get_class()) return (uintptr_t)((AVCodecContext *)avcl)->opaque;
    if (c == avformat_get_class()) return (uintptr_t)((AVFormatContext *)avcl)->opaque;
    return 0;
}
static inline void tessera_log_forward(void *avcl, int level, const char *fmt, va_list vl) {
    tessera_redirect_guard(avcl);
    tessera_log_sink_fn sink = *tessera_log_sink_slot();
    if (level > av_log_get_level() || !sink) return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, vl);
    sink(level, tessera_log_token(avcl), line);
}
static inline void tessera_log_install(tessera_log_sink_fn sink, int level) {
    *tessera_log_sink_slot() = sink;
    av_log_set_level(level);
    av_log_set_callback(sink ? tessera_log_forward : av_log_default_callback);
}
/// sws_scale over whole frames (Swift sees AVFrame.data/linesize as tuples).
static inline int tessera_sws_scale_frame(struct SwsContext *sws, AVFrame *dst, const AVFrame *src) {
    return sws_scale(sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height, dst->data, dst->linesize);
}
/// glibc's malloc tuning (malloc.h is not in Swift's Glibc module). Media fixes the mmap
/// threshold: glibc raises it each time a large mmapped block is freed, after which the large,
/// mostly unwritten buffers of every stream (200 KiB MPEG-TS PES buffers, codec contexts) come
/// from the heap, where pages written by earlier users stay resident.
#include <malloc.h>
static inline int tessera_malloc_set_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
/// Bytes malloc has handed out and not had back (all arenas, mmapped chunks included).
static inline size_t tessera_malloc_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}
/// Bytes malloc holds free for reuse (all arenas): resident where they were written before, until
/// `malloc_trim` hands their whole pages back.
static inline size_t tessera_malloc_free_held(void) { return mallinfo2().fordblks; }
/// Hands every whole free page of every arena back to the system (`MADV_DONTNEED`), not only the
/// top of each heap; returns 1 when anything was released.
static inline int tessera_malloc_trim(void) { return malloc_trim(0); }
/// MPEG-TS (or any container) bytes in memory as an AVIOContext: the `mpegts` fuzz harness feeds
/// the demuxer and decoder without a network or a file (MemoryDemux.swift).
typedef struct tessera_mem_input { const uint8_t *data; size_t size; size_t pos; } tessera_mem_input;
static inline int tessera_mem_read(void *opaque, uint8_t *buf, int size) {
    tessera_mem_input *m = (tessera_mem_input *)opaque;
    size_t left = m->size - m->pos;
    if (left == 0 || size <= 0) return AVERROR_EOF;
    size_t n = left < (size_t)size ? left : (size_t)size;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (int)n;
}
static inline AVIOContext *tessera_mem_avio(tessera_mem_input *m) {
    unsigned char *buf = (unsigned char *)av_malloc(4096);
    if (!buf) return NULL;
    AVIOContext *io = avio_alloc_context(buf, 4096, 0, m, tessera_mem_read, NULL, NULL);
    if (!io) av_free(buf);
    return io;
}
static inline void tessera_mem_avio_free(AVIOContext *io) {
    if (!io) return;
    av_freep(&io->buffer);
    avio_context_free(&io);
}
/// AVFMT_FLAG_CUSTOM_IO.
static inline int tessera_avfmt_flag_custom_io(void) { return AVFMT_FLAG_CUSTOM_IO; }
#endif
