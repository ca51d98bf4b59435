/* SPDX-License-Identifier: GPL-2.0 */
/* parse: the one number syntax of the command line and of /etc/vxtstab. */
#ifndef VXTS_PARSE_H
#define VXTS_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A decimal number of digits only (no sign, no blank), with @suffix an
 * optional K, M or G (x1024, "KiB" style accepted), at most @max.
 * Returns 0, -EINVAL for anything else, -ERANGE above @max.
 */
int vxts_parse_num(const char *s, uint64_t max, bool suffix, uint64_t *out);

#endif
