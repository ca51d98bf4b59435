/* SPDX-License-Identifier: GPL-2.0 */
/*
 * error: the thread-local detail string behind vxts_error_detail().
 *
 * Library code never prints; it returns -errno and, where a human needs more
 * than the errno says, leaves one line here naming the thing and the fix.
 */
#ifndef VXTS_ERROR_H
#define VXTS_ERROR_H

/* Sets the detail (printf format) and returns @r, so callers can write
 * `return vxts_err(-EINVAL, "unit size %u: must be 512 or 4096", u);`. */
int vxts_err(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears the detail at the start of each public call. */
void vxts_err_clear(void);

#endif
