/* SPDX-License-Identifier: GPL-2.0 */
/*
 * online: the pure logic of online conversion (docs/ONLINE.md), apart from
 * the driver in online.c so the unit tests can run it without a kernel:
 * parsing what dm-vxts reports, deciding how to reconcile the kernel's
 * boundary/window with the header's, sizing windows to a hold-time target,
 * and writing table lines.
 */
#ifndef VXTS_ONLINE_H
#define VXTS_ONLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dm.h"
#include "vxts.h"

/* Parses the status params of one vxts target; -EINVAL if malformed. */
int vxts_online_parse_status(const char *params, struct vxts_online_kstate *k);

/* What the header says (sectors; for a finished conversion boundary = len). */
struct vxts_online_hstate {
	enum vxts_direction dir;
	uint64_t boundary;
	uint64_t win_lo, win_hi;	/* win_hi == 0: no window in flight */
	uint64_t len;
};

enum vxts_online_action {
	VXTS_ONL_NOTHING = 0,		/* consistent: go on */
	VXTS_ONL_ADVANCE,		/* header past the held window: `advance arg` */
	VXTS_ONL_REHOLD,		/* held window, header never recorded it:
					 * nothing written in it, the driver releases
					 * it and plans its own windows; arg = its
					 * length in sectors */
	VXTS_ONL_RECOVER,		/* header names the held window: the engine's
					 * recovery holds it again and rebuilds it */
};

/*
 * The ONLINE.md table "what a crash at each step leaves", as a decision.
 * -EUCLEAN (with a detail) when kernel and header cannot both be right
 * (kernel ahead of the header, different direction, a window that is not
 * at the boundary): nothing may be written then.
 */
int vxts_online_reconcile(const struct vxts_online_kstate *k,
			  const struct vxts_online_hstate *h,
			  enum vxts_online_action *act, uint64_t *arg);

/* Window sizing: the next window so that one hold stays under the target. */
struct vxts_online_win {
	uint64_t unit, min, max, cur;	/* bytes */
	double target_ms;
};

void vxts_online_win_init(struct vxts_online_win *w, uint64_t unit, uint64_t max,
			  double target_ms);
/* A window of @len bytes was held for @held_ms: size the next one. */
void vxts_online_win_update(struct vxts_online_win *w, uint64_t len, double held_ms);

/* p-th percentile (0..100) of @n samples (sorted in place); 0 if none. */
double vxts_online_percentile(double *v, size_t n, double p);

/*
 * The table line for @m: partial (convert:) while converting, the plain
 * vxts table when encrypted, linear when plaintext.
 */
int vxts_online_table(const struct vxts_online_map *m, struct vxts_dm_table *t);

/* "vxts:<uuid>:<key_id>" */
void vxts_online_key_desc(char *buf, size_t len, const char *uuid, uint32_t key_id);

/*
 * From a vxts table line: the data device (major:minor) and the key
 * descriptions it references ("" when a hex key or none).
 */
int vxts_online_parse_table(const char *params, char *devno, size_t devno_len,
			    char *key, char *old_key, size_t key_len);

/*
 * If @name is suspended (a reload cut between suspend and resume): drops its
 * inactive table and resumes it on the live one. 1 if it did, 0 if @name was
 * not suspended, else -errno. Call only with no converter running.
 */
int vxts_online_unsuspend(const char *name);

#endif
