/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kms: the external key-management helper protocol (docs/KEYS.md).
 *
 * vxts never links a cloud SDK. A helper program (--kms-command) is run
 * once per operation, with no arguments and no shell; it reads one JSON
 * request on stdin and writes one JSON reply on stdout:
 *
 *   {"op":"wrap"|"unwrap","key_id":"...","alg":"RSA-OAEP-256","data":"<base64>"}
 *   -> {"data":"<base64>"}   or   {"error":"why"}
 *
 * The DEK is in the clear only in a wrap request's data (and an unwrap
 * reply's). The helper's stderr is quoted (truncated) in error details.
 */
#ifndef VXTS_KMS_H
#define VXTS_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "keyslot.h"

#define VXTS_KMS_TIMEOUT_MS 30000

/*
 * Returns 0, -ETIMEDOUT (helper killed after kek->timeout_ms), -EPROTO (the
 * reply is not the protocol's JSON or its base64 is bad), -ECOMM (helper
 * could not run, exited non-zero, or replied {"error": ...}), -EMSGSIZE
 * (reply larger than @cap), -ENOMEM. The detail names the helper and why.
 */
int vxts_kms_wrap(const struct vxts_kek *kek, const char *key_id, const char *alg,
		  const uint8_t *key, size_t key_len, uint8_t *blob, size_t cap,
		  size_t *blob_len);
int vxts_kms_unwrap(const struct vxts_kek *kek, const char *key_id, const char *alg,
		    const uint8_t *blob, size_t blob_len, uint8_t *key, size_t cap,
		    size_t *key_len);

/*
 * Stop the helper call in progress (its process group is killed, the call
 * returns -EINTR) and start no other; async-signal-safe. SIGINT, SIGTERM
 * and SIGHUP do this by themselves while a helper runs (chaining to the
 * handler installed before). vxts_kms_clear_stop() re-arms.
 */
void vxts_kms_request_stop(void);
void vxts_kms_clear_stop(void);

/*
 * The reply parser alone (tests, fuzzer): one flat JSON object with a string
 * "data" or "error" member (exactly one of them). @data and @scratch hold
 * @len + 1 bytes. 0 (*is_error says which), or -EPROTO.
 */
int vxts_kms_parse_reply(const char *buf, size_t len, char *data, size_t *data_len,
			 int *is_error, char err[160], char *scratch);

/* Base64 (RFC 4648, padded): encode returns the length written (NUL added). */
size_t vxts_b64_encode(char *out, const uint8_t *in, size_t len);
/* Strict decode: 0 or -EINVAL (bad character/padding), -EMSGSIZE. */
int vxts_b64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *in, size_t len);

#endif
