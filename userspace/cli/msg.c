// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: messages and exit codes.
 *
 * Results go to stdout (text or one JSON object); everything a human reads
 * while the command runs (errors, warnings, progress) goes to stderr, so a
 * script can parse stdout whatever happens.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *cli_prog = "vxts";

static void cli_vmsg(const char *tag, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", cli_prog, tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg("", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg("warning: ", fmt, ap);
	va_end(ap);
}

/* Chatter for humans; silent under --json so stderr carries only JSON lines. */
void cli_info(const struct cli_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o && o->json)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * A failure found by the CLI itself (key sourcing, geometry checks) leaves
 * its message here, like the library's vxts_error_detail(), so cli_fail()
 * prints it once, on stderr and in the JSON result alike.
 */
static char cli_detail_buf[512];

void cli_detail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cli_detail_buf, sizeof(cli_detail_buf), fmt, ap);
	va_end(ap);
}

/* Returns the pending detail ("" when none) and clears it for the next one. */
const char *cli_detail_take(void)
{
	static char taken[sizeof(cli_detail_buf)];

	memcpy(taken, cli_detail_buf, sizeof(taken));
	cli_detail_buf[0] = 0;
	return taken;
}

/*
 * The library speaks -errno (meanings in vxts.h); this is the default map
 * from an errno to a documented exit code. Verbs override it where the same
 * errno means something else for their call (cli_fail()'s @code). Keep
 * docs/CLI.md in step.
 */
int cli_exit_code(int r)
{
	switch (-r) {
	case 0: return CLI_EXIT_OK;
	case EPERM: return CLI_EXIT_WRONG_KEY;
	case EBUSY: return CLI_EXIT_BUSY;
	case EBADMSG: return CLI_EXIT_HEADER;
	case EIO: return CLI_EXIT_IO;
	case EINTR: return CLI_EXIT_INTERRUPTED;
	case ENODATA: return CLI_EXIT_NO_VOLUME;
	case ENOSPC: return CLI_EXIT_UNSUITABLE;
	case ENOKEY: return CLI_EXIT_NO_KEY;
	case EMEDIUMTYPE: return CLI_EXIT_NOT_PLAIN;
	case EEXIST: return CLI_EXIT_VXTS_THERE;
	case ESTALE: return CLI_EXIT_STATE;	/* header restore: the backup is stale */
	case EUCLEAN: return CLI_EXIT_RECORD;
	case ENOTRECOVERABLE: return CLI_EXIT_UNIT_LOST;
	case EKEYREJECTED: return CLI_EXIT_WRONG_KEY;	/* a token refused the PIN */
	case ETIMEDOUT: case EPROTO: case ECOMM: return CLI_EXIT_KEY_PROVIDER;
	default: return CLI_EXIT_FAIL;
	}
}

const char *cli_exit_name(int code)
{
	static const char *const names[] = {
		[CLI_EXIT_OK] = "ok",
		[CLI_EXIT_FAIL] = "failed",
		[CLI_EXIT_USAGE] = "usage",
		[CLI_EXIT_WRONG_KEY] = "wrong_key",
		[CLI_EXIT_BUSY] = "busy",
		[CLI_EXIT_HEADER] = "header_corrupt",
		[CLI_EXIT_IO] = "io_error",
		[CLI_EXIT_INTERRUPTED] = "interrupted",
		[CLI_EXIT_NO_VOLUME] = "no_volume",
		[CLI_EXIT_UNSUITABLE] = "unsuitable_device",
		[CLI_EXIT_NO_KEY] = "no_key",
		[CLI_EXIT_STATE] = "wrong_state",
		[CLI_EXIT_NOT_PLAIN] = "not_plaintext",
		[CLI_EXIT_VXTS_THERE] = "vxts_header_present",
		[CLI_EXIT_RECORD] = "record_mismatch",
		[CLI_EXIT_UNIT_LOST] = "data_unit_lost",
		[CLI_EXIT_KEY_PROVIDER] = "key_provider_failed",
	};

	if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])) ||
	    !names[code])
		return "failed";
	return names[code];
}
