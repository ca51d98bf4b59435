/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-vxts: AES-256-XTS device-mapper target, ciphertext identical to
 * dm-crypt aes-xts-plain64.
 *
 * Internal header shared by the target's files and the KUnit suites:
 *   vxts-parse.c   table line, options, key strings, numbers (pure)
 *   vxts-key.c     turning a key string into key bytes (hex or keyring)
 *   vxts-crypt.c   the skcipher, tweaks, en/decryption of a bio's data units
 *   vxts-window.c  conversion boundary and held window: classification
 *                  (pure), messages' state checks, in-flight tracking, hold
 *   vxts-io.c      map, clone completions, bounce pages, read workqueue,
 *                  fan-out of large bios to helpers on other CPUs
 *   vxts-target.c  ctr/dtr, status, io_hints, target_type, module init
 */
#ifndef DM_VXTS_H
#define DM_VXTS_H

#include <linux/types.h>
#include <linux/bvec.h>
#include <linux/scatterlist.h>
#include <linux/mempool.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/list.h>
#include <linux/bio.h>
#include <crypto/skcipher.h>

#define VXTS_CIPHER		"aes-xts-plain64"
#define VXTS_CRYPTO_ALG		"xts(aes)"
#define VXTS_KEY_SIZE		64	/* AES-256-XTS: two 256-bit keys */
#define VXTS_KEY_HEX_LEN	(2 * VXTS_KEY_SIZE)
#define VXTS_KEY_DESC_MAX	4095	/* what the keyring accepts */
#define VXTS_IV_SIZE		16
#define VXTS_MIN_ARGS		5
#define VXTS_MAX_OPTS		5	/* each option at most once */
/* The largest window one hold may cover: 1 GiB. */
#define VXTS_MAX_WINDOW		2097152ULL

/* Writes are capped so that one bio never needs more bounce pages than the pool holds. */
#define VXTS_MAX_WRITE_SECTORS	(BIO_MAX_VECS << (PAGE_SHIFT - SECTOR_SHIFT))

/* ---- vxts-parse.c: the table line, without touching dm core ---- */

enum vxts_key_kind {
	VXTS_KEY_HEX,
	VXTS_KEY_LOGON,
	VXTS_KEY_USER,
};

struct vxts_key_spec {
	enum vxts_key_kind kind;
	const char *desc;		/* keyring description, points into the key argument */
};

enum vxts_opt {
	VXTS_OPT_ALLOW_DISCARDS,
	VXTS_OPT_SECTOR_SIZE,
	VXTS_OPT_IV_LARGE_SECTORS,
	VXTS_OPT_CONVERT,
	VXTS_OPT_OLD_KEY,
	VXTS_OPT_COUNT,
};

/* convert:<direction>:<boundary>; NONE: a fully encrypted device. */
enum vxts_dir {
	VXTS_DIR_NONE,
	VXTS_DIR_ENCRYPT,	/* new form: ciphertext, old form: plaintext */
	VXTS_DIR_DECRYPT,	/* new form: plaintext, old form: ciphertext */
	VXTS_DIR_REENCRYPT,	/* new form: <key>, old form: old_key */
};

/* Everything the constructor accepted, kept so STATUSTYPE_TABLE can re-emit it. */
struct vxts_table {
	const char *key_arg;		/* argv string: hex digits or ":64:<type>:<desc>" */
	struct vxts_key_spec key;
	u64 iv_offset;			/* 512-byte sectors */
	const char *dev_path;
	u64 dev_offset;			/* 512-byte sectors */
	unsigned int unit_size;		/* data unit in bytes: 512 or 4096 */
	bool allow_discards;
	bool iv_large_sectors;
	bool opt_params_given;		/* "<#opt_params>" present, even if 0 */
	unsigned int nr_opts;
	enum vxts_opt opts[VXTS_MAX_OPTS];	/* in the order given */
	enum vxts_dir dir;		/* convert:, or VXTS_DIR_NONE */
	u64 boundary;			/* convert:'s boundary, 512-byte sectors */
	const char *old_key_arg;	/* old_key:'s key string, in argv */
	struct vxts_key_spec old_key;
};

/* A `dmsetup message` the target understands, parsed but not yet checked. */
enum vxts_msg_verb {
	VXTS_MSG_HOLD,		/* hold <lo> <hi> */
	VXTS_MSG_ADVANCE,	/* advance <hi> */
	VXTS_MSG_RELEASE,	/* release */
};

struct vxts_msg {
	enum vxts_msg_verb verb;
	u64 lo;
	u64 hi;
};

int vxts_parse_u64(const char *s, u64 *v);
int vxts_parse_u32(const char *s, u32 *v);
int vxts_parse_hex_key(const char *hex, u8 *key);
int vxts_parse_key_spec(const char *arg, struct vxts_key_spec *spec,
			const char **error);
int vxts_parse_table(struct vxts_table *t, unsigned int argc, char **argv,
		     u64 len, const char **error);
const char *vxts_parse_dir_name(enum vxts_dir dir);
int vxts_parse_message(unsigned int argc, char **argv, struct vxts_msg *m);

/* ---- vxts-crypt.c: the cipher and the data-unit/tweak arithmetic ---- */

struct vxts_crypt {
	struct crypto_skcipher *tfm;
	unsigned int unit_size;		/* bytes */
	unsigned int unit_shift;	/* log2(unit_size / 512) */
	bool iv_large_sectors;
	u64 iv_offset;			/* 512-byte sectors */
};

/*
 * One reusable crypto request: lives in the per-bio data, so a bio's units are
 * processed with no allocation at all. @req points just past the owner's struct
 * (crypto_skcipher_reqsize() bytes of driver context follow it).
 */
struct vxts_creq {
	struct skcipher_request *req;
	struct crypto_wait wait;
	struct scatterlist sg_in;
	struct scatterlist sg_out;
	u8 iv[VXTS_IV_SIZE] __aligned(8);
};

/*
 * The plain64 tweak of the data unit starting at @rel_sector (512-byte
 * sectors from the target's start), exactly as dm-crypt computes it:
 * rel_sector + iv_offset, and with iv_large_sectors that sum divided by the
 * unit size in sectors. dm-crypt requires iv_offset to be a multiple of the
 * unit, and so do we, so the division is exact.
 */
static inline u64 vxts_tweak_of(u64 rel_sector, u64 iv_offset,
				unsigned int unit_shift, bool iv_large_sectors)
{
	u64 t = rel_sector + iv_offset;

	return iv_large_sectors ? t >> unit_shift : t;
}

/* plain64: the tweak little-endian in the first 8 bytes, the rest zero. */
static inline void vxts_tweak_fill(u8 iv[VXTS_IV_SIZE], u64 tweak)
{
	__le64 le = cpu_to_le64(tweak);

	memcpy(iv, &le, sizeof(le));
	memset(iv + sizeof(le), 0, VXTS_IV_SIZE - sizeof(le));
}

/* Sectors between the first sectors of two consecutive data units. */
static inline unsigned int vxts_unit_sectors(const struct vxts_crypt *c)
{
	return 1U << c->unit_shift;
}

int vxts_crypt_init(struct vxts_crypt *c, unsigned int unit_size,
		    bool iv_large_sectors, u64 iv_offset);
int vxts_crypt_setkey(struct vxts_crypt *c, const u8 *key);
void vxts_crypt_exit(struct vxts_crypt *c);
const char *vxts_crypt_driver(const struct vxts_crypt *c);
unsigned int vxts_crypt_req_size(const struct vxts_crypt *c);
void vxts_creq_init(const struct vxts_crypt *c, struct vxts_creq *cr,
		    void *req_mem);
int vxts_crypt_unit(const struct vxts_crypt *c, struct vxts_creq *cr,
		    struct page *src, unsigned int src_off,
		    struct page *dst, unsigned int dst_off,
		    u64 rel_sector, bool encrypt);
bool vxts_crypt_bio_aligned(const struct vxts_crypt *c, struct bio *bio,
			    u64 rel_sector);
int vxts_crypt_iter(const struct vxts_crypt *c, struct vxts_creq *cr,
		    struct bio *src, struct bvec_iter src_iter,
		    struct bio *dst, struct bvec_iter dst_iter,
		    u64 rel_sector, bool encrypt);
int vxts_crypt_bio(const struct vxts_crypt *c, struct vxts_creq *cr,
		   struct bio *src, struct bvec_iter src_iter,
		   struct bio *dst, u64 rel_sector, bool encrypt);

/* ---- vxts-key.c ---- */

int vxts_key_load(const struct vxts_key_spec *spec, const char *arg, u8 *key);

/* ---- vxts-window.c: the boundary and the held window ---- */

struct dm_target;

/* What a range of the target holds on the lower device, or must wait. */
enum vxts_form {
	VXTS_FORM_NEW,		/* below the boundary: converted */
	VXTS_FORM_OLD,		/* at or above the boundary, outside a window */
	VXTS_FORM_HELD,		/* inside the held window: queue it */
};

/*
 * The conversion state. lo == hi: no window. When a window is held,
 * lo == boundary (hold refuses anything else), but the classification does
 * not rely on it.
 */
struct vxts_wstate {
	u64 boundary;
	u64 lo;
	u64 hi;
};

static inline bool vxts_wstate_held(const struct vxts_wstate *s)
{
	return s->lo != s->hi;
}

unsigned int vxts_window_classify(const struct vxts_wstate *s, u64 sector,
				  unsigned int sectors, enum vxts_form *form);
int vxts_window_check(const struct vxts_wstate *s, u64 len,
		      unsigned int unit_sectors, const struct vxts_msg *m);

/* An in-flight bio of a converting target, [lo, hi) relative sectors. */
struct vxts_track {
	struct list_head entry;		/* w->inflight or w->held */
	struct bio *bio;
	u64 lo;
	u64 hi;
	u64 held_ns;		/* when it was queued on the window, or 0 */
	bool tracked;		/* on the in-flight list */
	bool requeue;		/* end_io: hand back to dm (noflush suspend) */
	enum vxts_form form;	/* the form it was mapped in */
};

struct vxts_window {
	spinlock_t lock;		/* everything below */
	struct vxts_wstate s;
	struct list_head inflight;	/* struct vxts_track of mapped bios */
	struct list_head held;		/* struct vxts_track queued on the window */
	unsigned int draining;		/* in-flight bios overlapping the window */
	wait_queue_head_t drained;	/* hold waiters: draining reached 0 */
	u64 set_ns;			/* when the window was set */
	u64 hold_ns;			/* when the window finished draining, or 0 */
	/* status counters */
	unsigned int nr_held;
	u64 held_total;
	u64 hold_max_ns;
	u64 wait_max_ns;
	u64 drain_max_ns;		/* longest window set -> drained */
};

void vxts_window_init(struct vxts_window *w, u64 boundary);
int vxts_window_map(struct vxts_window *w, struct vxts_track *t,
		    struct bio *bio, u64 sector, bool whole,
		    void (*trim)(struct bio *bio, unsigned int sectors),
		    bool (*noflush)(struct dm_target *ti), struct dm_target *ti,
		    enum vxts_form *form);
void vxts_window_end(struct vxts_window *w, struct vxts_track *t);
int vxts_window_hold(struct vxts_window *w, u64 len, unsigned int unit_sectors,
		     const struct vxts_msg *m);
int vxts_window_drain(struct vxts_window *w, const struct vxts_msg *m);
int vxts_window_message(struct vxts_window *w, u64 len,
			unsigned int unit_sectors, const struct vxts_msg *m,
			struct bio_list *out);
void vxts_window_requeue_held(struct vxts_window *w, struct bio_list *out);
void vxts_window_snapshot(struct vxts_window *w, struct vxts_window *out);
void vxts_window_adopt(struct vxts_window *w, const struct vxts_wstate *s);

/* ---- the target: vxts-target.c and vxts-io.c ---- */

struct dm_dev;
struct dm_target;
struct mapped_device;

/*
 * Per-CPU counters: bumped on every bio, so a shared atomic would bounce
 * one cache line between all submitting and completing CPUs.
 */
struct vxts_stats {
	u64 read_bios;
	u64 write_bios;
	u64 reads_inline;	/* decrypted in the completing task */
	u64 reads_deferred;	/* decrypted on the workqueue */
	u64 bounce_waits;	/* writes that took the blocking pool path */
	u64 refused_bios;	/* misaligned bios failed with an IO error */
	u64 fanned_bios;	/* large bios whose units were shared with helpers */
	u64 helper_chunks;	/* chunks that helper work items processed */
};

struct vxts_ctx {
	struct vxts_table table;
	char *key_ref;			/* keyring reference to re-emit, or NULL */
	char *old_key_ref;		/* old_key:'s reference, or NULL */
	struct dm_target *ti;
	struct dm_dev *dev;
	sector_t start;			/* the table's <offset> on the device */
	struct vxts_crypt crypt;
	struct vxts_crypt old_crypt;	/* reencrypt only: old_key */
	struct vxts_window win;		/* convert: only */
	struct mapped_device *md;	/* for vxts_ctx_list (reloads) */
	struct list_head md_entry;	/* on vxts_ctx_list */
	enum {
		VXTS_CTX_LOADED,	/* not resumed yet: takes no messages */
		VXTS_CTX_LIVE,		/* resumed once: took over its predecessor */
		VXTS_CTX_RETIRED,	/* its state was taken over: swapped out */
	} life;				/* under vxts_ctx_lock */
	unsigned int creq_offset;	/* skcipher request within the per-bio data */
	mempool_t page_pool;		/* bounce pages for writes */
	struct mutex bounce_lock;	/* serialises the blocking bounce path */
	spinlock_t cache_lock;		/* the bounce page cache */
	struct list_head cache;		/* recycled bounce pages, via page->lru */
	unsigned int cache_nr;
	struct bio_set bs;		/* read and write clones */
	struct workqueue_struct *wq;	/* deferred read decryption (and rare writes) */
	struct workqueue_struct *fan_wq;	/* per-CPU helpers for large bios */
	unsigned int helper_size;	/* bytes per helper, its request included */
	atomic_t fan_backlog;		/* bios left wholly to helpers, unfinished */
	struct vxts_stats __percpu *stats;
};

/*
 * Large bios: at most this many helper work items, each on another CPU,
 * share a bio's chunks with the CPU that maps (or completes) it.
 */
#define VXTS_MAX_HELPERS	3

/*
 * One helper: a work item with a crypto request of its own. Allocated only
 * for a bio that is shared out (kmalloc, never waiting), not kept in every
 * bio's per-bio data, which every small bio would pay for.
 */
struct vxts_helper {
	struct work_struct work;
	struct vxts_io *io;
	struct vxts_creq creq;
};

/* Per-bio state (ti->per_io_data_size); the skcipher request follows it. */
struct vxts_io {
	struct vxts_ctx *ctx;
	const struct vxts_crypt *crypt;	/* the key this bio's data is under */
	struct bio *bio;
	struct bvec_iter iter;		/* the data as mapped; bi_iter moves on completion */
	u64 rel_sector;			/* first sector relative to the target start */
	struct work_struct work;
	struct vxts_track track;	/* converting targets only */
	/* The en/decryption of this bio, possibly shared out (vxts-io.c). */
	struct bio *clone;		/* write: the ciphertext clone; read: NULL */
	bool encrypt;
	bool left;			/* left wholly to helpers (fan_backlog) */
	unsigned int nr_helpers;
	struct vxts_helper *helpers[VXTS_MAX_HELPERS];
	blk_status_t status;		/* first crypto error of any chunk */
	unsigned int chunk;		/* bytes per chunk */
	unsigned int nr_chunks;
	atomic_t next_chunk;		/* the next chunk to claim */
	atomic_t pending;		/* claimants still running */
	struct vxts_creq creq;
};

static inline bool vxts_converting(const struct vxts_ctx *ctx)
{
	return ctx->table.dir != VXTS_DIR_NONE;
}

unsigned int vxts_io_data_size(struct vxts_ctx *ctx);
void vxts_bounce_cache_exit(struct vxts_ctx *ctx);
int vxts_io_map(struct dm_target *ti, struct bio *bio);
int vxts_io_end(struct dm_target *ti, struct bio *bio, blk_status_t *error);
void vxts_io_dispatch_list(struct vxts_ctx *ctx, struct bio_list *bios);

#endif /* DM_VXTS_H */
