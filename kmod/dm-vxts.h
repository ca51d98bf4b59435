/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-vxts: AES-256-XTS device-mapper target, ciphertext identical to
 * dm-crypt aes-xts-plain64.
 *
 * Internal header shared by the target's files and the KUnit suites:
 *   vxts-parse.c   table line, options, key strings, numbers (pure)
 *   vxts-key.c     turning a key string into key bytes (hex or keyring)
 *   vxts-crypt.c   the skcipher, tweaks, en/decryption of a bio's data units
 *   vxts-io.c      map, clone completions, bounce pages, read workqueue
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
#include <linux/bio.h>
#include <crypto/skcipher.h>

#define VXTS_CIPHER		"aes-xts-plain64"
#define VXTS_CRYPTO_ALG		"xts(aes)"
#define VXTS_KEY_SIZE		64	/* AES-256-XTS: two 256-bit keys */
#define VXTS_KEY_HEX_LEN	(2 * VXTS_KEY_SIZE)
#define VXTS_KEY_DESC_MAX	4095	/* what the keyring accepts */
#define VXTS_IV_SIZE		16
#define VXTS_MIN_ARGS		5
#define VXTS_MAX_OPTS		3	/* each option at most once */

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
	VXTS_OPT_COUNT,
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
};

int vxts_parse_u64(const char *s, u64 *v);
int vxts_parse_u32(const char *s, u32 *v);
int vxts_parse_hex_key(const char *hex, u8 *key);
int vxts_parse_key_spec(const char *arg, struct vxts_key_spec *spec,
			const char **error);
int vxts_parse_table(struct vxts_table *t, unsigned int argc, char **argv,
		     u64 len, const char **error);

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
int vxts_crypt_bio(const struct vxts_crypt *c, struct vxts_creq *cr,
		   struct bio *src, struct bvec_iter src_iter,
		   struct bio *dst, u64 rel_sector, bool encrypt);

/* ---- vxts-key.c ---- */

int vxts_key_load(const struct vxts_table *t, u8 *key);

/* ---- the target: vxts-target.c and vxts-io.c ---- */

struct dm_dev;
struct dm_target;

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
};

struct vxts_ctx {
	struct vxts_table table;
	char *key_ref;			/* keyring reference to re-emit, or NULL */
	struct dm_dev *dev;
	sector_t start;			/* the table's <offset> on the device */
	struct vxts_crypt crypt;
	unsigned int creq_offset;	/* skcipher request within the per-bio data */
	mempool_t page_pool;		/* bounce pages for writes */
	struct mutex bounce_lock;	/* serialises the blocking bounce path */
	struct bio_set bs;		/* read and write clones */
	struct workqueue_struct *wq;	/* deferred read decryption (and rare writes) */
	struct vxts_stats __percpu *stats;
};

/* Per-bio state (ti->per_io_data_size); the skcipher request follows it. */
struct vxts_io {
	struct vxts_ctx *ctx;
	struct bio *bio;
	struct bvec_iter iter;		/* the data as mapped; bi_iter moves on completion */
	u64 rel_sector;			/* first sector relative to the target start */
	struct work_struct work;
	struct vxts_creq creq;
};

unsigned int vxts_io_data_size(struct vxts_ctx *ctx);
int vxts_io_map(struct dm_target *ti, struct bio *bio);

#endif /* DM_VXTS_H */
