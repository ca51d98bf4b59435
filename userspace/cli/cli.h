/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vxts command line: shared types of the CLI (never of the library).
 *
 * The CLI owns argv, messages, progress and exit codes; every verb is one row
 * of the verb table in main.c and, once its options are parsed, makes one
 * library call (plus key sourcing and output around it).
 */
#ifndef VXTS_CLI_H
#define VXTS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Exit codes: documented in docs/CLI.md and `vxts help`; scripts depend on
 * them, so numbers never change meaning.
 */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,		/* anything not listed below */
	CLI_EXIT_USAGE = 2,		/* bad verb, option or argument */
	CLI_EXIT_WRONG_KEY = 3,		/* no keyslot opens with the given key */
	CLI_EXIT_BUSY = 4,		/* another vxts (or an open mapping) holds it */
	CLI_EXIT_HEADER = 5,		/* header corrupt: restore from a backup */
	CLI_EXIT_IO = 6,		/* read/write/sync error on the device */
	CLI_EXIT_INTERRUPTED = 7,	/* stopped at a commit point: re-run to resume */
	CLI_EXIT_NO_VOLUME = 8,		/* no vxts header on the device */
	CLI_EXIT_UNSUITABLE = 9,	/* device too small or misaligned for the job */
	CLI_EXIT_NO_KEY = 10,		/* no key source given and no TTY to prompt on */
	CLI_EXIT_STATE = 11,		/* volume in a state that forbids the verb */
	CLI_EXIT_NOT_PLAIN = 12,	/* encrypt: nothing proves the device is plaintext */
	CLI_EXIT_VXTS_THERE = 13,	/* encrypt: a vxts header is already on the device */
	CLI_EXIT_RECORD = 14,		/* resilience record does not match the header */
	CLI_EXIT_UNIT_LOST = 15,	/* recovery found a data unit torn beyond repair */
	CLI_EXIT_KEY_PROVIDER = 16,	/* KMS helper or PKCS#11 token failed or timed out */
};

/* Option ids: index into cli_opt_table[] (opts.c). */
enum cli_opt_id {
	OPT_HELP,
	OPT_JSON,
	OPT_YES,
	OPT_HEADER,
	OPT_HEADER_AT_END,
	OPT_KEY_FILE,
	OPT_PASSPHRASE_FILE,
	OPT_NEW_KEY_FILE,
	OPT_NEW_PASSPHRASE_FILE,
	OPT_RESILIENCE,
	OPT_SECTOR_SIZE,
	OPT_IV_OFFSET,
	OPT_LABEL,
	OPT_QUEUE_DEPTH,
	OPT_CHUNK_SIZE,
	OPT_THREADS,
	OPT_ARGON2_MEMORY,
	OPT_ARGON2_TIME,
	OPT_ARGON2_PARALLEL,
	OPT_SLOT,
	OPT_VOLUME_KEY,
	OPT_NO_PROGRESS,
	OPT_RATE_LIMIT,
	OPT_INTERVAL,
	OPT_WINDOW_SIZE,
	OPT_FORCE,
	OPT_ONLINE,
	OPT_MAX_HOLD_MS,
	OPT_TAKEOVER_LVM,
	OPT_PKCS11_URI,
	OPT_NEW_PKCS11_URI,
	OPT_PKCS11_MODULE,
	OPT_PIN_FILE,
	OPT_KMS_COMMAND,
	OPT_KMS_KEY_ID,
	OPT_NEW_KMS_KEY_ID,
	OPT_KMS_ALG,
	OPT_KMS_TIMEOUT,
	OPT_RECOVERY_KEY_FILE,
	OPT_USE_RECOVERY_KEY,
	OPT_EXPECT_KEY_CHECK,
	OPT_LUKS,
	OPT_TAB,
	OPT_COUNT
};

#define OPT_BIT(id)	(1ULL << (id))

enum cli_resilience { CLI_RES_DEFAULT = 0, CLI_RES_CHECKSUM, CLI_RES_JOURNAL };

/* Everything argv can say, already parsed and range-checked. */
struct cli_opts {
	uint64_t given;			/* OPT_BIT() of every option seen */
	bool json;
	bool yes;
	bool force;
	bool header_at_end;
	bool volume_key;
	bool no_progress;
	bool online;			/* encrypt/decrypt/reencrypt NAME DEVICE */
	bool takeover_lvm;		/* online: may take over an LVM LV */
	const char *header;
	const char *key_file;
	const char *passphrase_file;
	const char *new_key_file;
	const char *new_passphrase_file;
	const char *label;
	enum cli_resilience resilience;
	uint32_t sector_size;		/* 0 = library default */
	uint64_t iv_offset;
	uint32_t queue_depth;
	uint64_t chunk_size;
	uint64_t rate_limit;		/* bytes/s, 0 = unlimited */
	uint64_t window_size;		/* bytes per commit point, 0 = default */
	uint32_t interval_ms;		/* status: sampling time for the rate */
	uint32_t max_hold_ms;		/* online: target for one window hold, 0 = 10 */
	uint32_t threads;
	uint32_t argon2_memory;		/* KiB */
	uint32_t argon2_time;
	uint32_t argon2_parallel;
	int slot;			/* -1 = first free / any */
	/* keys held elsewhere (keysrc.c): a PKCS#11 token, a KMS helper, recovery */
	const char *pkcs11_uri;
	const char *new_pkcs11_uri;
	const char *pkcs11_module;
	const char *pin_file;
	const char *kms_command;
	const char *kms_key_id;
	const char *new_kms_key_id;
	const char *kms_alg;
	uint32_t kms_timeout;		/* seconds, 0 = library default (30) */
	const char *recovery_key_file;	/* write a new recovery key here */
	const char *use_recovery_key;	/* unlock with the recovery key in this file */
	const char *expect_key_check;	/* 32 hex digits: refuse any other volume key */
	bool luks;			/* open: DEVICE (or --header) is a LUKS2 volume */
	bool no_luks_detect;		/* open: never take DEVICE for LUKS without --luks
					 * (vxtstab entries without `luks`); no option */
	const char *tab;		/* tab verbs: the table file (default /etc/vxtstab) */
	int npos;			/* positional arguments after the verb */
	char **pos;
};

struct cli_verb {
	const char *name;		/* "encrypt", "keyslot add", ... */
	const char *args;		/* positional arguments, for usage */
	int min_pos, max_pos;
	uint64_t opts;			/* OPT_BIT()s this verb accepts */
	const char *summary;		/* one line for `vxts help` */
	int (*run)(const struct cli_opts *o);
};

/* opts.c */
struct cli_opt_desc {
	const char *name;
	const char *arg;		/* NULL: a flag without argument */
	const char *help;
};
extern const struct cli_opt_desc cli_opt_table[OPT_COUNT];
int cli_opts_parse(struct cli_opts *o, const struct cli_verb *v,
		   int argc, char **argv);

/* msg.c: every message goes through here so --json stays machine-clean */
extern const char *cli_prog;
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_info(const struct cli_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cli_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *cli_detail_take(void);
int cli_exit_code(int r);
const char *cli_exit_name(int code);

/* json.c: one object on stdout, written incrementally */
struct cli_json {
	FILE *f;
	int depth;
	bool need_comma;
};
void cli_json_begin(struct cli_json *j, FILE *f);
void cli_json_end(struct cli_json *j);
void cli_json_obj_open(struct cli_json *j, const char *key);
void cli_json_obj_close(struct cli_json *j);
void cli_json_arr_open(struct cli_json *j, const char *key);
void cli_json_arr_close(struct cli_json *j);
void cli_json_str(struct cli_json *j, const char *key, const char *val);
void cli_json_u64(struct cli_json *j, const char *key, uint64_t val);
void cli_json_i64(struct cli_json *j, const char *key, int64_t val);
void cli_json_dbl(struct cli_json *j, const char *key, double val);
void cli_json_bool(struct cli_json *j, const char *key, bool val);
void cli_json_null(struct cli_json *j, const char *key);
void cli_json_escape(FILE *f, const char *s);

/* keysrc.c: key material, always in secure memory */
struct cli_key {
	int type;			/* enum vxts_kek_type */
	uint8_t *secret;		/* vxts_secure_alloc()ed (PKCS#11: the PIN) */
	size_t len;
	size_t cap;
	const char *uri;		/* PKCS#11 object URI / KMS key id (new slots) */
	const char *module;		/* PKCS#11 module, NULL = p11-kit's */
	const char *command;		/* KMS helper */
	const char *alg;		/* KMS algorithm */
	unsigned int timeout_ms;	/* KMS */
};
enum cli_key_role { CLI_KEY_UNLOCK, CLI_KEY_NEW };
struct vxts_kek;
int cli_key_get(struct cli_key *k, const struct cli_opts *o, enum cli_key_role role,
		bool confirm);
void cli_key_put(struct cli_key *k);
void cli_key_kek(const struct cli_key *k, struct vxts_kek *kek);
struct vxts_volume;
int cli_key_kek_for(const struct cli_key *k, struct vxts_volume *v, struct vxts_kek *kek,
		    char ref[161]);
#define CLI_RECOVERY_TEXT_MAX 80
int cli_recovery_new(struct cli_key *k, char *text);
/* A new recovery key: sealed in a slot of the unlocked volume, then written to
 * --recovery-key-file (0600, never overwritten). Returns 0 or an exit code. */
int cli_recovery_setup(const struct cli_opts *o, const char *verb,
		       const struct cli_key *unlock);
/* --recovery-key-file OUT already there: 0, or the usage exit after the message. */
/* 0, or -EINVAL (detail set) when the filesystem on o->pos[0] writes blocks
 * smaller than the data unit (cmd_online.c). */
int cli_fs_unit_check(const struct cli_opts *o, const char *verb);
int cli_recovery_out_check(const struct cli_opts *o, const char *verb);

/* progress.c */
struct cli_progress {
	const struct cli_opts *o;
	const char *what;		/* "encrypt", ... */
	bool tty;
	double start, last_draw, last_t;
	uint64_t last_done;		/* set to the boundary before a resume */
	double rate;			/* bytes/s, smoothed */
	uint64_t done, total;		/* last update */
	uint64_t shown;			/* done as last drawn or printed */
	bool drawn;
};
void cli_progress_init(struct cli_progress *p, const struct cli_opts *o,
		       const char *what);
void cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t total);
/* The engine's progress callback; @prog is the struct cli_progress. Never stops. */
int cli_progress_cb(uint64_t done, uint64_t total, void *prog);
void cli_progress_finish(struct cli_progress *p);
double cli_now(void);
void cli_fmt_bytes(char *buf, size_t len, double bytes);
void cli_fmt_duration(char *buf, size_t len, double secs);

/* signals.c */
void cli_signals_install(void);
int cli_signals_caught(void);

/* volume.c: what every verb does around its one library call */
struct vxts_volume;
struct vxts_info;
struct vxts_argon2_params;
int cli_fail(const struct cli_opts *o, const char *verb, const char *dev,
	     int r, int code);
/* cli_fail()'s JSON object alone (for a message already on stderr) */
void cli_json_fail(const struct cli_opts *o, const char *verb, const char *dev,
		   const char *msg, int r, int code);
int cli_open(const struct cli_opts *o, const char *verb, bool rw,
	     struct vxts_volume **v);
/* --expect-key-check: 0, or -EBADMSG (message given) when @v's key differs. */
void cli_key_check_expect(const char *hex);
int cli_key_check_pin(struct vxts_volume *v);
int cli_unlock(const struct cli_opts *o, struct vxts_volume *v);
int cli_unlock_with(struct vxts_volume *v, const struct cli_key *k);
bool cli_argon2(const struct cli_opts *o, struct vxts_argon2_params *p);
bool cli_confirm(const struct cli_opts *o, const char *what);
void cli_json_info(struct cli_json *j, const struct vxts_info *in);
void cli_json_slots(struct cli_json *j, const struct vxts_info *in);
void cli_json_result(struct cli_json *j, const struct cli_opts *o,
		     const char *verb);
const char *cli_kek_name(int type);

/* verbs: one file per group, each a callee of the table in main.c */
int cli_cmd_encrypt(const struct cli_opts *o);
int cli_cmd_decrypt(const struct cli_opts *o);
int cli_cmd_reencrypt(const struct cli_opts *o);
int cli_cmd_format(const struct cli_opts *o);
int cli_cmd_status(const struct cli_opts *o);
int cli_cmd_dump(const struct cli_opts *o);
int cli_cmd_keyslot_add(const struct cli_opts *o);
int cli_cmd_keyslot_remove(const struct cli_opts *o);
int cli_cmd_keyslot_rotate(const struct cli_opts *o);
int cli_cmd_keyslot_list(const struct cli_opts *o);
int cli_cmd_header_backup(const struct cli_opts *o);
int cli_cmd_header_restore(const struct cli_opts *o);
/* cmd_online.c: verbs on a dm-vxts mapping NAME */
int cli_cmd_open(const struct cli_opts *o);
int cli_cmd_close(const struct cli_opts *o);
int cli_cmd_pause(const struct cli_opts *o);
int cli_cmd_resume(const struct cli_opts *o);
/* cmd_tab.c: /etc/vxtstab, the boot-time table (docs/BOOT.md) */
int cli_cmd_tab_check(const struct cli_opts *o);
int cli_cmd_tab_open(const struct cli_opts *o);
int cli_cmd_tab_close(const struct cli_opts *o);
int cli_cmd_tab_resume(const struct cli_opts *o);
int cli_cmd_tab_generate(const struct cli_opts *o);
/* cmd_luks.c: LUKS2 interop (docs/LUKS.md) */
int cli_cmd_luks_export(const struct cli_opts *o);
/*
 * open on a LUKS volume: is DEVICE (or --header) one to serve; the checks
 * that need no device-mapper (pin, header, what dm-vxts serves) with the
 * header loaded once into @lk; then map it as NAME (releases @lk), or
 * release @lk; a failure's message and exit code.
 */
struct cli_luks;
bool cli_luks_wanted(const struct cli_opts *o, const char *dev);
int cli_luks_prepare(const struct cli_opts *o, const char *dev, struct cli_luks **lk);
int cli_luks_open(const struct cli_opts *o, const char *name, const char *dev,
		  struct cli_luks *lk);
void cli_luks_release(struct cli_luks *lk);
int cli_luks_fail(const struct cli_opts *o, const char *name, const char *dev, int r);
/* format/encrypt --iv-large-sectors: refused (message given); true if refused */
int cli_online_convert(const struct cli_opts *o, int dir);
bool cli_online_is_mapping(const char *arg);
int cli_online_status(const struct cli_opts *o);
/* cmd_convert.c, shared with the online verbs */
struct cli_key;
int cli_encrypt_format(const struct cli_opts *o, const struct cli_key *k);

#endif
