// SPDX-License-Identifier: GPL-2.0
/*
 * parse: numbers as operators write them, on the command line and in the
 * boot table. One parser so that "64M" means the same in both places.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "parse.h"

int vxts_parse_num(const char *s, uint64_t max, bool suffix, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (suffix && *end) {
		switch (*end) {
		case 'k': case 'K': mult = 1ULL << 10; break;
		case 'm': case 'M': mult = 1ULL << 20; break;
		case 'g': case 'G': mult = 1ULL << 30; break;
		default: return -EINVAL;
		}
		end++;
		if (end[0] == 'i' && end[1] == 'B')
			end += 2;
	}
	if (*end)
		return -EINVAL;
	if (v > max / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}
