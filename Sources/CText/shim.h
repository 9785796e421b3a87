// Text for name labels and slates (TesseraRender): FreeType rasterises, HarfBuzz shapes, FriBidi
// orders mixed-direction text, fontconfig finds a font for every script. One module, so that the
// FreeType types HarfBuzz's hb-ft.h uses are the same Swift types as FreeType's own.
#ifndef TESSERA_CTEXT_SHIM_H
#define TESSERA_CTEXT_SHIM_H
#include <ft2build.h>
#include FT_FREETYPE_H
#include <hb.h>
#include <hb-ft.h>
#include <fribidi/fribidi.h>
#include <fontconfig/fontconfig.h>

// Macros Swift cannot import.
static inline FriBidiParType tessera_fribidi_par_on(void) { return FRIBIDI_PAR_ON; }
static inline const char *tessera_fc_file(void) { return FC_FILE; }
static inline const char *tessera_fc_index(void) { return FC_INDEX; }
static inline const char *tessera_fc_charset(void) { return FC_CHARSET; }
#endif
