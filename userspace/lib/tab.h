/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tab: the boot-time volume table /etc/vxtstab (docs/BOOT.md, vxtstab(5)).
 *
 * One volume per line, `#` starts a comment, fields split by blanks:
 *
 *   NAME  DEVICE  HEADER  KEY  [OPTIONS]
 *
 * The parser is pure: it reads the file (refusing one that others may
 * write) and turns it into entries, or names the first bad line and how to
 * fix it. It never resolves devices and never touches a key: the table
 * holds paths and URIs only.
 */
#ifndef VXTS_TAB_H
#define VXTS_TAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXTS_TAB_PATH		"/etc/vxtstab"
#define VXTS_TAB_LINE_MAX	4096	/* bytes per line, newline included */
#define VXTS_TAB_NAME_MAX	127	/* a device-mapper name has room for 127 */
/* vxts-resume@NAME.service with NAME systemd-escaped fits 255 bytes */
#define VXTS_TAB_UNIT_INST_MAX	(255 - sizeof("vxts-resume@.service") + 1)
#define VXTS_TAB_MAX_ENTRIES	256
#define VXTS_TAB_TIMEOUT_DEFAULT 30	/* seconds `tab open` waits for DEVICE */

enum vxts_tab_dev {
	VXTS_TAB_DEV_PATH,		/* /dev/... */
	VXTS_TAB_DEV_UUID,		/* vxts header uuid, or LUKS2 uuid with `luks` */
	VXTS_TAB_DEV_PARTUUID,		/* GPT/MBR partition uuid */
	VXTS_TAB_DEV_LABEL,		/* vxts header label, or filesystem/LUKS2 label */
};

enum vxts_tab_key {
	VXTS_TAB_KEY_PROMPT,		/* `-`: ask on the TTY, fail without one */
	VXTS_TAB_KEY_FILE,		/* key-file=PATH */
	VXTS_TAB_KEY_PASSPHRASE,	/* passphrase-file=PATH */
	VXTS_TAB_KEY_PKCS11,		/* pkcs11=URI */
	VXTS_TAB_KEY_KMS,		/* kms=PATH (helper program) */
	VXTS_TAB_KEY_RECOVERY,		/* recovery-key=PATH */
};

/* OPTIONS flags */
#define VXTS_TAB_NOFAIL		(1u << 0)
#define VXTS_TAB_NETDEV		(1u << 1)
#define VXTS_TAB_NORESUME	(1u << 2)
#define VXTS_TAB_LUKS		(1u << 3)
#define VXTS_TAB_TAKEOVER_LVM	(1u << 4)

struct vxts_tab_entry {
	unsigned int line;		/* 1-based line number in the file */
	char *name;
	enum vxts_tab_dev dev_kind;
	char *dev;			/* the path, or the value after UUID= etc. */
	char *header;			/* NULL: `-`, the header is on DEVICE */
	enum vxts_tab_key key_kind;
	char *key;			/* path or URI; NULL for `-` */
	unsigned int flags;		/* VXTS_TAB_* */
	char *pin_file;			/* pkcs11 only */
	char *pkcs11_module;		/* pkcs11 only */
	uint32_t kms_timeout;		/* kms only, seconds, 0 = default */
	uint32_t max_hold_ms;		/* 0 = default */
	uint64_t rate_limit;		/* bytes/s, 0 = unlimited */
	char *expect_key_check;		/* 32 hex digits or NULL */
	uint32_t timeout;		/* seconds to wait for DEVICE (and HEADER) */
	bool timeout_set;		/* timeout= was given */
};

struct vxts_tab {
	struct vxts_tab_entry *e;
	int n;
};

/* The first problem found: its line (0 = the file itself) and a message
 * naming the problem and the fix. */
struct vxts_tab_error {
	unsigned int line;
	char msg[320];
};

/*
 * Parses @len bytes of table text. 0 and @t filled (free with
 * vxts_tab_free), or -EINVAL / -ENOMEM with @err set and @t empty.
 */
int vxts_tab_parse(const char *buf, size_t len, struct vxts_tab *t,
		   struct vxts_tab_error *err);

/*
 * Reads and parses the table at @path. -EPERM when others (or a group)
 * may write it or it is not a regular file: whoever can edit the table
 * chooses which helper runs as root at boot.
 */
int vxts_tab_load(const char *path, struct vxts_tab *t, struct vxts_tab_error *err);

void vxts_tab_free(struct vxts_tab *t);

/* The length of @name escaped like systemd-escape does (a unit instance). */
size_t vxts_tab_name_unit_len(const char *name);

/* The entry named @name, or NULL. */
const struct vxts_tab_entry *vxts_tab_find(const struct vxts_tab *t, const char *name);

/* "key-file", "pkcs11", ...; "UUID", "PATH", ... */
const char *vxts_tab_key_name(enum vxts_tab_key k);
const char *vxts_tab_dev_name(enum vxts_tab_dev d);

#endif
