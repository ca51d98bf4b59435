// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: the boot-time table /etc/vxtstab (docs/BOOT.md).
 * Placeholder until the boot integration lands in this file.
 */
#include "cli.h"

static int cli_tab_todo(const char *verb)
{
	cli_err("tab %s: not built yet", verb);
	return 1;
}

int cli_cmd_tab_check(const struct cli_opts *o) { return cli_tab_todo("check"); }
int cli_cmd_tab_open(const struct cli_opts *o) { return cli_tab_todo("open"); }
int cli_cmd_tab_close(const struct cli_opts *o) { return cli_tab_todo("close"); }
int cli_cmd_tab_generate(const struct cli_opts *o) { return cli_tab_todo("generate"); }
