// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: status, dump and keyslot list (read-only verbs).
 *
 * They open the header read-only and take no lock, so they work while
 * another vxts converts the device. dump prints the header and never a key,
 * unless --volume-key asks for the DEK (escrow): that needs the unlock key,
 * warns on stderr, and writes the hex with write(2) from locked memory so no
 * stdio buffer ever holds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "secmem.h"
#include "vxts.h"

/*
 * A read-only open without --header fails -EINVAL when the device is too
 * small to hold a header at its end: for the verbs that only look, that is
 * "no vxts volume here" (8), like any other device without a header.
 */
static int cli_info_open(const struct cli_opts *o, const char *verb,
			 struct vxts_volume **v)
{
	int r = cli_open(o, verb, false, v);

	if (r == -EINVAL && !o->header) {
		(void)cli_detail_take();
		cli_detail("no vxts header on %s: it is too small to hold one at its end",
			   o->pos[0]);
		r = -ENODATA;
	}
	return r;
}

static int cli_info_read(const struct cli_opts *o, const char *verb,
			 struct vxts_info *in)
{
	struct vxts_volume *v;
	int r;

	r = cli_info_open(o, verb, &v);
	if (!r)
		r = vxts_info(v, in);
	vxts_close(v);
	return r;
}

/*
 * Is a vxts working on the device right now? Read-write opens hold
 * flock(LOCK_EX) on the data device (vxts.h), so a shared non-blocking
 * probe fails exactly then. The probe lasts microseconds, and a vxts that
 * starts at that instant retries its lock (cli_open()).
 */
static bool cli_info_running(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	bool held;

	if (fd < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd);		/* drops the shared lock if we got it */
	return held;
}

static bool cli_info_busy_state(const struct vxts_info *in)
{
	return in->state == VXTS_STATE_ENCRYPTING ||
	       in->state == VXTS_STATE_DECRYPTING ||
	       in->state == VXTS_STATE_REENCRYPTING;
}

static void cli_status_text(const struct cli_opts *o, const struct vxts_info *in,
			    double rate, bool sampled, bool running)
{
	char done[32], total[32], r[32], eta[32];
	double pct = in->data_size ? 100.0 * in->boundary / in->data_size : 100;

	cli_fmt_bytes(done, sizeof(done), in->boundary);
	cli_fmt_bytes(total, sizeof(total), in->data_size);
	if (!cli_info_busy_state(in)) {
		printf("%s: %s (%s)\n", o->pos[0], vxts_state_name(in->state), total);
		return;
	}
	printf("%s: %s %.1f%% (%s of %s)", o->pos[0], vxts_state_name(in->state),
	       pct, done, total);
	if (sampled && rate > 0) {
		cli_fmt_bytes(r, sizeof(r), rate);
		cli_fmt_duration(eta, sizeof(eta),
				 (in->data_size - in->boundary) / rate);
		printf(", %s/s, ETA %s\n", r, eta);
	} else if (running) {
		printf(", a vxts is working on it\n");
	} else {
		/* the exact command, or the operator re-runs it without --header */
		printf(", stopped: re-run `vxts %s %s%s%s` with its key option to resume\n",
		       vxts_direction_name(in->direction), o->pos[0],
		       o->header ? " --header " : "", o->header ? o->header : "");
	}
	printf("  resilience %s, window %llu+%llu\n",
	       vxts_resilience_name(in->resilience),
	       (unsigned long long)in->window_offset,
	       (unsigned long long)in->window_size);
}

static void cli_status_json(const struct cli_opts *o, const struct vxts_info *in,
			    double rate, bool sampled, bool running)
{
	struct cli_json j;

	cli_json_result(&j, o, "status");
	cli_json_str(&j, "state", vxts_state_name(in->state));
	cli_json_str(&j, "direction", vxts_direction_name(in->direction));
	cli_json_bool(&j, "in_progress", cli_info_busy_state(in));
	cli_json_bool(&j, "running", running);
	cli_json_u64(&j, "done_bytes", in->boundary);
	cli_json_u64(&j, "total_bytes", in->data_size);
	cli_json_dbl(&j, "percent", in->data_size ?
		     100.0 * in->boundary / in->data_size : 100.0);
	if (sampled) {
		cli_json_dbl(&j, "rate_bytes_per_sec", rate);
		cli_json_bool(&j, "advancing", rate > 0);
	} else {
		cli_json_null(&j, "rate_bytes_per_sec");
	}
	if (sampled && rate > 0)
		cli_json_dbl(&j, "eta_sec", (in->data_size - in->boundary) / rate);
	else
		cli_json_null(&j, "eta_sec");
	cli_json_obj_open(&j, "header");
	cli_json_info(&j, in);
	cli_json_obj_close(&j);
	cli_json_end(&j);
}

/*
 * The rate is measured, not stored: while a conversion is in progress we
 * read the boundary twice, --interval apart. Zero means nothing moved (no
 * vxts is running, or a window is larger than the interval covers: the
 * lock probe tells which).
 */
int cli_cmd_status(const struct cli_opts *o)
{
	struct vxts_info a, b;
	struct timespec ts;
	double t0, rate = 0;
	bool sampled = false, running;
	int r;

	if (cli_online_is_mapping(o->pos[0]))
		return cli_online_status(o);
	r = cli_info_read(o, "status", &a);
	if (r)
		return cli_fail(o, "status", o->pos[0], r, 0);
	if (cli_info_busy_state(&a) && o->interval_ms) {
		t0 = cli_now();
		ts.tv_sec = o->interval_ms / 1000;
		ts.tv_nsec = (o->interval_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		r = cli_info_read(o, "status", &b);
		if (r)
			return cli_fail(o, "status", o->pos[0], r, 0);
		if (b.boundary >= a.boundary && b.state == a.state)
			rate = (b.boundary - a.boundary) / (cli_now() - t0);
		a = b;
		sampled = true;
	}
	running = cli_info_running(o->pos[0]);
	if (o->json)
		cli_status_json(o, &a, rate, sampled, running);
	else
		cli_status_text(o, &a, rate, sampled, running);
	return CLI_EXIT_OK;
}

static void cli_dump_slots_text(const struct vxts_info *in)
{
	int i;

	printf("keyslots:\n");
	for (i = 0; i < VXTS_KEYSLOTS; i++) {
		const struct vxts_keyslot_info *s = &in->slots[i];

		if (!s->in_use) {
			if (s->damaged)
				printf("  %d: damaged (opens nothing; `vxts keyslot remove "
				       "--slot %d` clears it)\n", i, i);
			else
				printf("  %d: empty\n", i);
			continue;
		}
		if (s->type == VXTS_KEK_CONT) {
			printf("  %d: part of slot %d\n", i, s->head);
			continue;
		}
		printf("  %d: %s, %s key (id %u)", i, cli_kek_name(s->type),
		       s->key_id == in->current_key_id ? "current" : "new",
		       s->key_id);
		if (s->type == VXTS_KEK_PKCS11 || s->type == VXTS_KEK_KMS)
			printf(", %s %s, %u entries", vxts_ks_mech_name(s->mech) ?
			       vxts_ks_mech_name(s->mech) : "?", s->ref, s->entries);
		if (s->type == VXTS_KEK_PASSPHRASE)
			printf(", argon2id t=%u m=%u KiB p=%u", s->argon2.t_cost,
			       s->argon2.m_cost_kib, s->argon2.parallelism);
		printf("\n");
	}
}

static void cli_dump_text(const struct cli_opts *o, const struct vxts_info *in)
{
	printf("device:       %s\n", o->pos[0]);
	printf("header:       %s (offset %llu)\n",
	       o->header ? o->header : "end of device",
	       (unsigned long long)in->header_offset);
	printf("uuid:         %s\nlabel:        %s\n", in->uuid_str, in->label);
	printf("version:      %u\ncipher:       %s\n", in->version, in->cipher);
	printf("sector size:  %u\niv offset:    %llu\n", in->unit_size,
	       (unsigned long long)in->iv_offset);
	printf("data:         offset %llu, size %llu\n",
	       (unsigned long long)in->data_offset,
	       (unsigned long long)in->data_size);
	printf("state:        %s (direction %s, boundary %llu, %.1f%%)\n",
	       vxts_state_name(in->state), vxts_direction_name(in->direction),
	       (unsigned long long)in->boundary,
	       in->data_size ? 100.0 * in->boundary / in->data_size : 100.0);
	printf("resilience:   %s (window %llu+%llu)\n",
	       vxts_resilience_name(in->resilience),
	       (unsigned long long)in->window_offset,
	       (unsigned long long)in->window_size);
	printf("sequence:     %llu\nvalid copies: %s%s%s\n",
	       (unsigned long long)in->seq, in->valid_copies & 1 ? "1" : "",
	       in->valid_copies == 3 ? " and " : "",
	       in->valid_copies & 2 ? "2" : "");
	if (in->key_check[0])
		printf("key check:    %s\n", in->key_check);
	cli_dump_slots_text(in);
}

/* Hex of @key straight from locked memory to fd 1, bypassing stdio. */
static int cli_dump_write_hex(const uint8_t *key, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *hex = vxts_secure_alloc(2 * len);
	size_t i;
	ssize_t n;

	if (!hex)
		return -errno;
	for (i = 0; i < len; i++) {
		hex[2 * i] = digits[key[i] >> 4];
		hex[2 * i + 1] = digits[key[i] & 15];
	}
	fflush(stdout);
	n = write(STDOUT_FILENO, hex, 2 * len);
	vxts_secure_free(hex, 2 * len);
	return n == (ssize_t)(2 * len) ? 0 : -EIO;
}

/* Writes `"name":"<hex>"` (JSON) or `name: <hex>` lines of the DEK(s). */
static int cli_dump_keys(const struct cli_opts *o, struct vxts_volume *v,
			 const struct vxts_info *in)
{
	uint8_t *key = vxts_secure_alloc(VXTS_KEY_BYTES);
	int which, r = 0;

	if (!key)
		return -errno;
	for (which = VXTS_KEY_CURRENT; which <= VXTS_KEY_NEW && !r; which++) {
		if (which == VXTS_KEY_NEW && in->state != VXTS_STATE_REENCRYPTING)
			break;
		r = vxts_volume_key(v, which, key);
		if (r)
			break;
		printf(o->json ? ",\"%s\":\"" : "%s: ",
		       which == VXTS_KEY_CURRENT ? "volume_key" : "new_volume_key");
		r = cli_dump_write_hex(key, VXTS_KEY_BYTES);
		printf(o->json ? "\"" : "\n");
	}
	vxts_secure_free(key, VXTS_KEY_BYTES);
	return r;
}

static int cli_dump_output(const struct cli_opts *o, struct vxts_volume *v,
			   const struct vxts_info *in)
{
	struct cli_json j;
	int r = 0;

	if (o->volume_key)
		cli_warn("printing the volume key of %s: anyone who sees it can read "
			 "the data; store it like the data itself", o->pos[0]);
	if (!o->json) {
		cli_dump_text(o, in);
		if (o->volume_key)
			r = cli_dump_keys(o, v, in);
		fflush(stdout);
		return r;
	}
	cli_json_result(&j, o, "dump");
	cli_json_info(&j, in);
	if (o->volume_key)
		r = cli_dump_keys(o, v, in);
	cli_json_end(&j);
	return r;
}

int cli_cmd_dump(const struct cli_opts *o)
{
	const uint64_t key_opts = OPT_BIT(OPT_KEY_FILE) | OPT_BIT(OPT_PASSPHRASE_FILE) |
				  OPT_BIT(OPT_PKCS11_URI) | OPT_BIT(OPT_KMS_COMMAND) |
				  OPT_BIT(OPT_USE_RECOVERY_KEY) | OPT_BIT(OPT_EXPECT_KEY_CHECK);
	struct vxts_volume *v;
	struct vxts_info in;
	int r;

	/* a key given (or a pin to check) unlocks: dump then shows key_check */
	r = cli_info_open(o, "dump", &v);
	if (!r && (o->volume_key || (o->given & key_opts)))
		r = cli_unlock(o, v);
	if (!r)
		r = vxts_info(v, &in);
	if (!r)
		r = cli_dump_output(o, v, &in);
	vxts_close(v);
	if (r)
		return cli_fail(o, "dump", o->pos[0], r, 0);
	return CLI_EXIT_OK;
}

int cli_cmd_keyslot_list(const struct cli_opts *o)
{
	struct vxts_info in;
	struct cli_json j;
	int r;

	r = cli_info_read(o, "keyslot list", &in);
	if (r)
		return cli_fail(o, "keyslot list", o->pos[0], r, 0);
	if (!o->json) {
		cli_dump_slots_text(&in);
		return CLI_EXIT_OK;
	}
	cli_json_result(&j, o, "keyslot list");
	cli_json_str(&j, "uuid", in.uuid_str);
	cli_json_u64(&j, "current_key_id", in.current_key_id);
	cli_json_u64(&j, "total_slots", VXTS_KEYSLOTS);
	cli_json_slots(&j, &in);
	cli_json_end(&j);
	return CLI_EXIT_OK;
}
