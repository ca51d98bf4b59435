// SPDX-License-Identifier: GPL-2.0
/*
 * kms: run the key-management helper and speak its JSON protocol.
 *
 * One fork/exec per call, no shell: the command is a path, run with argv
 * = { path } so nothing about the request (and never a key) is on a
 * command line. The request goes through a socket pair rather than a pipe
 * so that a helper that exits without reading cannot kill vxts with
 * SIGPIPE (send() with MSG_NOSIGNAL). stdout and stderr are read with
 * poll() against one deadline; at the deadline the helper's process group
 * is killed. The call ends when the helper exits (a pidfd, or waitpid each
 * 20 ms turn), not when its output closes: a child it left behind may keep
 * stdout open for ever; what arrived within a short grace after the exit is
 * the reply. SIGINT/SIGTERM/SIGHUP during a call kill the helper's group
 * and the call returns -EINTR (the handlers in place before are chained). The reply buffer and the request (which holds the DEK in a
 * wrap) live in locked memory and are wiped.
 *
 * Nothing is written to disk here, so a crash at any point leaves the
 * header as it was; a helper killed mid-call has wrapped or unwrapped
 * nothing that vxts stored.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "kms.h"
#include "secmem.h"

#define KMS_REQ_MAX	8192
#define KMS_REPLY_MAX	16384
#define KMS_ERR_KEEP	240	/* bytes of helper stderr quoted in a detail */

/* ---- base64 ---------------------------------------------------------------- */

static const char kms_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t vxts_b64_encode(char *out, const uint8_t *in, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = kms_b64[v >> 18];
		out[o++] = kms_b64[(v >> 12) & 63];
		out[o++] = i + 1 < len ? kms_b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? kms_b64[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int kms_b64_val(char c)
{
	const char *p = c ? strchr(kms_b64, c) : NULL;

	return p ? (int)(p - kms_b64) : -1;
}

int vxts_b64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *in, size_t len)
{
	size_t o = 0;

	if (len % 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			v[k] = in[i + k] == '=' ? 0 : kms_b64_val(in[i + k]);
			pad += in[i + k] == '=';
			/* '=' only at the end, at most two, never before a digit */
			if (v[k] < 0 || (in[i + k] == '=' && (i + 4 != len || k < 2)) ||
			    (in[i + k] != '=' && pad))
				return -EINVAL;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
		if (o + 3 - pad > cap)
			return -EMSGSIZE;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*out_len = o;
	return 0;
}

/* ---- the reply: one flat JSON object of string members ----------------------- */

struct kms_reply {
	char *data;		/* decoded string value of "data" (secure memory) */
	size_t data_len;
	char error[160];	/* "error", printable, truncated */
	bool has_data, has_error;
};

static const char *kms_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Decodes the JSON string at *pp (past its quote) into @out; -EPROTO if bad. */
static int kms_json_str(const char **pp, const char *end, char *out, size_t cap, size_t *len)
{
	const char *p = *pp;
	size_t n = 0;

	for (; p < end && *p != '"'; p++) {
		char c = *p;

		if ((unsigned char)c < 0x20)
			return -EPROTO;
		if (c == '\\') {
			if (++p >= end)
				return -EPROTO;
			switch (*p) {
			case '"': case '\\': case '/': c = *p; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u':
				if (end - p < 5)
					return -EPROTO;
				p += 4;
				c = '?';	/* non-ASCII text: shown as '?' */
				break;
			default: return -EPROTO;
			}
		}
		if (n + 1 >= cap)
			return -EPROTO;
		out[n++] = c;
	}
	if (p >= end)
		return -EPROTO;
	out[n] = '\0';
	*len = n;
	*pp = p + 1;
	return 0;
}

static void kms_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* {"data":"..."} or {"error":"..."}; other string members are ignored. */
static int kms_parse(const char *buf, size_t len, struct kms_reply *rp, char *scratch)
{
	const char *p = buf, *end = buf + len;
	char key[16];
	size_t n;

	p = kms_ws(p, end);
	if (p >= end || *p++ != '{')
		return -EPROTO;
	for (bool first = true;; first = false) {
		p = kms_ws(p, end);
		if (p < end && *p == '}' && first) {
			p++;
			break;
		}
		if (p >= end || *p++ != '"' ||
		    kms_json_str(&p, end, key, sizeof(key), &n) < 0)
			return -EPROTO;
		p = kms_ws(p, end);
		if (p >= end || *p++ != ':')
			return -EPROTO;
		p = kms_ws(p, end);
		if (p >= end || *p++ != '"' || kms_json_str(&p, end, scratch, len + 1, &n))
			return -EPROTO;
		if (!strcmp(key, "data") && !rp->has_data) {
			memcpy(rp->data, scratch, n + 1);
			rp->data_len = n;
			rp->has_data = true;
		} else if (!strcmp(key, "error") && !rp->has_error) {
			snprintf(rp->error, sizeof(rp->error), "%s", scratch);
			kms_printable(rp->error);
			rp->has_error = true;
		}
		vxts_wipe(scratch, n);
		p = kms_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p >= end || *p++ != '}')
			return -EPROTO;
		break;
	}
	return kms_ws(p, end) == end && rp->has_data != rp->has_error ? 0 : -EPROTO;
}

int vxts_kms_parse_reply(const char *buf, size_t len, char *data, size_t *data_len,
			 int *is_error, char err[160], char *scratch)
{
	struct kms_reply rp = { .data = data };
	int r = kms_parse(buf, len, &rp, scratch);

	if (r)
		return r;
	*data_len = rp.data_len;
	*is_error = rp.has_error;
	memcpy(err, rp.error, sizeof(rp.error));
	return 0;
}

/* ---- running the helper ------------------------------------------------------ */

struct kms_run {
	const char *cmd;
	pid_t pid;
	int in, out, err;		/* our ends */
	uint8_t *reply;			/* secure, KMS_REPLY_MAX */
	size_t reply_len;
	bool reply_overflow;
	char err_text[KMS_ERR_KEEP + 1];
	size_t err_len;
	int status;
	bool timed_out;
	bool exited;			/* reaped: status is its exit */
	bool stopped;			/* a stop signal came: killed, -EINTR */
};

/* Output still arriving after the helper exited: what a slow pipe may hold. */
#define KMS_EXIT_GRACE	0.2
/* Without a pidfd, how often the helper's exit is checked. */
#define KMS_TICK_MS	20

/*
 * Stop signals while a helper runs. Set by kms_on_signal(); sticky for the
 * process (a run that was asked to stop starts no other helper), except
 * that vxts_kms_clear_stop() re-arms it.
 */
static volatile sig_atomic_t kms_stop_flag;
static const int kms_sigs[3] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction kms_old_sa[3];
static bool kms_sig_ours[3];

static void kms_on_signal(int sig)
{
	kms_stop_flag = 1;
	for (int i = 0; i < 3; i++)
		if (kms_sigs[i] == sig && kms_sig_ours[i] &&
		    !(kms_old_sa[i].sa_flags & SA_SIGINFO) &&
		    kms_old_sa[i].sa_handler != SIG_DFL && kms_old_sa[i].sa_handler != SIG_IGN)
			kms_old_sa[i].sa_handler(sig);	/* the CLI's: vxts_request_stop() */
}

/* For the duration of one helper call; an ignored signal stays ignored. */
static void kms_signals(bool on)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kms_on_signal;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++) {
		if (on) {
			kms_sig_ours[i] = false;
			if (sigaction(kms_sigs[i], NULL, &kms_old_sa[i]) ||
			    (!(kms_old_sa[i].sa_flags & SA_SIGINFO) &&
			     kms_old_sa[i].sa_handler == SIG_IGN))
				continue;
			kms_sig_ours[i] = !sigaction(kms_sigs[i], &sa, NULL);
		} else if (kms_sig_ours[i]) {
			sigaction(kms_sigs[i], &kms_old_sa[i], NULL);
			kms_sig_ours[i] = false;
		}
	}
}

void vxts_kms_request_stop(void)
{
	kms_stop_flag = 1;
}

void vxts_kms_clear_stop(void)
{
	kms_stop_flag = 0;
}

static double kms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Child: stdin/stdout/stderr onto the three channels, own process group, exec. */
static void kms_child(const char *cmd, int in, int out, int err)
{
	char *const argv[] = { (char *)cmd, NULL };
	sigset_t none;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	execv(cmd, argv);
	dprintf(2, "cannot run %s: %s", cmd, strerror(errno));
	_exit(127);
}

static int kms_spawn(struct kms_run *k)
{
	int sv[2], po[2], pe[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	if (pipe2(po, O_CLOEXEC)) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pipe2(pe, O_CLOEXEC)) {
		close(sv[0]); close(sv[1]); close(po[0]); close(po[1]);
		return -errno;
	}
	k->pid = fork();
	if (k->pid == 0)
		kms_child(k->cmd, sv[1], po[1], pe[1]);
	close(sv[1]);
	close(po[1]);
	close(pe[1]);
	k->in = sv[0];
	k->out = po[0];
	k->err = pe[0];
	if (k->pid < 0) {
		close(k->in); close(k->out); close(k->err);
		return -errno;
	}
	fcntl(k->in, F_SETFL, O_NONBLOCK);
	fcntl(k->out, F_SETFL, O_NONBLOCK);
	fcntl(k->err, F_SETFL, O_NONBLOCK);
	return 0;
}

/* One readable fd: into the reply (bounded) or the stderr excerpt. 0 at EOF. */
static int kms_drain(struct kms_run *k, int fd)
{
	uint8_t junk[512];
	ssize_t n;

	if (fd == k->out && k->reply_len < KMS_REPLY_MAX)
		n = read(fd, k->reply + k->reply_len, KMS_REPLY_MAX - k->reply_len);
	else
		n = read(fd, junk, sizeof(junk));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 1 : 0;
	if (n == 0)
		return 0;
	if (fd == k->out && k->reply_len < KMS_REPLY_MAX) {
		k->reply_len += (size_t)n;
	} else if (fd == k->out) {
		k->reply_overflow = true;
		vxts_wipe(junk, sizeof(junk));
	} else {
		size_t c = KMS_ERR_KEEP - k->err_len < (size_t)n ? KMS_ERR_KEEP - k->err_len
								   : (size_t)n;

		memcpy(k->err_text + k->err_len, junk, c);
		k->err_len += c;
	}
	return 1;
}

/* Has the helper exited? Reaps it once (its pid is not ours to kill after). */
static bool kms_exited(struct kms_run *k)
{
	if (!k->exited && waitpid(k->pid, &k->status, WNOHANG) == k->pid)
		k->exited = true;
	return k->exited;
}

/*
 * Sends @req and collects stdout/stderr until both close, the helper exited
 * (plus KMS_EXIT_GRACE for output in flight), the deadline, or a stop signal.
 */
static void kms_pump(struct kms_run *k, const char *req, size_t req_len, double deadline)
{
	int pidfd = (int)syscall(SYS_pidfd_open, k->pid, 0);
	double end = deadline;
	size_t sent = 0;

	while (k->out >= 0 || k->err >= 0) {
		struct pollfd pf[4] = { { k->out, POLLIN, 0 }, { k->err, POLLIN, 0 },
					{ k->in, POLLOUT, 0 }, { pidfd, POLLIN, 0 } };
		double left;
		int ms;

		if (kms_stop_flag) {
			k->stopped = true;
			break;
		}
		if (!k->exited && kms_exited(k)) {
			end = kms_now() + KMS_EXIT_GRACE < deadline ? kms_now() + KMS_EXIT_GRACE
								    : deadline;
			if (pidfd >= 0)
				close(pidfd);
			pidfd = -1;
			pf[3].fd = -1;
		}
		left = end - kms_now();
		if (left <= 0) {
			k->timed_out = !k->exited;
			break;
		}
		ms = (int)(left * 1000) + 1;
		if (!k->exited && pidfd < 0 && ms > KMS_TICK_MS)
			ms = KMS_TICK_MS;
		if (poll(pf, 4, ms) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (k->in >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = send(k->in, req + sent, req_len - sent, MSG_NOSIGNAL);

			if (n > 0)
				sent += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == req_len) {
				close(k->in);	/* EOF for the helper */
				k->in = -1;
			}
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i ? &k->err : &k->out;

			if (*fd >= 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !kms_drain(k, *fd)) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	if (pidfd >= 0)
		close(pidfd);
}

/*
 * The helper closed its output (or exited): give it until the deadline to
 * exit. Timed out or stopped: its process group is killed and reaped.
 */
static void kms_reap(struct kms_run *k, double deadline)
{
	const struct timespec tick = { 0, 10 * 1000000L };

	while (!k->timed_out && !k->stopped) {
		if (kms_exited(k))
			return;
		if (kms_stop_flag)
			k->stopped = true;
		else if (kms_now() >= deadline)
			k->timed_out = true;
		else
			nanosleep(&tick, NULL);
	}
	if (k->exited)
		return;
	kill(-k->pid, SIGKILL);
	kill(k->pid, SIGKILL);
	while (waitpid(k->pid, &k->status, 0) < 0 && errno == EINTR)
		;
	k->exited = true;
}

static void kms_close_fds(struct kms_run *k)
{
	if (k->in >= 0)
		close(k->in);
	if (k->out >= 0)
		close(k->out);
	if (k->err >= 0)
		close(k->err);
}

/* The helper's own words, for a detail line: printable and bounded. */
static const char *kms_stderr(struct kms_run *k)
{
	while (k->err_len && (k->err_text[k->err_len - 1] == '\n' ||
			      k->err_text[k->err_len - 1] == ' '))
		k->err_len--;
	k->err_text[k->err_len] = '\0';
	kms_printable(k->err_text);
	return k->err_len ? k->err_text : "(no message on stderr)";
}

static int kms_verdict(struct kms_run *k, const char *op, unsigned int ms)
{
	if (k->stopped)
		return vxts_err(-EINTR, "interrupted: KMS helper %s was stopped during %s; "
				"nothing was written", k->cmd, op);
	if (k->timed_out)
		return vxts_err(-ETIMEDOUT, "KMS helper %s did not answer the %s request within "
				"%u.%03u s and was killed: check the helper and its vault, or "
				"raise --kms-timeout", k->cmd, op, ms / 1000, ms % 1000);
	if (WIFSIGNALED(k->status))
		return vxts_err(-ECOMM, "KMS helper %s died of signal %d during %s: %s",
				k->cmd, WTERMSIG(k->status), op, kms_stderr(k));
	if (WEXITSTATUS(k->status) == 127 || WEXITSTATUS(k->status) == 126)
		return vxts_err(-ECOMM, "KMS helper %s could not be run: %s", k->cmd,
				kms_stderr(k));
	if (WEXITSTATUS(k->status))
		return vxts_err(-ECOMM, "KMS helper %s exited with status %d during %s: %s",
				k->cmd, WEXITSTATUS(k->status), op, kms_stderr(k));
	if (k->reply_overflow)
		return vxts_err(-EPROTO, "KMS helper %s wrote more than %d bytes for %s: not "
				"a protocol reply", k->cmd, KMS_REPLY_MAX, op);
	return 0;
}

static int kms_run(struct kms_run *k, const char *req, size_t req_len, const char *op,
		   unsigned int ms)
{
	double deadline = kms_now() + ms / 1000.0;
	int r;

	if (!k->cmd || k->cmd[0] != '/')
		return vxts_err(-ECOMM, "KMS helper '%s': give an absolute path (no shell, no "
				"PATH search)", k->cmd ? k->cmd : "");
	if (kms_stop_flag)
		return vxts_err(-EINTR, "interrupted: KMS helper %s not started", k->cmd);
	kms_signals(true);
	r = kms_spawn(k);
	if (r) {
		kms_signals(false);
		return vxts_err(-ECOMM, "cannot start KMS helper %s (%d)", k->cmd, r);
	}
	kms_pump(k, req, req_len, deadline);
	kms_reap(k, deadline);
	kms_signals(false);
	kms_close_fds(k);
	return kms_verdict(k, op, ms);
}

/* ---- the request ------------------------------------------------------------- */

static void kms_json_put(char *out, size_t *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			out[(*o)++] = '\\';
		out[(*o)++] = *s;
	}
}

/* {"op":..,"key_id":..,"alg":..,"data":..}\n into @req (secure, KMS_REQ_MAX). */
static int kms_request(char *req, size_t *len, const char *op, const char *key_id,
		       const char *alg, const uint8_t *data, size_t data_len)
{
	size_t o = 0;

	/* key ids are <= 160 printable bytes (each escapes to at most 2) */
	if (strlen(key_id) > 512 || strlen(alg) > 32 || data_len > 3000)
		return -EINVAL;
	o += (size_t)sprintf(req, "{\"op\":\"%s\",\"key_id\":\"", op);
	kms_json_put(req, &o, key_id);
	o += (size_t)sprintf(req + o, "\",\"alg\":\"");
	kms_json_put(req, &o, alg);
	o += (size_t)sprintf(req + o, "\",\"data\":\"");
	o += vxts_b64_encode(req + o, data, data_len);
	o += (size_t)sprintf(req + o, "\"}\n");
	*len = o;
	return 0;
}

static int kms_call(const struct vxts_kek *kek, const char *op, const char *key_id,
		    const char *alg, const uint8_t *in, size_t in_len, uint8_t *out,
		    size_t cap, size_t *out_len)
{
	unsigned int ms = kek->timeout_ms ? kek->timeout_ms : VXTS_KMS_TIMEOUT_MS;
	struct kms_run k = { .cmd = kek->command, .in = -1, .out = -1, .err = -1 };
	struct kms_reply rp = { 0 };
	char *req = vxts_secure_alloc(KMS_REQ_MAX);
	char *scratch = vxts_secure_alloc(KMS_REPLY_MAX + 1);
	size_t req_len = 0;
	int r = -ENOMEM;

	k.reply = vxts_secure_alloc(KMS_REPLY_MAX);
	rp.data = vxts_secure_alloc(KMS_REPLY_MAX + 1);
	if (req && scratch && k.reply && rp.data)
		r = kms_request(req, &req_len, op, key_id, alg, in, in_len);
	if (!r)
		r = kms_run(&k, req, req_len, op, ms);
	if (!r && kms_parse((const char *)k.reply, k.reply_len, &rp, scratch))
		r = vxts_err(-EPROTO, "KMS helper %s answered %s with something that is not "
			     "{\"data\":\"<base64>\"} or {\"error\":\"...\"} (%zu bytes)",
			     k.cmd, op, k.reply_len);
	if (!r && rp.has_error)
		r = vxts_err(-ECOMM, "KMS helper %s refused to %s with key %s: %s", k.cmd, op,
			     key_id, rp.error);
	if (!r) {
		r = vxts_b64_decode(out, cap, out_len, rp.data, rp.data_len);
		if (r)
			r = vxts_err(r == -EMSGSIZE ? -EMSGSIZE : -EPROTO, "KMS helper %s: the "
				     "%s reply's data is not valid base64 of at most %zu bytes",
				     k.cmd, op, cap);
	}
	vxts_secure_free(req, KMS_REQ_MAX);
	vxts_secure_free(scratch, KMS_REPLY_MAX + 1);
	vxts_secure_free(k.reply, KMS_REPLY_MAX);
	vxts_secure_free(rp.data, KMS_REPLY_MAX + 1);
	return r;
}

int vxts_kms_wrap(const struct vxts_kek *kek, const char *key_id, const char *alg,
		  const uint8_t *key, size_t key_len, uint8_t *blob, size_t cap,
		  size_t *blob_len)
{
	int r = kms_call(kek, "wrap", key_id, alg, key, key_len, blob, cap, blob_len);

	if (!r && *blob_len <= key_len)
		r = vxts_err(-EPROTO, "KMS helper %s returned %zu bytes for a %zu-byte key: "
			     "that cannot be a wrapped key", kek->command, *blob_len, key_len);
	return r;
}

int vxts_kms_unwrap(const struct vxts_kek *kek, const char *key_id, const char *alg,
		    const uint8_t *blob, size_t blob_len, uint8_t *key, size_t cap,
		    size_t *key_len)
{
	return kms_call(kek, "unwrap", key_id, alg, blob, blob_len, key, cap, key_len);
}
