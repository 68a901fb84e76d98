/* hash.h — message digests for names and fingerprints.
 *
 * Owns: the use of libcrypto's EVP digests outside TLS. Used for the FMD5
 * part of Maildir filenames (md5 of the local folder name) and for
 * certificate fingerprints. Results are lowercase hex, NUL-terminated.
 */
#ifndef OFFLINEFS_HASH_H
#define OFFLINEFS_HASH_H

#include <stddef.h>

#define HASH_MD5_HEX_LEN 32
/* out must hold HASH_MD5_HEX_LEN + 1 bytes. */
void hash_md5_hex(const void *data, size_t len, char *out);

#endif
