// SPDX-License-Identifier: GPL-2.0
/*
 * lwreplay: read a dm-log-writes log and replay a prefix of it (guest tool).
 *
 *   lwreplay LOGDEV list               one line per flush, FUA and mark entry:
 *                                      "<index> F|U|M [mark text]", then
 *                                      "entries <n>"
 *   lwreplay LOGDEV replay DEV N       write entries [0, N) to DEV in log order
 *                                      (discards as zeroes); prints the last
 *                                      mark replayed: "last-mark <text>|-"
 *
 * Written from the kernel's description of the format
 * (Documentation/admin-guide/device-mapper/log-writes.rst and the comments
 * of drivers/md/dm-log-writes.c): at byte 0 a super {magic, version,
 * nr_entries, sectorsize}, all little endian; then per entry one sectorsize
 * block starting with {sector, nr_sectors, flags, data_len} (sector and
 * nr_sectors in sectorsize units; a mark's text follows the 32 bytes), then,
 * unless the entry is a discard or a mark, nr_sectors * sectorsize bytes of
 * data. The log is in the order writes reached stable storage: writes are
 * logged when the flush after them completes, FUA writes when they complete.
 * A prefix of it is the disk as a power cut at that point would leave it.
 *
 * x86-64 only (little endian host, as the VM is).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LW_MAGIC 0x6a736677736872ULL
#define LW_FLUSH (1 << 0)
#define LW_FUA (1 << 1)
#define LW_DISCARD (1 << 2)
#define LW_MARK (1 << 3)

struct lw_super {
	uint64_t magic, version, nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct lw_entry {
	uint64_t sector, nr_sectors, flags, data_len;
};

static int lw_read(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t r = pread(fd, buf, len, (off_t)off);

	if (r != (ssize_t)len) {
		fprintf(stderr, "lwreplay: short read of the log at %" PRIu64 "\n", off);
		return -1;
	}
	return 0;
}

static int lw_apply(int out, int log, const struct lw_entry *e, uint64_t pos, uint32_t ss)
{
	uint64_t len = e->nr_sectors * ss, off = e->sector * ss, n;
	static char *buf;
	static size_t cap;

	if (len > cap) {
		free(buf);
		cap = len;
		if (!(buf = malloc(cap)))
			return -1;
	}
	if (e->flags & LW_DISCARD)
		memset(buf, 0, len);
	else if (lw_read(log, buf, len, pos))
		return -1;
	n = pwrite(out, buf, len, (off_t)off);
	if (n != len) {
		fprintf(stderr, "lwreplay: write at %" PRIu64 " failed: %s\n", off, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct lw_super s;
	struct lw_entry e;
	char blk[4096], mark[4096] = "-";
	uint64_t i, pos, upto = 0;
	int log, out = -1, replay;

	if (argc < 3 || (strcmp(argv[2], "list") && (strcmp(argv[2], "replay") || argc != 5))) {
		fprintf(stderr, "usage: lwreplay LOGDEV list | lwreplay LOGDEV replay DEV N\n");
		return 2;
	}
	replay = !strcmp(argv[2], "replay");
	log = open(argv[1], O_RDONLY);
	if (log < 0 || lw_read(log, &s, sizeof(s), 0))
		return 1;
	if (s.magic != LW_MAGIC || s.version != 1 || s.sectorsize < 512 || s.sectorsize > 4096) {
		fprintf(stderr, "lwreplay: %s is no dm-log-writes log\n", argv[1]);
		return 1;
	}
	if (replay) {
		upto = strtoull(argv[4], NULL, 10);
		out = open(argv[3], O_WRONLY);
		if (out < 0 || upto > s.nr_entries) {
			fprintf(stderr, "lwreplay: cannot replay %" PRIu64 " of %" PRIu64
				" entries to %s\n", upto, (uint64_t)s.nr_entries, argv[3]);
			return 1;
		}
	}
	pos = s.sectorsize;
	for (i = 0; i < (replay ? upto : s.nr_entries); i++) {
		if (lw_read(log, blk, s.sectorsize, pos))
			return 1;
		memcpy(&e, blk, sizeof(e));
		pos += s.sectorsize;
		if (e.flags & LW_MARK) {
			size_t n = e.data_len < s.sectorsize - sizeof(e) ? e.data_len : s.sectorsize - sizeof(e);

			memcpy(mark, blk + sizeof(e), n);
			mark[n] = 0;
			if (!replay)
				printf("%" PRIu64 " M %s\n", i, mark);
			continue;
		}
		if (!replay && (e.flags & (LW_FLUSH | LW_FUA)))
			printf("%" PRIu64 " %s\n", i, e.flags & LW_FLUSH ? "F" : "U");
		if (replay && e.nr_sectors && lw_apply(out, log, &e, pos, s.sectorsize))
			return 1;
		if (!(e.flags & LW_DISCARD))
			pos += e.nr_sectors * s.sectorsize;
	}
	if (replay) {
		if (fsync(out))
			return 1;
		printf("last-mark %s\n", mark);
	} else {
		printf("entries %" PRIu64 "\n", (uint64_t)s.nr_entries);
	}
	return 0;
}
