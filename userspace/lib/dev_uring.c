// SPDX-License-Identifier: GPL-2.0
/*
 * dev_uring: the device IO seam over io_uring (liburing 2.3).
 *
 * One ring per opened device, the device fd registered as fixed file 0, and
 * the engine's window buffer registered so chunk IO uses READ_FIXED /
 * WRITE_FIXED (no per-IO page pinning). Submission and completion follow the
 * engine's rhythm: it queues up to queue_depth IOs, submits once, waits for
 * one completion and reaps whatever else is ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dev.h"

struct uring_dev {
	struct vxts_dev dev;
	struct io_uring ring;
	bool ring_ready;
	bool files_registered;
	bool bufs_registered;
	bool failed;		/* a submit failed: the ring is not used again */
	unsigned int queued;	/* SQEs not yet handed to the kernel */
	unsigned int inflight;	/* handed to the kernel, completion not reaped */
	struct vxts_io **sq;	/* psync: queued IOs, a FIFO of queue_depth * 2 */
	unsigned int sq_head, sq_n;
};

static struct uring_dev *uring_dev(struct vxts_dev *d)
{
	return (struct uring_dev *)d;
}

static void uring_prep(struct uring_dev *u, struct io_uring_sqe *sqe, struct vxts_io *io)
{
	uint8_t *p = io->buf + io->done;
	unsigned int n = (unsigned int)(io->len - io->done);
	uint64_t off = io->off + io->done;
	int fd = u->files_registered ? 0 : u->dev.fd;
	bool fixed = u->bufs_registered && io->buf_index >= 0;

	if (io->op == VXTS_IO_READ) {
		if (fixed)
			io_uring_prep_read_fixed(sqe, fd, p, n, off, io->buf_index);
		else
			io_uring_prep_read(sqe, fd, p, n, off);
	} else {
		if (fixed)
			io_uring_prep_write_fixed(sqe, fd, p, n, off, io->buf_index);
		else
			io_uring_prep_write(sqe, fd, p, n, off);
	}
	if (u->files_registered)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, io);
}

static int uring_queue(struct vxts_dev *d, struct vxts_io *io)
{
	struct uring_dev *u = uring_dev(d);
	struct io_uring_sqe *sqe;

	if (u->failed)
		return -EIO;
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return -EBUSY;
	uring_prep(u, sqe, io);
	u->queued++;
	return 0;
}

/*
 * After a failed submit the caller frees the buffers of everything it
 * queued. So: wait out every IO the kernel already has (it may still DMA
 * into those buffers), drop their completions (the caller counts them as
 * failed), and never submit again (SQEs left in the ring point at freed
 * memory): the device answers -EIO until it is closed.
 */
static void uring_fail(struct uring_dev *u)
{
	struct io_uring_cqe *cqe;

	u->failed = true;
	while (u->inflight) {
		int r = io_uring_wait_cqe(&u->ring, &cqe);

		if (r == -EINTR)
			continue;
		if (r < 0)
			break;
		io_uring_cqe_seen(&u->ring, cqe);
		u->inflight--;
	}
}

static int uring_submit(struct vxts_dev *d)
{
	struct uring_dev *u = uring_dev(d);
	int r;

	if (u->failed)
		return -EIO;
	do {
		r = io_uring_submit(&u->ring);
	} while (r == -EINTR || r == -EAGAIN);
	if (r < 0) {
		uring_fail(u);
		return r;
	}
	/* A short submit leaves the rest queued for the next call. */
	u->inflight += (unsigned int)r;
	u->queued -= (unsigned int)r < u->queued ? (unsigned int)r : u->queued;
	return 0;
}

static int uring_reap(struct vxts_dev *d, struct vxts_io **out, unsigned int max, bool wait)
{
	struct uring_dev *u = uring_dev(d);
	struct io_uring_cqe *cqe;
	unsigned int n = 0;
	int r;

	if (u->failed)
		return -EIO;
	if (wait) {
		do {
			r = io_uring_wait_cqe(&u->ring, &cqe);
		} while (r == -EINTR);
		if (r < 0)
			return r;
	}
	while (n < max && io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct vxts_io *io = io_uring_cqe_get_data(cqe);

		io->res = cqe->res;
		out[n++] = io;
		io_uring_cqe_seen(&u->ring, cqe);
		u->inflight--;
	}
	return (int)n;
}

static int uring_sync(struct vxts_dev *d)
{
	return fdatasync(d->fd) ? -errno : 0;
}

static int uring_register_buffers(struct vxts_dev *d, const struct iovec *iov, unsigned int n)
{
	struct uring_dev *u = uring_dev(d);
	int r;

	if (u->bufs_registered)
		io_uring_unregister_buffers(&u->ring);
	u->bufs_registered = false;
	r = io_uring_register_buffers(&u->ring, iov, n);
	if (r < 0)
		return r;
	u->bufs_registered = true;
	return 0;
}

static void uring_unregister_buffers(struct vxts_dev *d)
{
	struct uring_dev *u = uring_dev(d);

	if (u->bufs_registered)
		io_uring_unregister_buffers(&u->ring);
	u->bufs_registered = false;
}

static void uring_close(struct vxts_dev *d)
{
	struct uring_dev *u = uring_dev(d);

	uring_unregister_buffers(d);
	if (u->files_registered)
		io_uring_unregister_files(&u->ring);
	if (u->ring_ready)
		io_uring_queue_exit(&u->ring);
	/*
	 * Unlock only once the ring is gone: until then IO of ours may still
	 * reach the device, and another vxts must not start on it. The ring
	 * drops its file reference asynchronously after exit and the flock
	 * lives as long as that reference, so release it explicitly, or the
	 * next vxts process would find the device "busy".
	 */
	if (d->fd >= 0) {
		flock(d->fd, LOCK_UN);
		close(d->fd);
	}
	free(u->sq);
	free(u);
}

/*
 * psync: the same seam without a ring, for memory-backed files. io_uring
 * cannot complete a tmpfs read or write inline (no IOCB_NOWAIT support), so
 * every chunk IO is punted to an io-wq kernel thread: a thread hop, a wakeup
 * of the engine per completion, and a copy done from another core (measured:
 * io-wq CPU ~3x what the same copies cost in a plain read/write loop). Here
 * the main thread performs each IO itself, one per reap, oldest first, so
 * the engine's loop still hands every finished read to the workers before
 * it performs the next IO: copies and crypto overlap as with the ring.
 */
static int psync_queue(struct vxts_dev *d, struct vxts_io *io)
{
	struct uring_dev *u = uring_dev(d);
	unsigned int cap = d->queue_depth * 2;

	if (u->sq_n >= cap)
		return -EBUSY;
	u->sq[(u->sq_head + u->sq_n++) % cap] = io;
	return 0;
}

static int psync_submit(struct vxts_dev *d)
{
	return 0;
}

/* Performs the oldest queued IO (one attempt: short counts are the caller's). */
static int psync_reap(struct vxts_dev *d, struct vxts_io **out, unsigned int max, bool wait)
{
	struct uring_dev *u = uring_dev(d);
	struct vxts_io *io;
	ssize_t n;

	if (!wait || !max || !u->sq_n)
		return 0;
	io = u->sq[u->sq_head];
	u->sq_head = (u->sq_head + 1) % (d->queue_depth * 2);
	u->sq_n--;
	if (io->op == VXTS_IO_READ)
		n = pread(d->fd, io->buf + io->done, io->len - io->done, (off_t)(io->off + io->done));
	else
		n = pwrite(d->fd, io->buf + io->done, io->len - io->done, (off_t)(io->off + io->done));
	io->res = n < 0 ? -errno : (int)n;
	out[0] = io;
	return 1;
}

/* Thread-safe: positioned IO on a shared fd, nothing else touched. */
static int psync_rw(struct vxts_dev *d, enum vxts_io_op op, uint8_t *buf, size_t len,
		    uint64_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		if (op == VXTS_IO_READ)
			n = pread(d->fd, buf + done, len - done, (off_t)(off + done));
		else
			n = pwrite(d->fd, buf + done, len - done, (off_t)(off + done));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* EOF inside the device */
		done += (size_t)n;
	}
	return 0;
}

static const struct vxts_dev_ops psync_ops = {
	.queue = psync_queue,
	.submit = psync_submit,
	.reap = psync_reap,
	.rw_sync = psync_rw,
	.sync = uring_sync,
	.close = uring_close,
};

static const struct vxts_dev_ops uring_ops = {
	.queue = uring_queue,
	.submit = uring_submit,
	.reap = uring_reap,
	.sync = uring_sync,
	.register_buffers = uring_register_buffers,
	.unregister_buffers = uring_unregister_buffers,
	.close = uring_close,
};

/* O_DIRECT first; filesystems without it (older tmpfs) refuse at open. */
static int uring_open_fd(const char *path, bool writable, bool excl, bool *direct)
{
	int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	struct stat st;
	int fd;

	if (excl && !stat(path, &st) && S_ISBLK(st.st_mode))
		flags |= O_EXCL;
	fd = open(path, flags | O_DIRECT);
	*direct = fd >= 0;
	if (fd < 0 && errno == EINVAL)
		fd = open(path, flags);
	return fd < 0 ? -errno : fd;
}

#define UR_TMPFS_MAGIC 0x01021994
#define UR_RAMFS_MAGIC 0x858458f6
#define UR_RAMDISK_MAJOR 1	/* brd: /dev/ramN */

/*
 * Memory-backed storage (a file on tmpfs/ramfs, a brd RAM disk): a sync
 * costs nothing there, so the engine can afford small windows (little
 * buffer memory to fault in) without paying for the extra commit points.
 */
static bool uring_mem_backed(int fd, const struct stat *st)
{
	struct statfs sf;

	if (S_ISBLK(st->st_mode))
		return major(st->st_rdev) == UR_RAMDISK_MAJOR;
	if (fstatfs(fd, &sf))
		return false;
	return sf.f_type == UR_TMPFS_MAGIC || sf.f_type == UR_RAMFS_MAGIC;
}

static int uring_size(int fd, uint64_t *size, bool *blk, uint32_t *lbs, bool *mem)
{
	struct stat st;
	int ssz = 512;

	if (fstat(fd, &st))
		return -errno;
	*blk = S_ISBLK(st.st_mode);
	*mem = uring_mem_backed(fd, &st);
	*lbs = 512;
	if (*blk) {
		if (!ioctl(fd, BLKSSZGET, &ssz) && ssz > 0)
			*lbs = (uint32_t)ssz;
		return ioctl(fd, BLKGETSIZE64, size) ? -errno : 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	return 0;
}

int vxts_dev_uring_open_ring(const char *path, bool writable, bool excl,
			     unsigned int queue_depth, struct vxts_dev **out)
{
	struct uring_dev *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	u->dev.ops = &uring_ops;
	u->dev.queue_depth = queue_depth ? queue_depth : 32;
	snprintf(u->dev.name, sizeof(u->dev.name), "%s", path);
	u->dev.fd = uring_open_fd(path, writable, excl, &u->dev.direct);
	if (u->dev.fd < 0) {
		r = u->dev.fd;
		goto fail;
	}
	r = uring_size(u->dev.fd, &u->dev.size, &u->dev.is_blockdev, &u->dev.logical_block,
		       &u->dev.mem_backed);
	if (r)
		goto fail;
	r = io_uring_queue_init(u->dev.queue_depth * 2, &u->ring, 0);
	if (r)
		goto fail;
	u->ring_ready = true;
	/* Fixed file is an optimisation: run without it on old kernels. */
	u->files_registered = io_uring_register_files(&u->ring, &u->dev.fd, 1) == 0;
	*out = &u->dev;
	return 0;
fail:
	if (u->dev.fd < 0)
		u->dev.fd = -1;
	uring_close(&u->dev);
	return r;
}

int vxts_dev_uring_open(const char *path, bool writable, bool excl,
			unsigned int queue_depth, struct vxts_dev **out)
{
	struct uring_dev *u;
	int r = vxts_dev_uring_open_ring(path, writable, excl, queue_depth, out);

	/* A RAM disk completes O_DIRECT IO inline: only files need this. */
	if (r || !(*out)->mem_backed || (*out)->is_blockdev)
		return r;
	u = uring_dev(*out);
	u->sq = calloc((*out)->queue_depth * 2, sizeof(*u->sq));
	if (!u->sq)
		return 0;	/* stay on the ring */
	/* The ring stays set up (idle) so close is the same for both. */
	(*out)->ops = &psync_ops;
	return 0;
}
