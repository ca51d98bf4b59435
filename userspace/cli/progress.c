// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: progress with rate and ETA.
 *
 * A bar is drawn on stderr only when stderr is a TTY (never into a log);
 * under --json every update is one JSON line on stderr instead, so stdout
 * keeps exactly one result object. Updates are throttled: a bar 10 times a
 * second, JSON lines once a second.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define CLI_BAR_WIDTH 30

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void cli_fmt_bytes(char *buf, size_t len, double bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int i = 0;

	while (bytes >= 1024 && i < 5) {
		bytes /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", bytes, unit[i]);
}

void cli_fmt_duration(char *buf, size_t len, double secs)
{
	unsigned long s;

	if (secs < 0 || secs > 1e8) {
		snprintf(buf, len, "--:--");
		return;
	}
	s = (unsigned long)(secs + 0.5);
	if (s >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%02lu:%02lu", s / 60, s % 60);
}

void cli_progress_init(struct cli_progress *p, const struct cli_opts *o,
		       const char *what)
{
	*p = (struct cli_progress){ .o = o, .what = what };
	p->tty = !o->json && !o->no_progress && isatty(STDERR_FILENO);
	p->start = p->last_t = cli_now();
	p->last_draw = 0;
}

/* Smoothed rate: a short average so the ETA neither jumps nor lags much. */
static void cli_progress_rate(struct cli_progress *p, uint64_t done, double now)
{
	double dt = now - p->last_t, inst;

	if (dt < 0.2 || done < p->last_done)
		return;
	inst = (done - p->last_done) / dt;
	p->rate = p->rate ? 0.7 * p->rate + 0.3 * inst : inst;
	p->last_t = now;
	p->last_done = done;
}

static void cli_progress_bar(struct cli_progress *p, uint64_t done, uint64_t total)
{
	char rate[32], eta[32], d[32], t[32], bar[CLI_BAR_WIDTH + 1];
	double frac = total ? (double)done / total : 1;
	int i, fill = frac * CLI_BAR_WIDTH;

	for (i = 0; i < CLI_BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[i] = 0;
	cli_fmt_bytes(d, sizeof(d), done);
	cli_fmt_bytes(t, sizeof(t), total);
	cli_fmt_bytes(rate, sizeof(rate), p->rate);
	cli_fmt_duration(eta, sizeof(eta),
			 p->rate > 0 ? (total - done) / p->rate : -1);
	fprintf(stderr, "\r%s [%s] %5.1f%% %s/%s %s/s ETA %s\033[K", p->what,
		bar, frac * 100, d, t, rate, eta);
	p->drawn = true;
}

static void cli_progress_json(struct cli_progress *p, uint64_t done, uint64_t total,
			      double now)
{
	struct cli_json j;

	cli_json_begin(&j, stderr);
	cli_json_str(&j, "event", "progress");
	cli_json_str(&j, "operation", p->what);
	cli_json_u64(&j, "done_bytes", done);
	cli_json_u64(&j, "total_bytes", total);
	cli_json_dbl(&j, "percent", total ? 100.0 * done / total : 100.0);
	cli_json_dbl(&j, "rate_bytes_per_sec", p->rate);
	if (p->rate > 0)
		cli_json_dbl(&j, "eta_sec", (total - done) / p->rate);
	else
		cli_json_null(&j, "eta_sec");
	cli_json_dbl(&j, "elapsed_sec", now - p->start);
	cli_json_end(&j);
}

void cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t total)
{
	double now = cli_now();

	if (done > total)
		done = total;
	p->done = done;
	p->total = total;
	cli_progress_rate(p, done, now);
	if (p->tty && now - p->last_draw >= 0.1) {
		cli_progress_bar(p, done, total);
		p->last_draw = now;
		p->shown = done;
	} else if (p->o->json && now - p->last_draw >= 1.0) {
		cli_progress_json(p, done, total, now);
		p->last_draw = now;
		p->shown = done;
	}
}

/* The last state always shows: a final bar, or a final JSON line. */
void cli_progress_finish(struct cli_progress *p)
{
	bool stale = p->total && p->shown != p->done;

	if (stale && p->tty)
		cli_progress_bar(p, p->done, p->total);
	else if (stale && p->o->json)
		cli_progress_json(p, p->done, p->total, cli_now());
	if (p->drawn)
		fputc('\n', stderr);
	p->drawn = false;
}

int cli_progress_cb(uint64_t done, uint64_t total, void *prog)
{
	cli_progress_update(prog, done, total);
	return 0;
}
