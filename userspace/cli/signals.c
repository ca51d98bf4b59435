// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: SIGINT/SIGTERM stop a conversion at its next commit point.
 *
 * The handler only calls vxts_request_stop() (async-signal-safe); the
 * engine finishes the window in flight, persists its checkpoint and returns
 * -EINTR, which becomes exit code 7. A second signal does not abort either:
 * killing the process mid-write is exactly what the checkpoint protects
 * against, but there is no reason to make recovery do work. Use SIGKILL to
 * leave at once; the next run recovers.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vxts.h"

static volatile sig_atomic_t cli_signal_count;

static void cli_signals_handler(int sig)
{
	static const char msg[] =
		"\nvxts: stopping at the next commit point (re-run to resume)\n";
	static const char again[] =
		"\nvxts: already stopping; SIGKILL is safe too, the next run recovers\n";
	int saved = errno;

	vxts_request_stop();
	if (cli_signal_count++ == 0)
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	else
		(void)!write(STDERR_FILENO, again, sizeof(again) - 1);
	errno = saved;
}

void cli_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_signals_handler;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESETHAND: the second signal must not fall to the default */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int cli_signals_caught(void)
{
	return cli_signal_count;
}
