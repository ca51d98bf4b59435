/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dev: the one IO seam of the engine.
 *
 * Everything the engine does to a disk goes through these ops: queue a read
 * or write, submit what is queued, reap finished IOs, sync. dev_uring.c
 * implements them over io_uring; the unit tests drop in a fault-injecting
 * implementation (tests/unit/helpers/fault_dev.c) that fails or tears the Nth
 * operation as if power were cut.
 *
 * Ops never retry: a finished IO carries res (bytes moved by this attempt, or
 * -errno) and vxts_io_finish() decides whether it is done, short (queue the
 * rest again) or failed. That keeps short-transfer and -EAGAIN handling in one
 * place for every implementation.
 */
#ifndef VXTS_DEV_H
#define VXTS_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum vxts_io_op {
	VXTS_IO_READ,
	VXTS_IO_WRITE,
};

/* One transfer; owned by the caller (usually embedded in a chunk). */
struct vxts_io {
	enum vxts_io_op op;
	uint8_t *buf;
	size_t len;
	uint64_t off;		/* absolute byte offset in the device */
	int buf_index;		/* registered buffer holding buf, or -1 */
	size_t done;		/* bytes already moved (short transfers) */
	int res;		/* set by reap: bytes of this attempt or -errno */
	void *priv;		/* the caller's owner of this IO */
};

struct vxts_dev;

struct vxts_dev_ops {
	/* Queue io (from io->done on); -EBUSY when the submission queue is full. */
	int (*queue)(struct vxts_dev *d, struct vxts_io *io);
	/* Hand everything queued to the device; 0 or -errno. */
	int (*submit)(struct vxts_dev *d);
	/* Up to @max finished IOs into @out; waits for one first if @wait. */
	int (*reap)(struct vxts_dev *d, struct vxts_io **out, unsigned int max, bool wait);
	/* Make every completed write durable. */
	int (*sync)(struct vxts_dev *d);
	/* Optional (NULL): fixed buffers for READ_FIXED/WRITE_FIXED. */
	int (*register_buffers)(struct vxts_dev *d, const struct iovec *iov, unsigned int n);
	void (*unregister_buffers)(struct vxts_dev *d);
	/*
	 * Optional (NULL): one whole transfer, synchronously, callable from any
	 * thread (short transfers are continued inside). Devices whose IO is
	 * a CPU copy (memory-backed files) offer it, so the engine's workers
	 * can read a chunk on the core that then hashes and converts it.
	 */
	int (*rw_sync)(struct vxts_dev *d, enum vxts_io_op op, uint8_t *buf, size_t len,
		       uint64_t off);
	void (*close)(struct vxts_dev *d);
};

struct vxts_dev {
	const struct vxts_dev_ops *ops;
	uint64_t size;			/* bytes */
	unsigned int queue_depth;	/* most IOs it accepts in flight */
	bool direct;			/* O_DIRECT in use */
	bool is_blockdev;
	bool mem_backed;		/* tmpfs/ramfs file or RAM disk: syncs cost nothing */
	uint32_t logical_block;		/* smallest direct IO (block devices); 0 = 512 */
	int fd;				/* for flock/blkid; -1 if none */
	char name[128];			/* path, for messages */
};

/* After reap: 1 done, 0 requeue (short or -EAGAIN), or -errno (-EIO for EOF). */
int vxts_io_finish(struct vxts_io *io);

/* Blocking helpers over the ops (header and resilience IO). */
int vxts_dev_rw(struct vxts_dev *d, enum vxts_io_op op, void *buf, size_t len, uint64_t off);
int vxts_dev_sync(struct vxts_dev *d);
void vxts_dev_close(struct vxts_dev *d);

/*
 * io_uring over a file or block device. Tries O_DIRECT first and falls back
 * to buffered IO + fdatasync when the filesystem refuses it (tmpfs). On a
 * memory-backed file or RAM disk (mem_backed) the IO is plain pread/pwrite
 * by the calling thread instead: io_uring would punt each one to io-wq.
 * @excl: O_EXCL for block devices (fails -EBUSY while mounted or held).
 */
int vxts_dev_uring_open(const char *path, bool writable, bool excl,
			unsigned int queue_depth, struct vxts_dev **out);
/* Always the ring, even on memory-backed files (tests of the ring itself). */
int vxts_dev_uring_open_ring(const char *path, bool writable, bool excl,
			     unsigned int queue_depth, struct vxts_dev **out);

#endif
