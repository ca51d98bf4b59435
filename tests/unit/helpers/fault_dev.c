// SPDX-License-Identifier: GPL-2.0
/*
 * fault_dev: memory-backed IO seam with fault injection (see fault_dev.h).
 * Every queued IO completes at submit, in queue order, which is the order
 * the op counter sees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_dev.h"

#define FAULT_QUEUE 512

struct fault_undo {
	struct fault_undo *next;
	struct vxts_dev *dev;
	uint64_t off;
	size_t len;
	uint8_t old[];
};

struct fault_dev {
	struct vxts_dev dev;
	struct fault_ctl *ctl;
	uint8_t *mem;
	struct vxts_io *queued[FAULT_QUEUE], *done[FAULT_QUEUE];
	unsigned int nq, nd, dh;
};

static struct fault_dev *fault_dev(struct vxts_dev *d)
{
	return (struct fault_dev *)d;
}

static void fault_log(struct fault_dev *f, uint64_t off, size_t len)
{
	struct fault_undo *u;

	if (!f->ctl->drop_unsynced)
		return;
	u = malloc(sizeof(*u) + len);
	if (!u)
		abort();
	u->dev = &f->dev;
	u->off = off;
	u->len = len;
	memcpy(u->old, f->mem + off, len);
	u->next = f->ctl->undo;
	f->ctl->undo = u;
}

/* Power cut: unsynced writes vanish (newest first, so the oldest bytes win). */
static void fault_power_cut(struct fault_ctl *ctl)
{
	struct fault_undo *u;

	ctl->crashed = true;
	while ((u = ctl->undo)) {
		ctl->undo = u->next;
		memcpy(fault_dev(u->dev)->mem + u->off, u->old, u->len);
		free(u);
	}
}

static size_t fault_tear_len(struct fault_ctl *ctl, size_t n)
{
	size_t align = ctl->tear_align ? ctl->tear_align : 1;
	size_t p = n * (size_t)(ctl->ops % 7 + 1) / 8 + (size_t)(ctl->ops % 13);

	p = p / align * align;
	return p >= n ? (n > align ? n - align : 0) : p;
}

/* Op N: the crash. Returns the result the failing op reports. */
static int fault_crash(struct fault_dev *f, struct vxts_io *io, uint8_t *p, size_t n,
		       uint64_t off)
{
	size_t tear = 0;

	if (io && io->op == VXTS_IO_WRITE && f->ctl->tear)
		tear = fault_tear_len(f->ctl, n);
	fault_power_cut(f->ctl);
	if (tear)
		memcpy(f->mem + off, p, tear);
	f->ctl->writes += (long)tear;
	return -EIO;
}

static void fault_do_io(struct fault_dev *f, struct vxts_io *io)
{
	struct fault_ctl *ctl = f->ctl;
	uint8_t *p = io->buf + io->done;
	uint64_t off = io->off + io->done;
	size_t n = io->len - io->done;

	ctl->ops++;
	if (ctl->crashed) {
		io->res = -EIO;
		return;
	}
	if (ctl->fail_at && ctl->ops == ctl->fail_at) {
		io->res = fault_crash(f, io, p, n, off);
		return;
	}
	if (off >= f->dev.size) {
		io->res = 0;
		return;
	}
	if (n > f->dev.size - off)
		n = (size_t)(f->dev.size - off);
	if (ctl->short_io && n > 512 && (ctl->ops & 1))
		n = n / 2 / 512 * 512;
	if (io->op == VXTS_IO_WRITE) {
		fault_log(f, off, n);
		memcpy(f->mem + off, p, n);
		ctl->writes += (long)n;
	} else {
		memcpy(p, f->mem + off, n);
	}
	if (ctl->observe)
		ctl->observe(ctl->observe_ctx, &f->dev, io->op, off, n);
	io->res = (int)n;
}

static int fault_queue(struct vxts_dev *d, struct vxts_io *io)
{
	struct fault_dev *f = fault_dev(d);

	if (f->nq == FAULT_QUEUE)
		return -EBUSY;
	f->queued[f->nq++] = io;
	return 0;
}

static int fault_submit(struct vxts_dev *d)
{
	struct fault_dev *f = fault_dev(d);

	for (unsigned int i = 0; i < f->nq; i++) {
		fault_do_io(f, f->queued[i]);
		f->done[f->nd++] = f->queued[i];
	}
	f->nq = 0;
	return 0;
}

static int fault_reap(struct vxts_dev *d, struct vxts_io **out, unsigned int max, bool wait)
{
	struct fault_dev *f = fault_dev(d);
	unsigned int n = 0;

	while (n < max && f->dh < f->nd)
		out[n++] = f->done[f->dh++];
	if (f->dh == f->nd)
		f->dh = f->nd = 0;
	return (int)n;
}

static int fault_sync(struct vxts_dev *d)
{
	struct fault_dev *f = fault_dev(d);
	struct fault_ctl *ctl = f->ctl;
	struct fault_undo **pp = &ctl->undo, *u;

	ctl->ops++;
	if (ctl->crashed)
		return -EIO;
	if (ctl->fail_at && ctl->ops == ctl->fail_at)
		return fault_crash(f, NULL, NULL, 0, 0);
	while ((u = *pp)) {
		if (u->dev == d) {
			*pp = u->next;
			free(u);
		} else {
			pp = &u->next;
		}
	}
	return 0;
}

static void fault_close(struct vxts_dev *d)
{
	free(fault_dev(d));
}

static const struct vxts_dev_ops fault_ops = {
	.queue = fault_queue,
	.submit = fault_submit,
	.reap = fault_reap,
	.sync = fault_sync,
	.close = fault_close,
};

struct vxts_dev *fault_dev_new(uint8_t *mem, uint64_t size, const char *name,
			       struct fault_ctl *ctl)
{
	struct fault_dev *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->dev.ops = &fault_ops;
	f->dev.size = size;
	f->dev.queue_depth = 64;
	f->dev.fd = -1;
	snprintf(f->dev.name, sizeof(f->dev.name), "%s", name);
	f->ctl = ctl;
	f->mem = mem;
	return &f->dev;
}

void fault_ctl_reset(struct fault_ctl *ctl)
{
	struct fault_undo *u;

	while ((u = ctl->undo)) {
		ctl->undo = u->next;
		free(u);
	}
	ctl->ops = 0;
	ctl->writes = 0;
	ctl->crashed = false;
}
