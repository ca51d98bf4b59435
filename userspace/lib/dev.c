// SPDX-License-Identifier: GPL-2.0
/*
 * dev: what every IO implementation shares: the completion rules for one
 * transfer and blocking helpers for the few small IOs (header copies,
 * resilience records) that need no pipeline.
 */
#include <errno.h>

#include "dev.h"

int vxts_io_finish(struct vxts_io *io)
{
	if (io->res == -EAGAIN || io->res == -EINTR)
		return 0;
	if (io->res < 0)
		return io->res;
	if (io->res == 0)
		return -EIO;	/* EOF inside the device: it shrank under us */
	io->done += (size_t)io->res;
	return io->done >= io->len ? 1 : 0;
}

int vxts_dev_rw(struct vxts_dev *d, enum vxts_io_op op, void *buf, size_t len, uint64_t off)
{
	struct vxts_io io = {
		.op = op, .buf = buf, .len = len, .off = off, .buf_index = -1,
	};
	struct vxts_io *done;
	int r;

	if (off > d->size || len > d->size - off)
		return -EIO;
	for (;;) {
		r = d->ops->queue(d, &io);
		if (!r)
			r = d->ops->submit(d);
		if (!r)
			r = d->ops->reap(d, &done, 1, true);
		if (r < 0)
			return r;
		if (r == 0)
			return -EIO;
		r = vxts_io_finish(&io);
		if (r)
			return r < 0 ? r : 0;
	}
}

int vxts_dev_sync(struct vxts_dev *d)
{
	return d->ops->sync(d);
}

void vxts_dev_close(struct vxts_dev *d)
{
	if (d)
		d->ops->close(d);
}
