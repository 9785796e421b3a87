// libinput + xkbcommon (+ libudev, which libinput's udev seat needs) for Swift.
#ifndef TESSERA_CINPUT_SHIM_H
#define TESSERA_CINPUT_SHIM_H
#include <libinput.h>
#include <libudev.h>
#include <xkbcommon/xkbcommon.h>
#endif
