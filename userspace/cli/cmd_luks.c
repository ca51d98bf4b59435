// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: LUKS2 interop (docs/LUKS.md).
 * Placeholder until the LUKS2 export lands in this file.
 */
#include "cli.h"

int cli_cmd_luks_export(const struct cli_opts *o)
{
	cli_err("luks export: not built yet");
	return 1;
}
