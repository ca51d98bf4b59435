// SPDX-License-Identifier: GPL-2.0
/*
 * vxwriter: the application of the online-conversion campaigns (guest tool).
 *
 *   vxwriter write DEV LOG [opts]   write self-describing 4 KiB blocks at
 *                                   random places, O_DIRECT, fdatasync every
 *                                   -k writes, read back and verify on the
 *                                   way; every write and every completed
 *                                   sync goes to LOG
 *   vxwriter check DEV LOG [opts]   read DEV and prove each block holds a
 *                                   version it is allowed to hold
 *
 * Block layout: 32-byte header {magic, block, gen, seed} then a filler
 * derived from (seed, block, gen), so a block read back names the write
 * that produced it and a torn or wrongly decrypted block is recognised.
 * gen is the global write number (1, 2, ...): unique per write.
 *
 * LOG lines: "W <block> <gen>" before each write is issued, "S <n>" after
 * the n-th fdatasync returned (all writes listed above it are durable).
 * With -m CMD, CMD (with %d replaced by n) runs after "S <n>" was logged:
 * the campaigns put a dm-log-writes mark there, so a replayed prefix of the
 * log names the last sync it contains.
 *
 * check: block b may hold (-s N, the last sync the cut preserved) the
 * version b had at sync N (the initial image's block, -i, if b was not
 * written before it) or any version written after sync N; with -s -1 only
 * versions written at all (or the initial block); with -f (final) exactly
 * the last version. Anything else is lost or foreign data.
 *
 * Exit: 0 ok, 1 IO error or lost data, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define MAGIC 0x7678777269746572ULL	/* "vxwriter" */
#define CHUNK 256			/* blocks per read in check */

struct opts {
	uint64_t first, blocks, seed, count;
	int seconds, sync_every, read_pct, final;
	long long upto;			/* last preserved sync, -1: none */
	const char *mark, *initial, *stop;
};

static volatile sig_atomic_t stop_now;

static void on_term(int sig)
{
	(void)sig;
	stop_now = 1;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void fill(uint64_t *b, uint64_t blk, uint64_t gen, uint64_t seed)
{
	uint64_t s = mix(seed ^ mix(blk) ^ mix(gen << 1));
	size_t i;

	b[0] = MAGIC;
	b[1] = blk;
	b[2] = gen;
	b[3] = seed;
	for (i = 4; i < BS / 8; i++)
		b[i] = s = mix(s);
}

/* The generation a block holds, 0 if it is no vxwriter block at all. */
static uint64_t parse(const uint64_t *b, uint64_t blk, uint64_t seed, uint64_t *tmp)
{
	if (b[0] != MAGIC || b[1] != blk || b[3] != seed || b[2] == 0)
		return 0;
	fill(tmp, blk, b[2], seed);
	return memcmp(b, tmp, BS) ? 0 : b[2];
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: vxwriter write DEV LOG -b BLOCKS [-o FIRST] [-S SEED] [-n COUNT|-t SECONDS]\n"
		"                [-k SYNC_EVERY] [-r READ_PCT] [-i INITIAL] [-m MARKCMD] [-x STOPFILE]\n"
		"       vxwriter check DEV LOG -b BLOCKS [-o FIRST] [-S SEED] -i INITIAL (-s SYNC | -f)\n");
	return 2;
}

/* The initial image, mapped once; block @blk copied to @buf. */
static int read_initial(const char *path, uint64_t blk, uint64_t *buf)
{
	static const char *map;
	static uint64_t len;
	struct stat st;
	int fd;

	if (!map) {
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st))
			return -errno;
		len = st.st_size;
		map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (map == MAP_FAILED) {
			map = NULL;
			return -errno;
		}
	}
	if ((blk + 1) * BS > len)
		return -EIO;
	memcpy(buf, map + blk * BS, BS);
	return 0;
}

static void logsync(FILE *log, uint64_t n, const char *mark)
{
	char cmd[512];

	fprintf(log, "S %" PRIu64 "\n", n);
	fflush(log);
	fsync(fileno(log));
	if (mark) {
		snprintf(cmd, sizeof(cmd), mark, (int)n);
		if (system(cmd) != 0)
			fprintf(stderr, "vxwriter: mark command failed: %s\n", cmd);
	}
}

static int do_write(const char *dev, const char *logp, const struct opts *o)
{
	uint64_t *buf, *rbuf, *tmp, *last, gen = 0, syncs = 0, nread = 0, blk, g;
	double t0 = now_us(), t, wmax = 0, rmax = 0, smax = 0;
	FILE *log;
	int fd, r = 0;

	fd = open(dev, O_RDWR | O_DIRECT);
	log = fopen(logp, "w");
	if (fd < 0 || !log) {
		fprintf(stderr, "vxwriter: open %s/%s: %s\n", dev, logp, strerror(errno));
		return 1;
	}
	if (posix_memalign((void **)&buf, BS, BS) || posix_memalign((void **)&rbuf, BS, BS) ||
	    !(tmp = malloc(BS)) || !(last = calloc(o->blocks, 8)))
		return 1;
	srandom((unsigned)o->seed);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	while (!stop_now) {
		if (o->count && gen >= o->count)
			break;
		if (o->seconds && now_us() - t0 > o->seconds * 1e6)
			break;
		if (o->stop && access(o->stop, F_OK) == 0)
			break;
		blk = (uint64_t)random() % o->blocks;
		if (o->read_pct && (uint64_t)(random() % 100) < (uint64_t)o->read_pct) {
			/* Read back: the last completed write, or the initial block. */
			t = now_us();
			if (pread(fd, rbuf, BS, (off_t)(o->first + blk) * BS) != BS) {
				fprintf(stderr, "vxwriter: read of block %" PRIu64 " failed: %s\n",
					o->first + blk, strerror(errno));
				r = 1;
				break;
			}
			t = now_us() - t;
			rmax = t > rmax ? t : rmax;
			nread++;
			g = parse(rbuf, o->first + blk, o->seed, tmp);
			if (last[blk] ? g != last[blk] :
			    (o->initial && (read_initial(o->initial, o->first + blk, tmp) ||
					    memcmp(tmp, rbuf, BS)))) {
				fprintf(stderr, "vxwriter: block %" PRIu64 " reads back gen %" PRIu64
					", wrote %" PRIu64 " (0: initial)\n", o->first + blk, g, last[blk]);
				r = 1;
				break;
			}
			continue;
		}
		gen++;
		fill(buf, o->first + blk, gen, o->seed);
		fprintf(log, "W %" PRIu64 " %" PRIu64 "\n", o->first + blk, gen);
		t = now_us();
		if (pwrite(fd, buf, BS, (off_t)(o->first + blk) * BS) != BS) {
			fprintf(stderr, "vxwriter: write of block %" PRIu64 " failed: %s\n",
				o->first + blk, strerror(errno));
			r = 1;
			break;
		}
		t = now_us() - t;
		wmax = t > wmax ? t : wmax;
		last[blk] = gen;
		if (o->sync_every && gen % o->sync_every == 0) {
			t = now_us();
			if (fdatasync(fd)) {
				fprintf(stderr, "vxwriter: fdatasync failed: %s\n", strerror(errno));
				r = 1;
				break;
			}
			t = now_us() - t;
			smax = t > smax ? t : smax;
			logsync(log, ++syncs, o->mark);
		}
	}
	if (!r) {
		if (fdatasync(fd)) {
			fprintf(stderr, "vxwriter: final fdatasync failed: %s\n", strerror(errno));
			r = 1;
		} else {
			logsync(log, ++syncs, o->mark);
		}
	}
	printf("vxwriter: %" PRIu64 " writes, %" PRIu64 " reads verified, %" PRIu64
	       " syncs in %.1f s; max latency us: write %.0f read %.0f sync %.0f\n",
	       gen, nread, syncs, (now_us() - t0) / 1e6, wmax, rmax, smax);
	fclose(log);
	close(fd);
	return r;
}

struct ver {			/* one write in the log */
	uint64_t blk, gen, sync;	/* sync: writes before it are durable from sync+1 on */
};

static int do_check(const char *dev, const char *logp, const struct opts *o)
{
	uint64_t *chunk, *buf, *tmp, *init, *base, g, i, j, nv = 0, cap = 1 << 16, syncs = 0;
	uint64_t bad = 0, app = 0, orig = 0;
	struct ver *v = malloc(cap * sizeof(*v));
	char line[128];
	FILE *log = fopen(logp, "r");
	int fd = open(dev, O_RDONLY | O_DIRECT), ok;
	unsigned long long a, b;

	if (fd < 0 || !log || !v) {
		fprintf(stderr, "vxwriter: open %s/%s: %s\n", dev, logp, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), log)) {
		if (sscanf(line, "W %llu %llu", &a, &b) == 2) {
			if (nv == cap && !(v = realloc(v, (cap *= 2) * sizeof(*v))))
				return 1;
			v[nv++] = (struct ver){ a, b, syncs };
		} else if (sscanf(line, "S %llu", &a) == 1) {
			syncs = a;
		}
	}
	if (posix_memalign((void **)&chunk, BS, CHUNK * BS) || !(tmp = malloc(BS)) || !(init = malloc(BS)) ||
	    !(base = calloc(o->blocks, 8)))
		return 1;
	/* base[b]: the version b held at the preserved sync (0: initial). */
	for (j = 0; j < nv; j++)
		if (v[j].blk >= o->first && v[j].blk - o->first < o->blocks &&
		    (o->final || (long long)v[j].sync < o->upto))
			base[v[j].blk - o->first] = v[j].gen;
	for (i = 0; i < o->blocks; i++) {
		/* read CHUNK blocks at a time: one 4 KiB read per block is slow under TCG */
		if (i % CHUNK == 0) {
			size_t n = (o->blocks - i < CHUNK ? o->blocks - i : CHUNK) * BS;

			if (pread(fd, chunk, n, (off_t)(o->first + i) * BS) != (ssize_t)n) {
				fprintf(stderr, "vxwriter: check: read at block %" PRIu64 " failed\n",
					o->first + i);
				return 1;
			}
		}
		buf = chunk + (i % CHUNK) * (BS / 8);
		g = parse(buf, o->first + i, o->seed, tmp);
		ok = g && g == base[i];
		if (!ok && g && !o->final)
			for (j = 0; j < nv && !ok; j++)
				ok = v[j].blk == o->first + i && v[j].gen == g &&
				     (long long)v[j].sync >= o->upto;
		if (!g) {
			if (read_initial(o->initial, o->first + i, init)) {
				fprintf(stderr, "vxwriter: cannot read %s\n", o->initial);
				return 1;
			}
			if (memcmp(init, buf, BS)) {
				ok = 0;
				g = UINT64_MAX;	/* neither initial nor an app write */
			} else {
				ok = base[i] == 0;
			}
		}
		if (!ok && ++bad <= 10)
			fprintf(stderr, "vxwriter: block %" PRIu64 ": holds %s%" PRIu64
				", must hold gen %" PRIu64 "%s\n", o->first + i,
				g == UINT64_MAX ? "garbage " : "gen ", g == UINT64_MAX ? 0 : g,
				base[i], o->final ? "" : " or a later one");
		if (g && g != UINT64_MAX)
			app++;
		else if (!g)
			orig++;
	}
	printf("vxwriter: check: %" PRIu64 " blocks (%" PRIu64 " bytes): %" PRIu64
	       " app versions, %" PRIu64 " initial, %" PRIu64 " bad; %" PRIu64
	       " writes in the log, up to sync %lld of %" PRIu64 "\n", o->blocks,
	       o->blocks * BS, app, orig, bad, nv, o->final ? (long long)syncs : o->upto, syncs);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .seed = 1, .upto = -2 };
	const char *verb, *dev, *logp;
	int c;

	if (argc < 4)
		return usage();
	verb = argv[1];
	dev = argv[2];
	logp = argv[3];
	optind = 4;
	while ((c = getopt(argc, argv, "b:o:S:n:t:k:r:i:m:x:s:f")) != -1) {
		switch (c) {
		case 'b': o.blocks = strtoull(optarg, NULL, 0); break;
		case 'o': o.first = strtoull(optarg, NULL, 0); break;
		case 'S': o.seed = strtoull(optarg, NULL, 0); break;
		case 'n': o.count = strtoull(optarg, NULL, 0); break;
		case 't': o.seconds = atoi(optarg); break;
		case 'k': o.sync_every = atoi(optarg); break;
		case 'r': o.read_pct = atoi(optarg); break;
		case 'i': o.initial = optarg; break;
		case 'm': o.mark = optarg; break;
		case 'x': o.stop = optarg; break;
		case 's': o.upto = atoll(optarg); break;
		case 'f': o.final = 1; break;
		default: return usage();
		}
	}
	if (!o.blocks)
		return usage();
	if (!strcmp(verb, "write"))
		return do_write(dev, logp, &o);
	if (!strcmp(verb, "check") && o.initial && (o.final || o.upto >= -1))
		return do_check(dev, logp, &o);
	return usage();
}
