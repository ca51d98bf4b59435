// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: what every verb does around its one library call.
 *
 * Opening (with the lock), unlocking (key sourcing included), reporting a
 * failure with the library's detail line and the right exit code, and the
 * JSON rendering of a volume's info, shared by all verbs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vxts.h"

/*
 * What the operator does next, for codes where the library's detail line
 * names the thing but not always the fix ("w.img is locked by another vxts
 * process"). Appended unless the detail already points at a command.
 */
static const char *cli_fix(int code)
{
	switch (code) {
	case CLI_EXIT_WRONG_KEY: return "check the key file or passphrase (`vxts keyslot list` shows the slot types)";
	case CLI_EXIT_BUSY: return "wait for the other user to finish or stop it (`vxts status` shows a running conversion)";
	case CLI_EXIT_HEADER: return "restore it with `vxts header restore DEVICE BACKUP`";
	case CLI_EXIT_IO: return "check the device and the kernel log (dmesg); re-run to resume";
	case CLI_EXIT_INTERRUPTED: return "re-run the same command to resume";
	case CLI_EXIT_NO_VOLUME: return "wrong device, or give the right --header PATH";
	case CLI_EXIT_STATE: return "see `vxts status`";
	case CLI_EXIT_RECORD: return "do not restore an older header backup: keep the device as it is and compare the header with your latest backup";
	case CLI_EXIT_UNIT_LOST: return "restore the named data unit from a backup; re-running cannot recover it";
	case CLI_EXIT_KEY_PROVIDER: return "fix the KMS helper or PKCS#11 token named above and re-run";
	default: return NULL;
	}
}

static bool cli_fix_needed(const char *detail)
{
	return !strstr(detail, "`vxts") && !strstr(detail, "re-run") &&
	       !strstr(detail, "--");
}

/*
 * Reports failure @r of @verb on @dev and returns the exit code: @code when
 * the verb knows better than the generic errno map, else cli_exit_code(r).
 * Under --json the same goes to stdout as the verb's one result object.
 */
int cli_fail(const struct cli_opts *o, const char *verb, const char *dev,
	     int r, int code)
{
	const char *detail = cli_detail_take();
	const char *fix;
	char msg[768];

	if (!*detail)
		detail = vxts_error_detail();
	if (!detail || !*detail)
		detail = strerror(-r);
	if (!code)
		code = cli_exit_code(r);
	fix = cli_fix(code);
	/* a generic failure: the errno text is the most useful fix we have */
	if (!fix && r < 0 && strcmp(detail, strerror(-r)))
		fix = strerror(-r);
	if (fix && cli_fix_needed(detail))
		snprintf(msg, sizeof(msg), "%s: %s", detail, fix);
	else
		snprintf(msg, sizeof(msg), "%s", detail);
	cli_err("%s %s: %s", verb, dev, msg);
	cli_json_fail(o, verb, dev, msg, r, code);
	return code;
}

/* The failure object (docs/schema/error.json) on stdout, under --json only. */
void cli_json_fail(const struct cli_opts *o, const char *verb, const char *dev,
		   const char *msg, int r, int code)
{
	struct cli_json j;

	if (!o->json)
		return;
	cli_json_begin(&j, stdout);
	cli_json_bool(&j, "ok", false);
	cli_json_str(&j, "verb", verb);
	cli_json_str(&j, "device", dev);
	cli_json_str(&j, "error", msg);
	cli_json_i64(&j, "errno", -r);
	cli_json_i64(&j, "exit_code", code);
	cli_json_str(&j, "exit_name", cli_exit_name(code));
	cli_json_end(&j);
}

/*
 * A read-write open takes the volume's lock. A vxts that has just exited (or
 * this process, right after vxts_format()) can hold it a moment longer: the
 * kernel tears an io_uring down asynchronously, and a file registered with
 * the ring keeps its flock until then. So "busy" means still locked after
 * CLI_BUSY_WAIT_MS, not at the first try.
 */
#define CLI_BUSY_WAIT_MS 1000

int cli_open(const struct cli_opts *o, const char *verb, bool rw,
	     struct vxts_volume **v)
{
	const struct timespec pause = { 0, 50 * 1000000L };
	double give_up = cli_now() + CLI_BUSY_WAIT_MS / 1000.0;
	int r;

	for (;;) {
		r = vxts_open(o->pos[0], o->header, rw ? 0 : VXTS_OPEN_READONLY, v);
		if (r != -EBUSY || !rw || cli_now() > give_up ||
		    cli_signals_caught())
			break;
		nanosleep(&pause, NULL);
	}
	if (r)
		*v = NULL;
	/* a detached header file that does not exist: no volume there (yet) */
	if (r == -ENOENT && o->header && access(o->header, F_OK) &&
	    !access(o->pos[0], F_OK)) {
		cli_detail("no header file %s: give the right --header, or create "
			   "the volume with `vxts encrypt` or `vxts format`", o->header);
		r = -ENODATA;
	}
	return r;
}

int cli_unlock_with(struct vxts_volume *v, const struct cli_key *k)
{
	struct vxts_kek kek;
	int r;

	cli_key_kek(k, &kek);
	r = vxts_unlock(v, &kek);
	return r ? r : cli_key_check_pin(v);
}

/* Sources the unlock key (never prompting off a TTY) and unlocks @v. */
int cli_unlock(const struct cli_opts *o, struct vxts_volume *v)
{
	struct cli_key k;
	int r;

	r = cli_key_get(&k, o, CLI_KEY_UNLOCK, false);
	if (!r)
		r = cli_unlock_with(v, &k);
	cli_key_put(&k);
	return r;
}

/* Fills @p from --argon2-*; false when none was given (library defaults). */
bool cli_argon2(const struct cli_opts *o, struct vxts_argon2_params *p)
{
	memset(p, 0, sizeof(*p));
	p->t_cost = o->argon2_time;
	p->m_cost_kib = o->argon2_memory;
	p->parallelism = o->argon2_parallel;
	return p->t_cost || p->m_cost_kib || p->parallelism;
}

/*
 * Destructive steps need --yes. On a TTY we may ask instead; off a TTY we
 * never wait for an answer that cannot come.
 */
bool cli_confirm(const struct cli_opts *o, const char *what)
{
	char answer[16] = "";

	if (o->yes)
		return true;
	if (!isatty(STDIN_FILENO)) {
		cli_err("%s: refusing without --yes (stdin is not a TTY)", what);
		return false;
	}
	fprintf(stderr, "%s\nType YES to continue: ", what);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	return !strcmp(answer, "YES\n");
}

const char *cli_kek_name(int type)
{
	switch (type) {
	case VXTS_KEK_KEYFILE: return "keyfile";
	case VXTS_KEK_PASSPHRASE: return "passphrase";
	case VXTS_KEK_PKCS11: return "pkcs11";
	case VXTS_KEK_KMS: return "kms";
	case VXTS_KEK_RECOVERY: return "recovery";
	case VXTS_KEK_CONT: return "continuation";
	default: return "none";
	}
}

void cli_json_slots(struct cli_json *j, const struct vxts_info *in)
{
	int i;

	cli_json_arr_open(j, "keyslots");
	for (i = 0; i < VXTS_KEYSLOTS; i++) {
		const struct vxts_keyslot_info *s = &in->slots[i];

		/* a damaged entry opens nothing but takes a slot: list it to be cleared */
		if (!s->in_use && s->damaged) {
			cli_json_obj_open(j, NULL);
			cli_json_u64(j, "slot", i);
			cli_json_str(j, "type", "damaged");
			cli_json_u64(j, "entries", 1);
			cli_json_obj_close(j);
			continue;
		}
		if (!s->in_use || s->type == VXTS_KEK_CONT)
			continue;
		cli_json_obj_open(j, NULL);
		cli_json_u64(j, "slot", i);
		cli_json_str(j, "type", cli_kek_name(s->type));
		cli_json_u64(j, "entries", s->entries);
		if (s->type == VXTS_KEK_PKCS11 || s->type == VXTS_KEK_KMS) {
			const char *m = vxts_ks_mech_name(s->mech);

			cli_json_str(j, s->type == VXTS_KEK_KMS ? "kms_key_id" : "pkcs11_uri",
				     s->ref);
			cli_json_str(j, "mechanism", m ? m : "?");
		}
		cli_json_u64(j, "key_id", s->key_id);
		cli_json_str(j, "holds", s->key_id == in->current_key_id ?
			     "current" : "new");
		if (s->type == VXTS_KEK_PASSPHRASE) {
			cli_json_obj_open(j, "argon2id");
			cli_json_u64(j, "time", s->argon2.t_cost);
			cli_json_u64(j, "memory_kib", s->argon2.m_cost_kib);
			cli_json_u64(j, "parallelism", s->argon2.parallelism);
			cli_json_obj_close(j);
		}
		cli_json_obj_close(j);
	}
	cli_json_arr_close(j);
}

/* The header as JSON members of the current object: never any key. */
void cli_json_info(struct cli_json *j, const struct vxts_info *in)
{
	cli_json_str(j, "uuid", in->uuid_str);
	cli_json_str(j, "label", in->label);
	cli_json_str(j, "cipher", in->cipher);
	cli_json_u64(j, "version", in->version);
	cli_json_u64(j, "sector_size", in->unit_size);
	cli_json_u64(j, "data_offset", in->data_offset);
	cli_json_u64(j, "data_size", in->data_size);
	cli_json_u64(j, "iv_offset", in->iv_offset);
	cli_json_bool(j, "header_at_end", in->header_at_end);
	cli_json_u64(j, "header_offset", in->header_offset);
	cli_json_str(j, "state", vxts_state_name(in->state));
	cli_json_str(j, "direction", vxts_direction_name(in->direction));
	cli_json_str(j, "resilience", vxts_resilience_name(in->resilience));
	cli_json_u64(j, "boundary", in->boundary);
	cli_json_dbl(j, "percent", in->data_size ?
		     100.0 * in->boundary / in->data_size : 100.0);
	cli_json_u64(j, "window_offset", in->window_offset);
	cli_json_u64(j, "window_size", in->window_size);
	cli_json_u64(j, "seq", in->seq);
	cli_json_arr_open(j, "valid_copies");
	if (in->valid_copies & 1)
		cli_json_u64(j, NULL, 1);
	if (in->valid_copies & 2)
		cli_json_u64(j, NULL, 2);
	cli_json_arr_close(j);
	cli_json_bool(j, "direct_io", in->direct_io);
	if (in->key_check[0])
		cli_json_str(j, "key_check", in->key_check);
	cli_json_slots(j, in);
}

/* Opens the result object every verb prints under --json. */
void cli_json_result(struct cli_json *j, const struct cli_opts *o,
		     const char *verb)
{
	cli_json_begin(j, stdout);
	cli_json_bool(j, "ok", true);
	cli_json_str(j, "verb", verb);
	cli_json_str(j, "device", o->pos[0]);
	if (o->header)
		cli_json_str(j, "header_path", o->header);
	cli_json_i64(j, "exit_code", 0);
}
