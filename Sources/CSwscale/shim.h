// libswscale for the CPU renderer (TesseraRender): scaling and YUV → RGB straight into output buffers.
#ifndef TESSERA_CSWSCALE_SHIM_H
#define TESSERA_CSWSCALE_SHIM_H
#include <libswscale/swscale.h>
#include <libavutil/pixfmt.h>
#include <libavutil/imgutils.h>
#endif
