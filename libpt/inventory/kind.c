// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What kind of device it is, from its class: the one rule the report, the doctor, the guard,
 * the emitters and the recipes use ("is it a GPU" is decided here and nowhere else).
 */
#include "libpt-private.h"

PT_EXPORT const char *pt_device_get_kind(const pt_device *dev)
{
	static const char *const by_base[] = {
		[0x01] = "storage", [0x02] = "network", [0x03] = "gpu", [0x04] = "multimedia", [0x06] = "bridge",
		[0x07] = "communication", [0x08] = "system", [0x09] = "input", [0x0c] = "serial-bus",
		[0x0d] = "wireless", [0x12] = "accelerator",
	};
	unsigned base, sub;

	if (!dev || dev->class < 0)
		return "unknown";
	base = (unsigned)dev->class >> 16;
	sub = ((unsigned)dev->class >> 8) & 0xff;
	if (base == 0x04 && (sub == 0x01 || sub == 0x03))
		return "audio"; /* an audio device; HD Audio: a GPU's HDMI audio, the onboard codec */
	if (base == 0x0c && sub == 0x03)
		return "usb";
	if (base < sizeof(by_base) / sizeof(*by_base) && by_base[base])
		return by_base[base];
	return "other";
}
