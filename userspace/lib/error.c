// SPDX-License-Identifier: GPL-2.0
/*
 * error: thread-local failure detail. One buffer per thread so two threads
 * converting two volumes never see each other's messages.
 */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"
#include "vxts.h"

static __thread char vxts_err_buf[512];

int vxts_err(int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vxts_err_buf, sizeof(vxts_err_buf), fmt, ap);
	va_end(ap);
	return r;
}

void vxts_err_clear(void)
{
	vxts_err_buf[0] = '\0';
}

const char *vxts_error_detail(void)
{
	return vxts_err_buf;
}
