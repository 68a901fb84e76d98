#include "common/hash.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

void hash_md5_hex(const void *data, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL)) {
		fprintf(stderr, "offlinefs: MD5 unavailable in libcrypto\n");
		abort();
	}
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[2 * mdlen] = '\0';
}
